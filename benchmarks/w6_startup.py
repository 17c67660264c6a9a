"""W6 — start-up: ``python -c "import gittrack"`` and ``gittrack log`` on a
repository with 10,000 runs.

Import: wall time of the whole subprocess (interpreter start included; the bare
``python -c pass`` is shown beside it), median of 5, and the top offenders of
``python -X importtime -c "import gittrack"``.

CPU s is the subprocess's own CPU time (user + system), which other work on
the machine inflates far less than wall time.

``gittrack log``: the runs are generated through the real Client/writer (W2's
shape: 10 params, 5 metrics x 10 steps, 3 tags, ended FINISHED), into a fresh
git repository with one commit (or reused with ``--repo DIR``); then
``python -m gittrack log`` runs as a subprocess with its output to a pipe,
median of 5 (also ``log -n 10``). ``--profile`` prints where the time of an
in-process ``gittrack log`` goes (cProfile, by cumulative time).

    python benchmarks/w6_startup.py            # 10,000 runs
    python benchmarks/w6_startup.py --quick    # smoke run: 50 runs, 2 repetitions
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

c.setup_path()


# Subprocesses run as after a normal install: bytecode is cached (in a private
# prefix, so the checkout stays clean), whatever PYTHONDONTWRITEBYTECODE says here.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(
    cmd: list[str], cwd: Path | None = None
) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the child, result) of a subprocess."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=_ENV, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return dt, _children_cpu() - c0, out


def wall(cmd: list[str], cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    dt, _, out = run(cmd, cwd)
    return dt, out


def timings(cmd: list[str], n: int, cwd: Path | None = None) -> tuple[float, float, Any]:
    """Medians of (wall s, child CPU s) over ``n`` runs, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(n):
        dt, cpu, out = run(cmd, cwd)
        walls.append(dt)
        cpus.append(cpu)
    return c.median(walls), c.median(cpus), out


def _importtime(code: str) -> list[tuple[int, int, str]]:
    _, out = wall([sys.executable, "-X", "importtime", "-c", code])
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        rows.append((int(self_us), int(cum_us), name.rstrip()))
    return rows


def import_offenders(top: int) -> tuple[list[tuple[int, int, str]], int]:
    """The slowest imports that ``import gittrack`` adds to a bare interpreter start:
    ((self us, cumulative us, module), ...) and their total self time in us."""
    bare = {name.strip() for _, _, name in _importtime("pass")}
    rows = [r for r in _importtime("import gittrack") if r[2].strip() not in bare]
    rows.sort(reverse=True)
    return rows[:top], sum(r[0] for r in rows)


def generate_runs(repo: Path, n: int) -> float:
    """Log ``n`` finished runs through the real Client/writer; returns seconds."""
    from gittrack.api.client import Client

    client = Client(repo)
    values = c.metric_values(n * 50)
    keys = [f"m{k}" for k in range(5)]
    vi = 0
    t0 = time.perf_counter()
    with c.chdir(repo):
        for i in range(n):
            w = client._create_writer("0", tags=c.tags_for(i), run_name=f"run-{i}")
            w.log_params(c.params_for(i))
            for step in range(10):
                for key in keys:
                    w.log_metric(key, values[vi], step)
                    vi += 1
            w.end("FINISHED")
            if (i + 1) % 1000 == 0:
                print(f"  generated {i + 1:,} runs ({time.perf_counter() - t0:.1f} s)", flush=True)
    return time.perf_counter() - t0


def profile_log(repo: Path, top: int = 25) -> None:
    """Where the time of one in-process ``gittrack log`` goes."""
    import contextlib
    import cProfile
    import io
    import pstats

    from gittrack.cli import main as cli_main

    prof = cProfile.Profile()
    sink = io.StringIO()
    with c.chdir(repo), contextlib.redirect_stdout(sink):
        prof.enable()
        try:
            cli_main(["log"])
        except SystemExit:
            pass
        prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(top)
    print("\nprofile of an in-process `gittrack log` (cumulative):")
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 50 runs, 2 repetitions")
    p.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    p.add_argument(
        "--log-repeat",
        type=int,
        default=None,
        help="repetitions of `gittrack log` (default: --repeat)",
    )
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="reuse (or create and keep) the generated repository here",
    )
    p.add_argument("--profile", action="store_true", help="profile an in-process `gittrack log`")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.repeat, args.log_repeat = 50, 2, 2
    print(
        f"W6 start-up: import gittrack; gittrack log on {args.runs:,} runs; "
        f"{args.repeat} repetition(s), `gittrack log` {args.log_repeat or args.repeat}"
    )
    print(f"machine: {c.machine()}")

    py = sys.executable
    cache = Path(c.tempfile.mkdtemp(prefix="gtbench-w6-pycache-"))
    _ENV["PYTHONPYCACHEPREFIX"] = str(cache)
    wall([py, "-c", "import gittrack.cli.runs, gittrack.api.client"])  # warm the bytecode cache
    t_pass, cpu_pass, _ = timings([py, "-c", "pass"], args.repeat)
    t_import, cpu_import, _ = timings([py, "-c", "import gittrack"], args.repeat)
    offenders, own_us = import_offenders(10)
    c.print_table(
        '`python -X importtime -c "import gittrack"`: slowest modules it adds to a bare '
        f"`python -c pass` (self time; all added modules together: {own_us / 1000:.1f} ms)",
        ["module", "self us", "cumulative us"],
        [[name.strip(), s, cum] for s, cum, name in offenders],
    )

    with c.temp_dir("w6") as d:
        repo = args.repo or d / "project"
        if args.repo is not None and (repo / ".git").exists():
            print(f"reusing {repo}")
            t_gen = float("nan")
        else:
            c.make_git_repo(repo)
            t_gen = generate_runs(repo, args.runs)
        n_refs = len(c.git(repo, "for-each-ref", "refs/gittrack/runs/").splitlines())
        cmd = [py, "-m", "gittrack", "log"]
        log_reps = args.log_repeat or args.repeat
        t_log, cpu_log, out = timings(cmd, log_reps, cwd=repo)
        lines = len(out.stdout.splitlines()) if out else 0
        t_log_n, cpu_log_n, _ = timings([*cmd, "-n", "10"], log_reps, cwd=repo)
        if args.profile:
            profile_log(repo)

    c.print_table(
        f"W6 medians of {args.repeat} (gittrack log: {args.log_repeat or args.repeat})",
        ["what", "seconds", "CPU s", "target", "note"],
        [
            ["python -c pass", t_pass, cpu_pass, "-", "interpreter start alone"],
            [
                'python -c "import gittrack"',
                t_import,
                cpu_import,
                "<= 0.1",
                f"import alone ~ {max(t_import - t_pass, 0):.3f} s",
            ],
            [
                f"gittrack log ({n_refs:,} runs)",
                t_log,
                cpu_log,
                "<= 0.5",
                f"{lines:,} lines of output",
            ],
            [f"gittrack log -n 10 ({n_refs:,} runs)", t_log_n, cpu_log_n, "-", ""],
        ],
    )
    c.shutil.rmtree(cache, ignore_errors=True)
    if t_gen == t_gen:
        print(
            f"\ngenerating {args.runs:,} runs through Client/writer took {t_gen:.1f} s "
            f"({args.runs / t_gen:.0f} runs/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
