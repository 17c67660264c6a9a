"""Cost of environment snapshots and of the git hooks.

    python benchmarks/environment.py [--repeat 5]

Prints a table of medians: the first capture in a fresh process, later
captures in the same process (what every run after the first pays), and
`git commit` in a small repository without and with `gittrack hooks install`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def first_capture_ms() -> float:
    code = (
        "import time; t = time.perf_counter(); from gittrack import environment as e; "
        "e.capture_yaml('.'); print((time.perf_counter() - t) * 1000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def in_process_us(fn, n: int = 200) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def commit_ms(repo: Path, i: int) -> float:
    (repo / "f.txt").write_text(f"{i + 1}\n")
    t = time.perf_counter()
    subprocess.run(["git", "commit", "-qam", f"c{i}"], cwd=repo, env=ENV, check=True,
                   capture_output=True)  # fmt: skip
    return (time.perf_counter() - t) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from gittrack.env import environment

    rows = []
    firsts = [first_capture_ms() for _ in range(args.repeat)]
    rows.append(
        ("first capture_yaml() in a new process (incl. import)", statistics.median(firsts), "ms")
    )
    reps = [in_process_us(lambda: environment.capture(str(ROOT))) for _ in range(args.repeat)]
    rows.append(("capture(workdir), later calls", statistics.median(reps), "µs"))
    reps = [in_process_us(lambda: environment.capture_yaml(str(ROOT))) for _ in range(args.repeat)]
    rows.append(("capture_yaml(workdir), later calls", statistics.median(reps), "µs"))
    reps = [
        in_process_us(lambda: environment.to_yaml(environment.capture(str(ROOT))), 50)
        for _ in range(args.repeat)
    ]
    rows.append(("to_yaml(capture(workdir)), later calls", statistics.median(reps), "µs"))
    snap = environment.capture(str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        (repo / "f.txt").write_text("0\n")
        subprocess.run(["git", "add", "f.txt"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, env=ENV, check=True)
        plain = [commit_ms(repo, i) for i in range(args.repeat)]
        subprocess.run([sys.executable, "-m", "gittrack", "hooks", "install"], cwd=repo, env=ENV,
                       check=True, capture_output=True)  # fmt: skip
        commit_ms(repo, 100)  # the first hooked commit writes the lock file
        hooked = [commit_ms(repo, 200 + i) for i in range(args.repeat)]
    rows.append(("git commit, no hooks", statistics.median(plain), "ms"))
    rows.append(
        ("git commit, gittrack hooks (environment unchanged)", statistics.median(hooked), "ms")
    )

    print(f"distributions captured: {len(snap['distributions'])}; "
          f"Python {sys.version.split()[0]}; {os.cpu_count()} cores; medians of {args.repeat}")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'what'.ljust(width)}  {'median':>10}")
    for what, value, unit in rows:
        print(f"{what.ljust(width)}  {value:>7.1f} {unit}")


if __name__ == "__main__":
    main()
