"""Git over ``gittrack server``'s ``/git/``: ``git ls-remote``, a full fetch of the runs
and a push of one new run, against a server repository of ``--runs`` finished runs
(W2 shape, written with ``git fast-import``), beside plain ``file://`` as the floor.

``--other-checkout PATH`` times a second gittrack checkout's server on the same
repository too (e.g. the dulwich-based server of an older commit), as another column.

    python benchmarks/git_http.py [--runs 2000] [--reps 3] [--other-checkout /work/main]
    python benchmarks/git_http.py --quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common as c  # noqa: E402

from tests.remote_helpers import bulk_forge_runs, forge_run, make_bare, sh_git  # noqa: E402
from tests.server_helpers import ServerProcess  # noqa: E402


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return dt


def one_rep(work: Path, url: str, label: str) -> dict[str, float]:
    """ls-remote, fetch of every run into an empty repository, push of one new run."""
    out: dict[str, float] = {}
    out["ls-remote"] = timed(["git", "ls-remote", url], work)
    clone = work / f"clone-{label}-{time.time_ns()}"
    sh_git(work, "init", "-q", "-b", "main", str(clone))
    out["fetch all runs"] = timed(c.fetch_all_command(url), clone)
    run_id, _ = forge_run(clone, index=50_000 + len(list(work.iterdir())))
    out["push 1 new run"] = timed(
        ["git", "push", "-q", url, f"refs/gittrack/runs/{run_id}:refs/gittrack/runs/{run_id}"],
        clone,
    )
    shutil.rmtree(clone)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--other-checkout", default=None, help="a second checkout's server")
    ap.add_argument("--quick", action="store_true", help="50 runs, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.reps = 50, 1
    work = Path(tempfile.mkdtemp(prefix="gtbench-githttp-"))
    try:
        src = work / "src"
        src.mkdir()
        sh_git(src, "init", "-q", "-b", "main")
        (src / "train.py").write_text("print('train')\n")
        sh_git(src, "add", ".")
        sh_git(src, "commit", "-q", "-m", "code")
        bulk_forge_runs(src, args.runs, seed=7, steps=10)
        served = make_bare(work / "served.git")
        sh_git(src, "push", "-q", str(served), "main", "refs/gittrack/*:refs/gittrack/*")
        sh_git(served, "gc", "-q")
        columns: dict[str, list[dict[str, float]]] = {"file:// (floor)": []}
        servers = {"gittrack server (this checkout)": str(ROOT)}
        if args.other_checkout:
            servers[f"gittrack server ({args.other_checkout})"] = args.other_checkout
        for _ in range(args.reps):
            columns["file:// (floor)"].append(one_rep(work, str(served), "file"))
            for label, checkout in servers.items():
                with ServerProcess(served, env={"PYTHONPATH": checkout}) as server:
                    columns.setdefault(label, []).append(
                        one_rep(work, f"{server.url}/git/", label[:6])
                    )
        print(c.machine())
        ops = list(columns["file:// (floor)"][0])
        c.print_table(
            f"git over HTTP, {args.runs} runs on the server, medians of {args.reps} (s)",
            ["operation", *columns],
            [
                [op, *(statistics.median(r[op] for r in reps) for reps in columns.values())]
                for op in ops
            ],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")
    main()
