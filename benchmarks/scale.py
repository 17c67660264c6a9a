"""Scale: one repository of ``--runs`` finished runs, and every issue-16 figure measured on
it, beside MLflow's SQLite store (the same runs) or plain git.

    python benchmarks/scale.py --runs 100000 --data /work/bench/scale100k [--reps 3]
        [--heavy-reps 1] [--only size,search,log,push,sync,ui] [--build pack|writer]
    python benchmarks/scale.py --quick          # 300 runs, 1 repetition (smoke)

Data: W2's shape (10 params, 5 metrics x 10 steps, 3 tags, FINISHED), in 3 seeded ranges
written by ``--procs`` processes at once into one repository. ``--build pack`` (default)
writes the finished runs through the pack writer (``gittrack.core.bulk``: 1,000 runs per
pack, as ``gittrack import``), then ``bulk.finish`` as ``gittrack import`` ends (the
writer's own consolidation: ``git repack -d --geometric=2``, ``git pack-refs --all``);
``--build writer`` logs them through the fluent API (``start_run`` ... ``end_run``; ~17 min
of CPU for 100,000 runs). MLflow's SQLite store gets the same runs (the same seeded values) through its table definitions in bulk (``w2_query.py``). Both
are kept under ``--data`` (built once, reused: re-measure on a quiet machine with the
same ``--data``); nothing measured changes the built repository's runs.

Rows (wall seconds and CPU seconds of this process and its children; medians of
``--reps``, or of ``--heavy-reps`` for the steps over the whole repository):

- build: runs/s through the writer;
- size: ``.git`` on disk vs MLflow's SQLite file, ``git count-objects -v``;
- search: cold index build (runs/s), warm ``search_runs`` -> DataFrame, filtered; MLflow's
  ``search_runs`` beside it;
- log: ``gittrack log -n 50`` in a fresh process; MLflow's 50 newest runs beside it;
- push: ``gittrack push`` of every run into a fresh bare remote, ``gittrack pull`` into a
  fresh clone, one new run pushed onto the full remote, a push with nothing new; plain
  ``git push``/``git fetch`` of the same refs beside each;
- guard: a push of every run into a remote guarded by ``remotes/pre-receive`` vs unguarded;
- sync: ``gittrack sync`` into a fresh PostgreSQL schema (127.0.0.1:5432, db ``test``;
  dropped afterwards), then with nothing new;
- ui: W7's first table row in headless Debian Chromium (``w7_ui.py``), fresh ``gittrack ui``
  and reload;
- http: ``git ls-remote`` and a full fetch of the runs through ``gittrack server``'s
  ``/git/`` vs ``file://`` of the same bare repository;
- checkpoint: cost per point of the final checkpoint of 1,000,000 points
  (``benchmarks/faults.py``'s measurement);
- w1: W1, 100 runs through the fluent API (``benchmarks/w1_logging.py``'s loop).
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
SECTIONS = (
    "build", "size", "search", "log", "push", "guard", "sync", "ui", "http", "checkpoint", "w1",
)  # fmt: skip


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(argv, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def gt(*args: str) -> list[str]:
    return [sys.executable, "-m", "gittrack", *args]


# -- the repository -------------------------------------------------------------------------


def build(cache: Path, n: int, procs: int, how: str = "pack") -> tuple[Path, dict[str, float]]:
    """``n`` runs, ``procs`` processes at once; reused when complete (``--data``).

    ``how``: ``pack`` writes finished runs through the pack writer (``bulk.Batch``, 1,000
    runs per pack, as ``gittrack import``), then ends as ``gittrack import`` does
    (``bulk.finish``: the writer's consolidation, ``git repack -d --geometric=2`` and
    ``git pack-refs --all``); ``writer`` logs them through the fluent API (the 10,000-run figure of session 3). The ranges are
    w2_query's (``n`` split in 3, each seeded by its start), so the metric values equal
    those of w2_query's MLflow store."""
    path = cache / (f"gittrack-{n}-pack" if how == "pack" else f"gittrack-{n}")
    done = path / ".bench-complete"
    if done.exists():
        info = dict(line.split("=", 1) for line in done.read_text().split())
        return path, {k: float(v) for k, v in info.items()}
    shutil.rmtree(path, ignore_errors=True)
    data.init_repo(path)
    per = -(-n // 3)
    chunks = [(b * per, min(per, n - b * per)) for b in range(3)]
    fn = "write_gittrack_runs" if how == "pack" else "log_gittrack_runs"
    c0, t0 = c.cpu_seconds(), time.perf_counter()
    pending = list(chunks)
    running: list[subprocess.Popen[str]] = []
    while pending or running:
        while pending and len(running) < procs:
            start, count = pending.pop(0)
            code = (
                f"import sys; sys.path.insert(0, {str(HERE)!r}); import _w2data as d; "
                f"from pathlib import Path; d.{fn}(Path({str(path)!r}), {start}, {count})"
            )
            running.append(subprocess.Popen([sys.executable, "-c", code], cwd=path, env=ENV))
        for p in list(running):
            if p.poll() is not None:
                if p.returncode != 0:
                    raise SystemExit(f"a logging process failed (exit {p.returncode})")
                running.remove(p)
        time.sleep(0.2)
    wall, used = time.perf_counter() - t0, c.cpu_seconds() - c0
    info = {"wall": wall, "cpu": used, "load": os.getloadavg()[0], "procs": float(procs)}
    if how == "pack":
        c0, t0 = c.cpu_seconds(), time.perf_counter()
        from gittrack.core.bulk import finish
        from gittrack.core.repo import Repo

        finish(Repo(path))  # what ends `gittrack import`: the writer's one consolidation
        info["repack_wall"], info["repack_cpu"] = time.perf_counter() - t0, c.cpu_seconds() - c0
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
    sqlite = db.stat().st_size if db.exists() else 0
    objects = git_dir - state
    disk = c.dir_size(path / ".git", on_disk=True) - c.dir_size(path / ".git" / "gittrack", True)
    loose_refs = sum(len(files) for _r, _d, files in os.walk(path / ".git" / "refs"))
    return [
        ["`.git` on disk (blocks, as `du`; `.git/gittrack` excluded)", f"{disk / 2**20:.1f} MiB",
         f"{sqlite / 2**20:.1f} MiB" if sqlite else "-",
         f"{disk / sqlite:.2f}x" if sqlite else "-", f"{loose_refs:,} loose refs"],
        ["`.git` (objects + refs; `.git/gittrack` state excluded)", f"{objects / 2**20:.1f} MiB",
         f"{sqlite / 2**20:.1f} MiB" if sqlite else "-",
         f"{objects / sqlite:.2f}x" if sqlite else "-", "<= 3x"],
        ["`.git/gittrack` (index, locks, caches; local only)", f"{state / 2**20:.1f} MiB",
         "-", "-", "-"],
        ["loose objects / packs", f"{counts['count']} / {counts['packs']}", "-", "-", "-"],
    ]  # fmt: skip


def section_search(path: Path, db: Path, n: int, reps: int, heavy: int) -> list[list[object]]:
    import gittrack
    from gittrack.core.repo import Repo

    os.chdir(path)
    repo = Repo(path)
    cold_w, cold_c = c.median_wall_cpu(lambda: c.rebuild_index(repo, n), heavy)
    df = gittrack.search_runs()
    assert len(df) == n, len(df)
    warm = c.median_wall_cpu(gittrack.search_runs, reps)
    filt = c.median_wall_cpu(lambda: gittrack.search_runs(filter_string=FILTER), reps)
    rows: list[list[object]] = [
        ["W2 cold index build", f"{cold_w:.2f} s ({cold_c:.2f} CPU) = {n / cold_w:,.0f} runs/s "
         f"({n / cold_c:,.0f}/CPU-s)", "-", "-", ">= 5,000 runs/s"],
    ]  # fmt: skip
    ml_full = ml_filt = None
    if db.exists():
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{db}")
        mlflow.search_runs(experiment_ids=["0"], max_results=200_000)
        ml_reps = heavy
        ml_full = c.median_wall_cpu(
            lambda: mlflow.search_runs(experiment_ids=["0"], max_results=200_000), ml_reps
        )
        ml_filt = c.median_wall_cpu(
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


def section_log(path: Path, db: Path, reps: int) -> list[list[object]]:
    """``gittrack log -n 50`` in a fresh process; beside it MLflow's nearest equivalent, the
    50 newest runs of its SQLite store (``search_runs``' default order) in a fresh process."""
    w = c.median_wall_cpu(lambda: run(gt("log", "-n", "50"), path), reps)
    m = None
    if db.exists():
        code = (
            "import mlflow; mlflow.set_tracking_uri('sqlite:///' + __import__('sys').argv[1]); "
            "print(len(mlflow.search_runs(experiment_ids=['0'], max_results=50)))"
        )
        m = c.median_wall_cpu(lambda: run([sys.executable, "-c", code, str(db)], path), reps)
    return [
        ["W6 `gittrack log -n 50`", f"{w[0]:.3f} s ({w[1]:.3f} CPU)",
         f"{m[0]:.2f} s ({m[1]:.2f} CPU): 50 newest, `mlflow.search_runs`" if m else "-",
         f"{m[0] / w[0]:.1f}x wall, {m[1] / w[1]:.1f}x CPU" if m else "-", "<= 0.5 s"],
    ]  # fmt: skip


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
    file_ls = c.median_wall_cpu(lambda: run(["git", "ls-remote", str(bare)], work), reps)
    file_fetch = c.median_wall_cpu(_fetch_all(f"file://{bare}", work, "file"), reps)
    with ServerProcess(bare, env={"PYTHONPATH": str(ROOT)}) as server:
        url = f"{server.url}/git/"
        run(["git", "ls-remote", url], work)  # the server's first answer (index, imports)
        http_ls = c.median_wall_cpu(lambda: run(["git", "ls-remote", url], work), reps)
        one = subprocess.run(
            ["git", "ls-remote", url, "refs/gittrack/runs/0*"], cwd=work, env=ENV,
            capture_output=True, text=True,
        )  # fmt: skip
        http_fetch = c.median_wall_cpu(_fetch_all(url, work, "http"), reps)
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


def section_push(path: Path, work: Path, reps: int, heavy: int) -> list[list[object]]:
    """As W4 (``benchmarks/w4_remote.py``), every step beside its plain-git floor: every run
    pushed into a fresh bare remote and pulled into a fresh clone (``heavy`` times), then
    ``reps`` times one new run pushed back and a push with nothing new."""
    from tests.remote_helpers import make_bare

    t: dict[str, list[float]] = {}
    u: dict[str, list[float]] = {}

    def timed(key: str, argv: list[str], cwd: Path) -> None:
        c0, t0 = c.cpu_seconds(), time.perf_counter()
        run(argv, cwd)
        t.setdefault(key, []).append(time.perf_counter() - t0)
        u.setdefault(key, []).append(c.cpu_seconds() - c0)

    d = work / "push"
    for _ in range(heavy):  # every run into fresh remotes, pulled into fresh clones
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        remote, floor = make_bare(d / "remote.git"), make_bare(d / "floor.git")
        for bare in (remote, floor):
            run(["git", "push", "-q", str(bare), "main"], path)
        timed("all", gt("push", str(remote)), path)
        timed("all git", ["git", "push", "-q", str(floor), "refs/gittrack/*:refs/gittrack/*"], path)
        clone, floor_clone = d / "clone", d / "floor-clone"
        run(["git", "clone", "-q", str(remote), str(clone)], d)
        run(["git", "clone", "-q", str(floor), str(floor_clone)], d)
        timed("pull", gt("pull"), clone)
        timed("pull git", ["git", "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*"],
              floor_clone)  # fmt: skip
    for rep in range(reps):  # one new run onto the full remote (of the last clone), each rep
        run_id = _new_run(clone, 900_000 + rep)
        ref = f"refs/gittrack/runs/{run_id}"
        run(["git", "fetch", "-q", str(clone), f"{ref}:{ref}"], floor_clone)
        timed("inc", gt("push"), clone)
        timed("inc git", ["git", "push", "-q", "origin", ref], floor_clone)
        timed("noop", gt("push"), clone)
    shutil.rmtree(d)
    m = {k: statistics.median(v) for k, v in t.items()}
    mc = {k: statistics.median(v) for k, v in u.items()}

    def cell(k: str) -> str:
        return f"{m[k]:.2f} s ({mc[k]:.2f} CPU)"

    return [
        ["W4 `gittrack push` of every run into a fresh bare remote", cell("all"),
         f"{cell('all git')}: `git push refs/gittrack/*`", f"{m['all'] / m['all git']:.2f}x",
         "-"],
        ["W4 `gittrack pull` of every run into a fresh clone", cell("pull"),
         f"{cell('pull git')}: `git fetch refs/gittrack/*`", f"{m['pull'] / m['pull git']:.2f}x",
         "-"],
        ["W4 `gittrack push` of 1 new run onto the full remote", cell("inc"),
         f"{cell('inc git')}: `git push` of the ref", f"{m['inc'] - m['inc git']:+.2f} s",
         "<= git + 0.3 s"],
        ["W4 `gittrack push`, nothing new", cell("noop"), "-", "-", "<= 0.5 s"],
    ]  # fmt: skip


def section_guard(path: Path, work: Path, reps: int) -> list[list[object]]:
    """Every run pushed (plain git) into a remote guarded by ``remotes/pre-receive`` vs an
    unguarded one."""
    from tests.remote_helpers import make_bare

    guard_gt: list[float] = []
    all_git: list[float] = []
    for rep in range(reps):
        d = work / f"guard-{rep}"
        d.mkdir()
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
        ["W4 push of every run into a guarded remote", f"{m(guard_gt):.2f} s",
         f"{m(all_git):.2f} s (unguarded)", f"{m(guard_gt) / m(all_git):.2f}x", "<= 1.3x"],
    ]  # fmt: skip


def section_sync(path: Path, n: int, reps: int, heavy: int) -> list[list[object]]:
    """``gittrack sync`` of every run into a fresh PostgreSQL schema (``sync_bench``'s
    target: 127.0.0.1:5432 db ``test``; dropped afterwards), then a sync with nothing new.
    CPU: the syncing process's (the database server's is not counted)."""
    import sync_bench

    from gittrack.mirror.sync import sync_to

    full: list[tuple[float, float]] = []
    noop: list[float] = []
    with c.temp_dir("scale-sync") as tmp:
        target = sync_bench.Target("postgresql", tmp)
        try:
            for _ in range(heavy):
                url = target.url()
                c0, t0 = c.cpu_seconds(), time.perf_counter()
                rep = sync_to(url, path)
                full.append((time.perf_counter() - t0, c.cpu_seconds() - c0))
                if len(rep.added) != n or rep.skipped:
                    raise SystemExit(f"sync of {n} runs: {rep.summary()}")
            for _ in range(reps):
                t0 = time.perf_counter()
                sync_to(url, path)
                noop.append(time.perf_counter() - t0)
        finally:
            target.cleanup()
    w = statistics.median(f[0] for f in full)
    u = statistics.median(f[1] for f in full)
    return [
        [f"`gittrack sync` of {n:,} runs into PostgreSQL (fresh schema)",
         f"{w:.1f} s ({u:.1f} CPU) = {n / w:,.0f} runs/s", "-", "-", "-"],
        ["`gittrack sync`, nothing new", f"{statistics.median(noop):.2f} s", "-", "-", "-"],
    ]  # fmt: skip


def section_ui(path: Path, n: int, reps: int) -> list[list[object]]:
    """W7's measurement (``benchmarks/w7_ui.py``, headless Debian Chromium): navigation to
    the first row of the runs table, on a freshly started ``gittrack ui`` (cold) and on a
    reload (warm)."""
    import w7_ui
    from playwright.sync_api import sync_playwright

    c0 = c.cpu_seconds()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=w7_ui.CHROMIUM, args=w7_ui.ARGS)
        try:
            cold, warm = w7_ui.measure(path, "/#/runs", w7_ui.FIRST_ROW, reps, browser)
        finally:
            browser.close()
    used = c.cpu_seconds() - c0
    m = statistics.median
    return [
        [f"W7 UI runs table, {n:,} runs: first row, fresh `gittrack ui` / reload",
         f"{m(cold):.2f} s / {m(warm):.2f} s", "-", "-",
         f"<= 1 s ({used:.1f} CPU s: servers + browser, all reps)"],
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
    ap.add_argument(
        "--heavy-reps", type=int, default=None,
        help="repetitions of the whole-repository steps (cold index, MLflow search, push of "
        "every run, pull, full sync, guard); default --reps",
    )  # fmt: skip
    ap.add_argument("--procs", type=int, default=2, help="logging processes while building")
    ap.add_argument(
        "--data", "--cache", dest="cache", type=Path, default=Path("/tmp/gittrack-bench-scale"),
        help="where the built repository and MLflow DB are kept (built once, reused)",
    )  # fmt: skip
    ap.add_argument(
        "--build", choices=("pack", "writer"), default="pack",
        help="pack: finished runs through the pack writer (bulk.Batch); writer: the fluent API",
    )  # fmt: skip
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--quick", action="store_true", help="300 runs, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.reps = 300, 1
    heavy = args.heavy_reps or args.reps
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    args.cache.mkdir(parents=True, exist_ok=True)
    print(c.machine(), flush=True)
    n = args.runs
    path, info = build(args.cache, n, args.procs, args.build)
    how = "the pack writer (`bulk.Batch`)" if "repack_wall" in info else "the fluent API"
    rows: list[list[object]] = [
        [f"build: {n:,} runs through {how}, {info.get('procs', args.procs):.0f} processes",
         f"{info['wall']:.0f} s ({info['cpu']:.0f} CPU) = {n / info['wall']:.0f} runs/s "
         f"({n / info['cpu']:.0f}/CPU-s)", "-", "-", f"load {info['load']:.1f} at the end"],
    ]  # fmt: skip
    if "repack_wall" in info:
        rows.append(["build: then `bulk.finish` (repack --geometric=2, pack-refs --all)",
                     f"{info['repack_wall']:.0f} s ({info['repack_cpu']:.0f} CPU)", "-", "-", "-"])  # fmt: skip
    db = args.cache / "none"
    if not args.no_mlflow and ({"size", "search", "log"} & set(only)):
        db = mlflow_db(args.cache, n)
    work = Path(tempfile.mkdtemp(prefix="gtbench-scale-"))
    try:
        for section in only:
            t0 = time.perf_counter()
            before = len(rows)
            if section == "size":
                rows += section_size(path, db)
            elif section == "search":
                rows += section_search(path, db, n, args.reps, heavy)
            elif section == "log":
                rows += section_log(path, db, args.reps)
            elif section == "http":
                rows += section_http(path, work, args.reps)
            elif section == "push":
                rows += section_push(path, work, args.reps, heavy)
            elif section == "guard":
                rows += section_guard(path, work, heavy)
            elif section == "sync":
                rows += section_sync(path, n, args.reps, heavy)
            elif section == "ui":
                rows += section_ui(path, n, args.reps)
            elif section == "checkpoint":
                rows += section_checkpoint()
            elif section == "w1":
                rows += section_w1(args.reps)
            print(f"# {section}: {time.perf_counter() - t0:.0f} s, {c.machine()}", file=sys.stderr)
            for row in rows[before:]:
                print("# | " + " | ".join(map(str, row)) + " |", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    c.print_table(
        f"Scale: {n:,} runs, medians of {args.reps} ({heavy} for whole-repository steps; "
        "wall, CPU where given)",
        ["what", "gittrack", "MLflow SQLite / plain git", "ratio", "target"],
        rows,
    )
    print(c.machine(), flush=True)


if __name__ == "__main__":
    main()
