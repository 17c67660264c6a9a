"""W2 (query) and W6 (`gittrack log`) side by side with MLflow's `search_runs`.

    python benchmarks/w2_query.py --runs 10000 [--repeat 3] [--file-store]

Data (workloads.md): finished runs of the W1 shape with 10 steps — params
``p{j} = v{(i+j) % 4}``, 5 metrics × 10 steps from a seeded RNG, tags team,
variant, run_index — on three branches (main, feature-a, feature-b).

gittrack's runs are logged with its fluent API (the generated repository is
kept under ``--cache`` and reused). MLflow's SQLite store gets the same runs
through MLflow's own ORM models (``SqlRun``, ``SqlMetric``, ``SqlLatestMetric``,
``SqlParam``, ``SqlTag``) in bulk, because logging 10,000 runs through its API
takes most of an hour here; searching is what is measured. The file store
(``--file-store``) is filled through ``FileStore.log_batch``.

Measured, medians of ``--repeat`` runs:
- cold index build: the index file deleted, then ``Index(repo).refresh()``;
- warm full search: ``gittrack.search_runs()`` of every run into a DataFrame,
  vs ``mlflow.search_runs(max_results=100000)``;
- filtered search: ``metrics.m0 > 0.5 and params.p0 = 'v0'``;
- the filtered search restricted to ``branches=["main", "feature-a"]``;
- W6: ``python -c "import gittrack"`` and ``gittrack log`` in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _common as c  # noqa: E402
import _w2data as data  # noqa: E402

FILTER = "metrics.m0 > 0.5 and params.p0 = 'v0'"
ORDER = ["metrics.m1 DESC", "params.p3"]
BRANCHES = ["main", "feature-a", "feature-b"]


def gittrack_repo(cache: Path, n: int) -> Path:
    path = cache / f"gittrack-{n}"
    done = path / ".bench-complete"
    if done.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    data.init_repo(path)
    per = -(-n // len(BRANCHES))
    total = 0.0
    for b, branch in enumerate(BRANCHES):
        if branch != "main":
            data.new_branch_commit(path, branch)
        count = min(per, n - b * per)
        # one process per branch, so the three share nothing but the repository
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import _w2data as d; "
            f"from pathlib import Path; print(d.log_gittrack_runs(Path({str(path)!r}), "
            f"{b * per}, {count}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=path, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        total += float(out.stdout.strip().splitlines()[-1])
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)
    print(f"logged {n} gittrack runs in {total:.1f} s ({n / total:.0f} runs/s)", file=sys.stderr)
    done.write_text("ok\n")
    return path


def metric_values(n: int) -> list[list[list[float]]]:
    """values[i][m][step] exactly as gittrack's generator drew them (seeded per branch chunk)."""
    per = -(-n // len(BRANCHES))
    out: list[list[list[float]]] = []
    for b in range(len(BRANCHES)):
        start, count = b * per, min(per, n - b * per)
        rng = random.Random(0 + start)
        for _ in range(start, start + count):
            run = [[0.0] * data.N_STEPS for _ in range(data.N_METRICS)]
            for step in range(data.N_STEPS):
                for m in range(data.N_METRICS):
                    run[m][step] = rng.random()
            out.append(run)
    return out


def mlflow_sqlite(cache: Path, n: int) -> str:
    db = cache / f"mlflow-{n}.db"
    uri = f"sqlite:///{db}"
    if (cache / f"mlflow-{n}.v2.complete").exists():
        return uri
    if db.exists():
        db.unlink()
    import uuid

    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, str(cache / "mlflow-artifacts"))
    values = metric_values(n)
    now = int(time.time() * 1000)
    tables = [t.__table__ for t in (SqlRun, SqlMetric, SqlLatestMetric, SqlParam, SqlTag)]
    rows: list[list[dict]] = [[] for _ in tables]
    with store.engine.begin() as conn:  # Core executemany: the ORM's unit of work per object
        for i in range(n):  # took ~2 h for 100,000 runs under load
            rid = uuid.uuid4().hex
            start = now + i
            rows[0].append(dict(
                run_uuid=rid, name=f"run-{i}", source_type="LOCAL", source_name="train.py",
                entry_point_name="", user_id="bench", status="FINISHED", start_time=start,
                end_time=start + 5, source_version="", lifecycle_stage="active",
                artifact_uri=f"{cache}/mlflow-artifacts/0/{rid}/artifacts", experiment_id=0,
            ))  # fmt: skip
            for m in range(data.N_METRICS):
                for step in range(data.N_STEPS):
                    v = values[i][m][step]
                    rows[1].append(dict(key=f"m{m}", value=v, timestamp=start, step=step,
                                        is_nan=False, run_uuid=rid))  # fmt: skip
                rows[2].append(dict(key=f"m{m}", value=v, timestamp=start,
                                    step=data.N_STEPS - 1, is_nan=False, run_uuid=rid))  # fmt: skip
            for k, v in data.params_for(i).items():
                rows[3].append(dict(key=k, value=v, run_uuid=rid))
            tags = {
                "mlflow.runName": f"run-{i}", "mlflow.user": "bench",
                "mlflow.source.name": "train.py", "mlflow.source.type": "LOCAL",
                "mlflow.source.git.commit": "0" * 40, **data.tags_for(i),
            }  # fmt: skip
            for k, v in tags.items():
                rows[4].append(dict(key=k, value=v, run_uuid=rid))
            if i % 1000 == 999 or i == n - 1:
                for table, batch in zip(tables, rows, strict=True):
                    if batch:
                        conn.execute(table.insert(), batch)
                rows = [[] for _ in tables]
    store.engine.dispose()
    (cache / f"mlflow-{n}.v2.complete").write_text("ok\n")
    return uri


def mlflow_file_store(cache: Path, n: int) -> str:
    root = cache / f"mlflow-fs-{n}"
    uri = f"file://{root}"
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    if (cache / f"mlflow-fs-{n}.complete").exists():
        return uri
    shutil.rmtree(root, ignore_errors=True)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.tracking.file_store import FileStore

    store = FileStore(str(root))
    values = metric_values(n)
    for i in range(n):
        run = store.create_run("0", "bench", int(time.time() * 1000), [], f"run-{i}")
        rid = run.info.run_id
        ts = int(time.time() * 1000)
        metrics = [
            Metric(f"m{m}", values[i][m][s], ts, s)
            for m in range(data.N_METRICS)
            for s in range(data.N_STEPS)
        ]
        store.log_batch(
            rid, metrics, [Param(k, v) for k, v in data.params_for(i).items()],
            [RunTag(k, v) for k, v in data.tags_for(i).items()],
        )  # fmt: skip
        store.update_run_info(rid, "FINISHED", ts, None)
    (cache / f"mlflow-fs-{n}.complete").write_text("ok\n")
    return uri


def bench_gittrack(path: Path, n: int, repeat: int) -> dict[str, tuple[float, float]]:
    import gittrack
    from gittrack.core.repo import Repo

    os.chdir(path)
    out: dict[str, tuple[float, float]] = {}
    repo = Repo(path)
    out["cold index build"] = c.median_wall_cpu(lambda: c.rebuild_index(repo, n), repeat)
    df = gittrack.search_runs()  # warm up: opens the index, imports pandas
    assert len(df) == n, len(df)
    out["full search → DataFrame"] = c.median_wall_cpu(gittrack.search_runs, repeat)
    filtered = gittrack.search_runs(filter_string=FILTER)
    out["filtered search"] = c.median_wall_cpu(
        lambda: gittrack.search_runs(filter_string=FILTER), repeat
    )
    on_branches = gittrack.search_runs(filter_string=FILTER, branches=["main", "feature-a"])
    out["filtered, 2 branches"] = c.median_wall_cpu(
        lambda: gittrack.search_runs(filter_string=FILTER, branches=["main", "feature-a"]), repeat
    )
    print(
        f"gittrack: {len(df)} runs, {len(filtered)} match the filter, "
        f"{len(on_branches)} of them on main/feature-a",
        file=sys.stderr,
    )
    verify(path, ["main", "feature-a"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def proc(*args: str) -> None:
        subprocess.run([sys.executable, *args], cwd=path, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    out["W6 import gittrack"] = c.median_wall_cpu(lambda: proc("-c", "import gittrack"), 5)
    out["W6 gittrack log"] = c.median_wall_cpu(lambda: proc("-m", "gittrack", "log"), 5)
    return out


def verify(path: Path, branches: list[str]) -> None:
    """The filtered, ordered, branch-restricted search equals a brute-force read of every
    run record (Store.iter_runs, the plain-Python filter, `git rev-list` per branch)."""
    import gittrack
    from gittrack.api.client import Client
    from gittrack.query.grammar import parse_filter, parse_order_by
    from tests.reference import filter_runs, sort_runs

    t = time.perf_counter()
    reach: set[str] = set()
    for b in branches:
        out = subprocess.run(["git", "rev-list", b], cwd=path, capture_output=True, text=True)
        reach.update(out.stdout.split())
    truth = []
    for run in Client(path).store.iter_runs():
        src = (run.record.get("source") or {}).get("commit")
        if src in reach and run.info.lifecycle_stage == "active":
            i = run.info
            truth.append({
                "run_id": i.run_id, "run_name": i.run_name, "status": i.status,
                "user_id": i.user_id, "start_time": i.start_time, "end_time": i.end_time,
                "artifact_uri": i.artifact_uri, "metrics": run.data.metrics,
                "params": run.data.params, "tags": run.data.tags,
            })  # fmt: skip
    want = sort_runs(filter_runs(truth, parse_filter(FILTER)), parse_order_by(ORDER))
    brute = time.perf_counter() - t
    got = gittrack.search_runs(filter_string=FILTER, order_by=ORDER, branches=branches)
    assert list(got["run_id"]) == [r["run_id"] for r in want], "index and brute force differ"
    print(
        f"verified: search_runs(filter, order_by={ORDER}, branches={branches}) gives the same "
        f"{len(want)} rows, in the same order, as a brute-force read of every record "
        f"({brute:.1f} s)",
        file=sys.stderr,
    )


def bench_mlflow(uri: str, repeat: int) -> dict[str, tuple[float, float]]:
    import mlflow

    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_ids=["0"], max_results=100000)
    n = len(df)
    full = c.median_wall_cpu(
        lambda: mlflow.search_runs(experiment_ids=["0"], max_results=100000), repeat
    )
    f = mlflow.search_runs(experiment_ids=["0"], filter_string=FILTER, max_results=100000)
    filt = c.median_wall_cpu(
        lambda: mlflow.search_runs(experiment_ids=["0"], filter_string=FILTER, max_results=100000),
        repeat,
    )
    print(f"mlflow {uri.split(':')[0]}: {n} runs, {len(f)} match the filter", file=sys.stderr)
    return {"full search → DataFrame": full, "filtered search": filt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gittrack-bench-w2"))
    ap.add_argument("--file-store", action="store_true", help="also MLflow's file store")
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    n = args.runs
    path = gittrack_repo(args.cache, n)
    g = bench_gittrack(path, n, args.repeat)
    cols = {"gittrack": g}
    if not args.no_mlflow:
        cols["MLflow SQLite"] = bench_mlflow(mlflow_sqlite(args.cache, n), args.repeat)
        if args.file_store:
            cols["MLflow file"] = bench_mlflow(mlflow_file_store(args.cache, n), args.repeat)
    names = list(cols)
    load = os.getloadavg()[0]
    print(f"\n{n} runs; load average {load:.1f} on {os.cpu_count()} cores; "
          "wall seconds (CPU seconds), medians of the repetitions")  # fmt: skip
    header = f"| W2/W6, {n} runs | " + " | ".join(f"{c}" for c in names)
    header += "".join(f" | {c} / gittrack (wall, CPU)" for c in names[1:]) + " |"
    print(header)
    print("|" + "---|" * (2 * len(names)))
    for row in g:
        cells = [
            f"{cols[c][row][0]:.3f} ({cols[c][row][1]:.3f})" if row in cols[c] else "-"
            for c in names
        ]
        ratios = [
            f"{cols[c][row][0] / g[row][0]:.0f}×, {cols[c][row][1] / g[row][1]:.0f}×"
            if row in cols[c]
            else "-"
            for c in names[1:]
        ]
        print(f"| {row} | " + " | ".join(cells + ratios) + " |")
    wall, cpu = g["cold index build"]
    print(f"| cold build rate | {n / wall:.0f} runs/s wall, {n / cpu:.0f} runs/CPU-s |"
          + " |" * (2 * len(names) - 2))  # fmt: skip


if __name__ == "__main__":
    main()
