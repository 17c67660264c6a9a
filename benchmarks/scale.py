"""Scale: one repository of ``--runs`` finished runs written through the real writer,
and every issue-16 figure measured on it, beside MLflow's SQLite store or plain git.

    python benchmarks/scale.py [--runs 10000] [--reps 3] [--cache /tmp/gittrack-bench-scale]
    python benchmarks/scale.py --quick          # 300 runs, 1 repetition (smoke)
    python benchmarks/scale.py --only build,size,search,log,http,push,checkpoint,w1

Data: W2's shape (10 params, 5 metrics x 10 steps, 3 tags, FINISHED), logged with the
fluent API (``gittrack.start_run`` / ``log_params`` / ``set_tags`` / ``log_metric`` /
``end_run``) by ``--procs`` processes at once into one repository (the pack writer, its
background consolidation; no manual ``git gc`` ever). The repository is kept under
``--cache`` and reused. MLflow's SQLite store gets the same runs (the same seeded
values) through its ORM models in bulk (``benchmarks/w2_query.py``), because logging
10,000 runs through its API takes most of an hour here.

Rows (wall seconds and CPU seconds of this process and its children; medians of ``--reps``):

- build: runs/s through the writer;
- size: ``.git`` on disk vs MLflow's SQLite file, ``git count-objects -v``;
- search: cold index build (runs/s), warm ``search_runs`` -> DataFrame, filtered; MLflow's
  ``search_runs`` beside it;
- log: ``gittrack log -n 50`` in a fresh process;
- http: ``git ls-remote`` and a full fetch of the runs through ``gittrack server``'s
  ``/git/`` vs ``file://`` of the same bare repository;
- push: ``gittrack push`` of one new run onto the full remote vs plain ``git push`` of that
  ref; a push of every run into a guarded remote (``remotes/pre-receive``) vs unguarded git;
- checkpoint: cost per point of the final checkpoint of 1,000,000 points
  (``benchmarks/faults.py``'s measurement);
- w1: W1, 100 runs through the fluent API (``benchmarks/w1_logging.py``'s loop).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _common as c  # noqa: E402
import _w2data as data  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_TERMINAL_PROMPT": "0", **c.GIT_ENV}
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v0'"
SECTIONS = ("build", "size", "search", "log", "http", "push", "checkpoint", "w1")


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``reps`` calls of ``fn``."""
    walls, cpus = [], []
    for _ in range(reps):
        c0, t0 = cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
    return statistics.median(walls), statistics.median(cpus)


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(argv, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def gt(*args: str) -> list[str]:
    return [sys.executable, "-m", "gittrack", *args]


# -- the repository -------------------------------------------------------------------------


def build(cache: Path, n: int, procs: int) -> tuple[Path, dict[str, float]]:
    """``n`` runs through the fluent API, ``procs`` processes at once; reused when complete.

    The ranges are w2_query's (``n`` split in 3, each seeded by its start), so the metric
    values equal those of w2_query's MLflow store."""
    path = cache / f"gittrack-{n}"
    done = path / ".bench-complete"
    if done.exists():
        info = dict(line.split("=", 1) for line in done.read_text().split())
        return path, {k: float(v) for k, v in info.items()}
    shutil.rmtree(path, ignore_errors=True)
    data.init_repo(path)
    per = -(-n // 3)
    chunks = [(b * per, min(per, n - b * per)) for b in range(3)]
    c0, t0 = cpu(), time.perf_counter()
    pending = list(chunks)
    running: list[subprocess.Popen[str]] = []
    while pending or running:
        while pending and len(running) < procs:
            start, count = pending.pop(0)
            code = (
                f"import sys; sys.path.insert(0, {str(HERE)!r}); import _w2data as d; "
                f"from pathlib import Path; d.log_gittrack_runs(Path({str(path)!r}), "
                f"{start}, {count})"
            )
            running.append(subprocess.Popen([sys.executable, "-c", code], cwd=path, env=ENV))
        for p in list(running):
            if p.poll() is not None:
                if p.returncode != 0:
                    raise SystemExit(f"a logging process failed (exit {p.returncode})")
                running.remove(p)
        time.sleep(0.2)
    wall, used = time.perf_counter() - t0, cpu() - c0
    info = {"wall": wall, "cpu": used, "load": os.getloadavg()[0]}
    done.write_text("".join(f"{k}={v}\n" for k, v in info.items()))
    return path, info


def mlflow_db(cache: Path, n: int) -> Path:
    import w2_query

    uri = w2_query.mlflow_sqlite(cache, n)
    return Path(uri[len("sqlite:///") :])


def count_objects(path: Path) -> dict[str, int]:
    out = run(["git", "count-objects", "-v"], path)
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}


# -- sections -------------------------------------------------------------------------------


def section_size(path: Path, db: Path) -> list[list[object]]:
    git_dir = c.dir_size(path / ".git")
    state = c.dir_size(path / ".git" / "gittrack")
    counts = count_objects(path)
    sqlite = db.stat().st_size
    objects = git_dir - state
    return [
        ["`.git` (objects + refs; `.git/gittrack` state excluded)", f"{objects / 2**20:.1f} MiB",
         f"{sqlite / 2**20:.1f} MiB", f"{objects / sqlite:.2f}x", "<= 3x"],
        ["`.git/gittrack` (index, locks, caches; local only)", f"{state / 2**20:.1f} MiB",
         "-", "-", "-"],
        ["loose objects / packs after writing", f"{counts['count']} / {counts['packs']}",
         "-", "-", "-"],
    ]  # fmt: skip


def section_search(path: Path, db: Path, n: int, reps: int) -> list[list[object]]:
    import gittrack
    from gittrack.core.repo import Repo

    os.chdir(path)
    repo = Repo(path)
    cold_w, cold_c = measure(lambda: c.rebuild_index(repo, n), reps)
    df = gittrack.search_runs()
    assert len(df) == n, len(df)
    warm = measure(gittrack.search_runs, reps)
    filt = measure(lambda: gittrack.search_runs(filter_string=FILTER), reps)
    rows: list[list[object]] = [
        ["W2 cold index build", f"{cold_w:.2f} s ({cold_c:.2f} CPU) = {n / cold_w:,.0f} runs/s "
         f"({n / cold_c:,.0f}/CPU-s)", "-", "-", ">= 5,000 runs/s"],
    ]  # fmt: skip
    ml_full = ml_filt = None
    if db.exists():
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{db}")
        mlflow.search_runs(experiment_ids=["0"], max_results=200_000)
        ml_reps = max(1, min(reps, 2))
        ml_full = measure(
            lambda: mlflow.search_runs(experiment_ids=["0"], max_results=200_000), ml_reps
        )
        ml_filt = measure(
            lambda: mlflow.search_runs(
                experiment_ids=["0"], filter_string=FILTER, max_results=200_000
            ),
            ml_reps,
        )
    for label, g, m, target in (
        ("W2 warm `search_runs` -> DataFrame", warm, ml_full, "<= 0.15 s at 10k"),
        (f"W2 filtered `{FILTER}`", filt, ml_filt, "-"),
    ):
        rows.append([
            label, f"{g[0]:.3f} s ({g[1]:.3f} CPU)",
            f"{m[0]:.2f} s ({m[1]:.2f} CPU)" if m else "-",
            f"{m[0] / g[0]:.0f}x wall, {m[1] / g[1]:.0f}x CPU" if m else "-", target,
        ])  # fmt: skip
    return rows


def section_log(path: Path, reps: int) -> list[list[object]]:
    w = measure(lambda: run(gt("log", "-n", "50"), path), reps)
    return [["W6 `gittrack log -n 50`", f"{w[0]:.3f} s ({w[1]:.3f} CPU)", "-", "-", "<= 0.5 s"]]


def _bare_copy(path: Path, work: Path) -> Path:
    """A bare repository holding ``path``'s main and runs, as a server would (after the
    push; ``git gc`` as a server's own maintenance would leave it)."""
    from tests.remote_helpers import make_bare

    bare = make_bare(work / "served.git")
    run(["git", "push", "-q", str(bare), "main", "refs/gittrack/*:refs/gittrack/*"], path)
    run(["git", "gc", "-q"], bare)
    return bare


def _fetch_all(url: str, work: Path, label: str) -> Callable[[], None]:
    def go() -> None:
        clone = work / f"fetch-{label}-{time.time_ns()}"
        run(["git", "init", "-q", "-b", "main", str(clone)], work)
        run(c.fetch_all_command(url), clone)
        shutil.rmtree(clone)

    return go


def section_http(path: Path, work: Path, reps: int) -> list[list[object]]:
    from tests.server_helpers import ServerProcess

    bare = _bare_copy(path, work)
    file_ls = measure(lambda: run(["git", "ls-remote", str(bare)], work), reps)
    file_fetch = measure(_fetch_all(f"file://{bare}", work, "file"), reps)
    with ServerProcess(bare, env={"PYTHONPATH": str(ROOT)}) as server:
        url = f"{server.url}/git/"
        run(["git", "ls-remote", url], work)  # the server's first answer (index, imports)
        http_ls = measure(lambda: run(["git", "ls-remote", url], work), reps)
        one = subprocess.run(
            ["git", "ls-remote", url, "refs/gittrack/runs/0*"], cwd=work, env=ENV,
            capture_output=True, text=True,
        )  # fmt: skip
        http_fetch = measure(_fetch_all(url, work, "http"), reps)
    _ = one
    return [
        ["HTTP `git ls-remote` through `gittrack server`", f"{http_ls[0]:.3f} s",
         f"{file_ls[0]:.3f} s (file://)", f"{http_ls[0] / file_ls[0]:.1f}x", "<= 1 s"],
        ["HTTP fetch of every run through `gittrack server`", f"{http_fetch[0]:.2f} s",
         f"{file_fetch[0]:.2f} s (file://)", f"{http_fetch[0] / file_fetch[0]:.2f}x",
         "<= 1.5x file://"],
    ]  # fmt: skip


def _new_run(clone: Path, index: int) -> str:
    """One more finished run in ``clone``, through the writer; its id."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import _w2data as d; "
        f"from pathlib import Path; d.log_gittrack_runs(Path({str(clone)!r}), {index}, 1); "
        "import gittrack; print(gittrack.last_active_run().info.run_id)"
    )
    return run([sys.executable, "-c", code], clone).strip().splitlines()[-1]


def section_push(path: Path, work: Path, reps: int) -> list[list[object]]:
    from tests.remote_helpers import make_bare

    inc_gt: list[float] = []
    inc_git: list[float] = []
    noop_gt: list[float] = []
    guard_gt: list[float] = []
    all_git: list[float] = []
    for rep in range(reps):
        d = work / f"push-{rep}"
        d.mkdir()
        remote = make_bare(d / "remote.git")
        floor = make_bare(d / "floor.git")
        run(["git", "push", "-q", str(remote), "main", "refs/gittrack/*:refs/gittrack/*"], path)
        run(["git", "push", "-q", str(floor), "main", "refs/gittrack/*:refs/gittrack/*"], path)
        clone = d / "clone"
        run(["git", "clone", "-q", str(remote), str(clone)], d)
        run(gt("pull"), clone)
        run_id = _new_run(clone, 900_000 + rep)
        t0 = time.perf_counter()
        run(gt("push"), clone)
        inc_gt.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run(["git", "push", "-q", str(floor), f"refs/gittrack/runs/{run_id}"], clone)
        inc_git.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run(gt("push"), clone)
        noop_gt.append(time.perf_counter() - t0)
        # every run into an empty guarded remote vs an empty unguarded one, plain git
        guarded = make_bare(d / "guarded.git")
        (guarded / "hooks" / "pre-receive").symlink_to(ROOT / "remotes" / "pre-receive")
        plain = make_bare(d / "plain.git")
        for target, sink in ((guarded, guard_gt), (plain, all_git)):
            t0 = time.perf_counter()
            run(["git", "push", "-q", str(target), "main", "refs/gittrack/*:refs/gittrack/*"], path)
            sink.append(time.perf_counter() - t0)
        shutil.rmtree(d)
    m = statistics.median
    return [
        ["W4 `gittrack push` of 1 new run onto the full remote", f"{m(inc_gt):.2f} s",
         f"{m(inc_git):.2f} s (`git push` of the ref)", f"+{m(inc_gt) - m(inc_git):.2f} s",
         "<= git + 0.3 s"],
        ["W4 `gittrack push`, nothing new", f"{m(noop_gt):.2f} s", "-", "-", "<= 0.5 s"],
        ["W4 push of every run into a guarded remote", f"{m(guard_gt):.2f} s",
         f"{m(all_git):.2f} s (unguarded)", f"{m(guard_gt) / m(all_git):.2f}x", "<= 1.3x"],
    ]  # fmt: skip


def section_checkpoint() -> list[list[object]]:
    import faults

    k = faults.checkpoint_cost(1_000_000)
    return [
        ["checkpoint (`end_run`) of 1,000,000 points of one metric, per point",
         f"{k['checkpoint_us']:.2f} µs", f"{k['log_us']:.2f} µs (the `log_metric` loop)",
         f"{k['loose']} loose objects, {k['packs']} packs", "<= 1 µs"],
    ]  # fmt: skip


def section_w1(reps: int) -> list[list[object]]:
    """W1 (100 runs, 10 params, 5 metrics x 100 steps, 3 tags, a 1 KiB artifact) in a
    fresh process per repetition, as w1_logging.py runs it."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import w1_logging as w; "
        "r = w.run_gittrack({'runs': 100, 'metrics': 5, 'steps': 100, 'params': 10}, True); "
        "print(json.dumps([r['total'], r['cpu']]))"
    )
    import json

    got = [
        json.loads(run([sys.executable, "-c", code], ROOT).splitlines()[-1]) for _ in range(reps)
    ]
    wall = statistics.median(g[0] for g in got)
    used = statistics.median(g[1] for g in got)
    return [["W1: 100 runs through the fluent API (with a 1 KiB artifact each)",
             f"{wall:.2f} s ({used:.2f} CPU)", "-", "-", "<= 0.5 s"]]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--procs", type=int, default=2, help="logging processes while building")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gittrack-bench-scale"))
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--quick", action="store_true", help="300 runs, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.reps = 300, 1
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    args.cache.mkdir(parents=True, exist_ok=True)
    print(c.machine(), flush=True)
    n = args.runs
    path, info = build(args.cache, n, args.procs)
    rows: list[list[object]] = [
        [f"build: {n:,} runs through the writer ({args.procs} processes)",
         f"{info['wall']:.0f} s ({info['cpu']:.0f} CPU) = {n / info['wall']:.0f} runs/s "
         f"({n / info['cpu']:.0f}/CPU-s)", "-", "-", f"load {info['load']:.1f} at the end"],
    ]  # fmt: skip
    db = args.cache / "none"
    if not args.no_mlflow and ({"size", "search"} & set(only)):
        db = mlflow_db(args.cache, n)
    work = Path(tempfile.mkdtemp(prefix="gtbench-scale-"))
    try:
        for section in only:
            t0 = time.perf_counter()
            if section == "size" and db.exists():
                rows += section_size(path, db)
            elif section == "search":
                rows += section_search(path, db, n, args.reps)
            elif section == "log":
                rows += section_log(path, args.reps)
            elif section == "http":
                rows += section_http(path, work, args.reps)
            elif section == "push":
                rows += section_push(path, work, args.reps)
            elif section == "checkpoint":
                rows += section_checkpoint()
            elif section == "w1":
                rows += section_w1(args.reps)
            print(f"# {section}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    c.print_table(
        f"Scale: {n:,} runs, medians of {args.reps} (wall; CPU where given)",
        ["what", "gittrack", "MLflow SQLite / plain git", "ratio", "target"],
        rows,
    )
    print(c.machine(), flush=True)


if __name__ == "__main__":
    main()
