"""Hooks: what ``gittrack hooks install`` adds to every ``git commit``.

N commits (each changes one file) in a fresh repository, three ways, in one run:

- ``plain git``: no hooks (the floor);
- ``hooks, no live run``: pre-commit + post-commit + pre-push installed, no run open;
- ``hooks, live run``: the same, with ``git commit`` run as a child of a process
  that holds a live run (the post-commit hook notes the commit in it).

Reports per-commit wall time, per-commit CPU time of all child processes
(``RUSAGE_CHILDREN``: git, the hook shells and their Pythons) and the cost the
hooks add over plain git. Medians of ``--reps`` repetitions.

    python benchmarks/hooks_bench.py [--commits 20] [--reps 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    GIT_ENV,
    cpu_seconds,
    fmt,
    machine,
    make_git_repo,
    median,
    print_table,
    setup_path,
    temp_dir,
)

setup_path()


def _commit_loop(repo: Path, n: int, env: dict[str, str], tag: str = "c") -> tuple[float, float]:
    """Wall and child-CPU seconds of ``n`` commits, each changing ``data.txt``."""
    full_env = {**os.environ, **GIT_ENV, **env}
    cpu0, t0 = cpu_seconds(children_only=True), time.perf_counter()
    for i in range(n):
        (repo / "data.txt").write_text(f"{tag} {i}\n")
        subprocess.run(["git", "add", "data.txt"], cwd=repo, env=full_env, check=True)
        proc = subprocess.run(
            ["git", "commit", "-q", "-m", f"c{i}"], cwd=repo, env=full_env, capture_output=True
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode())
    return time.perf_counter() - t0, cpu_seconds(children_only=True) - cpu0


def _setup(root: Path, hooks: bool) -> Path:
    repo = make_git_repo(root / "repo")
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(
        ["git", "commit", "-q", "-m", "pyproject"], cwd=repo, env={**os.environ, **GIT_ENV}
    )
    if hooks:
        subprocess.run(
            [sys.executable, "-m", "gittrack", "hooks", "install"],
            cwd=repo,
            check=True,
            capture_output=True,
        )
        # the first commit writes the lock file: not what every later commit pays
        _commit_loop(repo, 1, {}, tag="first")
    return repo


_LIVE = r"""
import json, os, subprocess, sys, time, resource
sys.path.insert(0, os.environ["GT_ROOT"])
import gittrack
repo, n = sys.argv[1], int(sys.argv[2])
os.chdir(repo)
env = {k: v for k, v in os.environ.items() if k not in ("GITTRACK_RUN_ID", "MLFLOW_RUN_ID")}
run = gittrack.start_run()
def cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime
c0, t0 = cpu(), time.perf_counter()
for i in range(n):
    with open("data.txt", "w") as fh:
        fh.write(f"live {i}\n")
    subprocess.run(["git", "add", "data.txt"], check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", f"l{i}"], check=True, env=env)
wall, c = time.perf_counter() - t0, cpu() - c0
gittrack.end_run()
noted = gittrack.Client().get_run(run.info.run_id).data.tags.get("gittrack.commits", "")
print(json.dumps({"wall": wall, "cpu": c, "noted": len(noted.split())}))
"""


def _live_loop(repo: Path, n: int) -> tuple[float, float, int]:
    env = {**os.environ, **GIT_ENV, "GT_ROOT": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", _LIVE, str(repo), str(n)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["wall"], out["cpu"], out["noted"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 commits, 1 repetition")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.commits, opts.reps = 3, 1
    n = opts.commits
    print(machine(), flush=True)
    res: dict[str, list[tuple[float, float]]] = {"plain": [], "hooks": [], "live": []}
    noted = []
    for _ in range(opts.reps):
        with temp_dir("hooks-plain") as d:
            res["plain"].append(_commit_loop(_setup(d, hooks=False), n, {}))
        with temp_dir("hooks-idle") as d:
            res["hooks"].append(_commit_loop(_setup(d, hooks=True), n, {}))
        with temp_dir("hooks-live") as d:
            wall, cpu, k = _live_loop(_setup(d, hooks=True), n)
            res["live"].append((wall, cpu))
            noted.append(k)
    # the floor of any hook written in Python: one interpreter start (site hooks included)
    py: list[tuple[float, float]] = []
    for _ in range(opts.reps):
        c0, t0 = cpu_seconds(children_only=True), time.perf_counter()
        for _ in range(n):
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        py.append((time.perf_counter() - t0, cpu_seconds(children_only=True) - c0))
    base_w = median([w for w, _ in res["plain"]]) / n
    base_c = median([c for _, c in res["plain"]]) / n
    rows = []
    for key, label in (
        ("plain", "plain git (no hooks)"),
        ("hooks", "hooks, no live run"),
        ("live", "hooks, live run"),
    ):
        w = median([w for w, _ in res[key]]) / n
        c = median([c for _, c in res[key]]) / n
        rows.append([label, w, c, w - base_w, c - base_c])
    py_w, py_c = median([w for w, _ in py]) / n, median([c for _, c in py]) / n
    rows.append(["`python -c pass` (one interpreter start)", py_w, py_c, "-", "-"])
    print_table(
        f"Hooks: {n} commits per repetition, medians of {opts.reps} (per commit)",
        ["setup", "wall s/commit", "CPU s/commit", "added wall s", "added CPU s"],
        rows,
    )
    print(f"commits noted in the live run: {noted} (expected {n} each)")
    print(machine(), flush=True)
    _ = fmt
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
