"""W4: sharing runs through remotes.

10,000 finished runs (W2 shape: 10 params, 5 metrics x 10 steps, 3 tags) are pushed
to an empty bare repository over file:// and over git:// (``git daemon`` on loopback),
pulled into a fresh clone, and then one new run is pushed onto the full remote (the
remote has 10,000, the clone 10,001). Each gittrack figure is the CLI as a user types
it (``python -m gittrack push``); the floor is plain ``git push``/``git fetch`` of the
same refs with a wildcard refspec. Medians of ``--reps`` repetitions.

The runs are written with ``git fast-import`` in exactly the layout the writer
produces (the benchmark measures transport, not logging)::

    python benchmarks/w4_remote.py [--runs 10000] [--reps 3] [--guard]

``--guard`` adds a push into a bare repository guarded by ``remotes/pre-receive``.
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

from _common import cpu_seconds  # noqa: E402

from tests.remote_helpers import (  # noqa: E402
    GitDaemon,
    bulk_forge_runs,
    forge_run,
    make_bare,
    sh_git,
)

REFSPEC = "refs/gittrack/*:refs/gittrack/*"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_TERMINAL_PROMPT": "0"}


CPU: dict[str, float] = {}  # the CPU seconds of the last timed() call, by its label


def timed(argv: list[str], cwd: Path) -> float:
    """Wall seconds of ``argv``; its CPU seconds (user+sys of it and the processes it
    waited for: over file:// the remote's receive-pack/upload-pack and hooks too) go to
    ``CPU["last"]``."""
    c0 = cpu_seconds(children_only=True)
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    CPU["last"] = cpu_seconds(children_only=True) - c0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return dt


def record(out: dict[str, float], key: str, argv: list[str], cwd: Path) -> None:
    """Time ``argv`` into ``out[key]`` (wall) and ``out[key + " CPU"]``."""
    out[key] = timed(argv, cwd)
    out[key + " CPU"] = CPU["last"]


def gittrack(*args: str) -> list[str]:
    return [sys.executable, "-m", "gittrack", *args]


def objects_bytes(bare: Path) -> int:
    return sum(p.stat().st_size for p in (bare / "objects").rglob("*") if p.is_file())


def make_source(work: Path, runs: int) -> Path:
    src = work / "src"
    src.mkdir()
    sh_git(src, "init", "-q", "-b", "main")
    for i in range(20):
        (src / f"module_{i}.py").write_text(f"VALUE = {i}\n" * 50)
    sh_git(src, "add", ".")
    sh_git(src, "commit", "-q", "-m", "code")
    t0 = time.perf_counter()
    bulk_forge_runs(src, runs, seed=4, steps=10)
    print(f"# wrote {runs} runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    sh_git(src, "pack-refs", "--all")
    sh_git(src, "gc", "-q")
    return src


def one_rep(work: Path, src: Path, url_of, label: str, guard: bool) -> dict[str, float]:
    """Push all to an empty remote, pull into a fresh clone, push 1 new run (+ floors)."""
    out: dict[str, float] = {}
    served = work / f"served-{label}"
    shutil.rmtree(served, ignore_errors=True)
    served.mkdir()
    for name in ("gt.git", "floor.git"):
        make_bare(served / name)
    sh_git(src, "push", "-q", url_of(served / "gt.git", "gt.git"), "main")
    sh_git(src, "push", "-q", url_of(served / "floor.git", "floor.git"), "main")

    record(out, "push all", gittrack("push", url_of(served / "gt.git", "gt.git")), src)
    floor_all = ["git", "push", "-q", url_of(served / "floor.git", "floor.git"), REFSPEC]
    record(out, "push all (git floor)", floor_all, src)
    out["bytes"] = objects_bytes(served / "gt.git")
    if guard:  # the same push into a repository guarded by remotes/pre-receive
        make_bare(served / "guarded.git")
        (served / "guarded.git" / "hooks" / "pre-receive").symlink_to(
            ROOT / "remotes" / "pre-receive"
        )
        sh_git(src, "push", "-q", url_of(served / "guarded.git", "guarded.git"), "main")
        record(
            out,
            "push all (guarded remote)",
            gittrack("push", url_of(served / "guarded.git", "guarded.git")),
            src,
        )
        # the guard's own cost: plain git into a guarded remote vs the unguarded floor
        make_bare(served / "guarded-git.git")
        (served / "guarded-git.git" / "hooks" / "pre-receive").symlink_to(
            ROOT / "remotes" / "pre-receive"
        )
        sh_git(src, "push", "-q", url_of(served / "guarded-git.git", "guarded-git.git"), "main")
        guarded_url = url_of(served / "guarded-git.git", "guarded-git.git")
        guarded_all = ["git", "push", "-q", guarded_url, REFSPEC]
        record(out, "push all, plain git, guarded remote", guarded_all, src)

    clone = work / f"clone-{label}"
    shutil.rmtree(clone, ignore_errors=True)
    sh_git(work, "clone", "-q", url_of(served / "gt.git", "gt.git"), str(clone))
    record(out, "pull into fresh clone", gittrack("pull"), clone)
    floor = work / f"floor-{label}"
    shutil.rmtree(floor, ignore_errors=True)
    sh_git(work, "clone", "-q", url_of(served / "floor.git", "floor.git"), str(floor))
    record(out, "pull (git floor)", ["git", "fetch", "-q", "origin", REFSPEC], floor)

    run_id, _ = forge_run(clone, index=10_001)
    record(out, "push 1 new run", gittrack("push"), clone)
    forge_run(floor, run_id=run_id, index=10_001)
    one = ["git", "push", "-q", "origin", f"refs/gittrack/runs/{run_id}"]
    record(out, "push 1 new run (git floor)", one, floor)
    record(out, "push, nothing new", gittrack("push"), clone)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--guard", action="store_true", help="also push into a guarded remote")
    ap.add_argument("--quick", action="store_true", help="smoke run: 50 runs, 1 repetition")
    ap.add_argument("--file-only", action="store_true", help="file:// only (no git daemon)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.reps, args.guard = 50, 1, True
    work = Path(tempfile.mkdtemp(prefix="gtbench-w4-"))
    try:
        src = make_source(work, args.runs)
        daemon_base = work
        daemon = GitDaemon(daemon_base)
        try:
            transports = {
                "file://": lambda path, name: f"file://{path}",
                "git://": lambda path, name: daemon.url(str(path.relative_to(daemon_base))),
            }
            if args.file_only:
                del transports["git://"]
            results: dict[str, dict[str, list[float]]] = {}
            for rep in range(args.reps):
                for label, url_of in transports.items():
                    got = one_rep(work, src, url_of, label.strip(":/"), args.guard)
                    for k, v in got.items():
                        results.setdefault(label, {}).setdefault(k, []).append(v)
                print(f"# rep {rep + 1}/{args.reps} done", file=sys.stderr)
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [k for k in next(iter(results.values())) if k != "bytes" and not k.endswith(" CPU")]
    print(f"W4: {args.runs} runs, medians of {args.reps} (seconds)")
    print("wall seconds; in (): CPU seconds (user+sys of the command and what it waited for)\n")
    print("| step | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for k in rows:
        cells = " | ".join(
            f"{statistics.median(results[t][k]):.2f} ({statistics.median(results[t][k + ' CPU']):.2f})"
            for t in results
        )
        print(f"| {k} | {cells} |")
    sizes = " | ".join(f"{statistics.median(results[t]['bytes']) / 2**20:.1f}" for t in results)
    print(f"| remote size after push (MiB) | {sizes} |")
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
