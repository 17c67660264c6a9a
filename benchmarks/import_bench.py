"""Benchmark ``gittrack import mlflow`` from an MLflow SQLite store.

Data: ``--runs`` runs (default 10,000), each with 10 params, 5 metrics x ``--steps``
steps (default 100), 3 tags and one small artifact file, in one experiment. The store
is built fast (not timed): MLflow creates its schema and the experiment, then plain SQL
inserts fill ``runs``, ``params``, ``tags``, ``metrics`` and ``latest_metrics``.

Timed, each as ``python -m gittrack import mlflow sqlite:///...`` (process start
included; wall and CPU seconds of the child):
  import      into an empty repository (target < 60 s at 10,000 runs)
  re-import   the same again, nothing changed (target < 5 s)
and, beside it, for context:
  MLflow read   MLflow's own read of the same store in this process: ``search_runs`` over
                the first ``--mlflow-read-runs`` runs (default: all) plus
                ``get_metric_history`` of every metric of each
  MLflow build  MLflow's own client logging ``--mlflow-build-runs`` runs of the same shape
                (``log_batch`` + ``log_text`` each) into a fresh SQLite store
Rows measured on fewer runs than ``--runs`` also show the time scaled to ``--runs``.

Usage::

    python benchmarks/import_bench.py [--runs 10000] [--steps 100] [--skip-mlflow-read]
        [--mlflow-read-runs N] [--mlflow-build-runs N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import make_git_repo, params_for, tags_for  # noqa: E402

ENV = {"MLFLOW_DISABLE_TELEMETRY": "true"}


def build_store(where: Path, runs: int, steps: int) -> str:
    """An MLflow SQLite store with ``runs`` runs; returns its URI."""
    import mlflow

    uri = f"sqlite:///{where / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment("bench", artifact_location=str(where / "artifacts"))
    rng = random.Random(20261130)
    con = sqlite3.connect(where / "mlflow.db")
    t0 = 1_700_000_000_000
    for i in range(runs):
        rid = uuid.uuid4().hex
        art = where / "artifacts" / rid / "artifacts"
        art.mkdir(parents=True)
        (art / "result.txt").write_text(f"run {i}\n")
        start = t0 + i * 1000
        con.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rid, f"run-{i}", "LOCAL", "", "", "bench", "FINISHED", start, start + 900, "",
             "active", f"file://{art}", int(exp_id)),
        )  # fmt: skip
        con.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
            [(k, v, rid) for k, v in params_for(i).items()],
        )
        tags = {**tags_for(i), "mlflow.runName": f"run-{i}", "mlflow.user": "bench"}
        con.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)",
            [(k, v, rid) for k, v in tags.items()],
        )
        points = []
        latest = []
        for m in range(5):
            for s in range(steps):
                points.append((f"m{m}", rng.random(), start + s, s, 0, rid))
            latest.append(points[-1])
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?,?,?,?,?,?)",
            points,
        )
        con.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?,?,?,?,?,?)",
            latest,
        )
    con.commit()
    con.close()
    return uri


def timed_cli(repo: Path, *args: str) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of ``python -m gittrack ARGS`` in ``repo``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "gittrack", *args],
        cwd=repo,
        env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout.strip()


def mlflow_read(uri: str, limit: int | None = None) -> tuple[float, float, int, int]:
    """(wall s, CPU s, runs, points) of MLflow reading the first ``limit`` runs (all when
    None) and every metric history of each."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("bench")
    c0, t = time.process_time(), time.perf_counter()
    runs, token, points = [], None, 0
    while limit is None or len(runs) < limit:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        runs += page
        token = page.token
        if not token:
            break
    runs = runs[:limit] if limit is not None else runs
    for run in runs:
        for key in run.data.metrics:
            points += len(client.get_metric_history(run.info.run_id, key))
    return time.perf_counter() - t, time.process_time() - c0, len(runs), points


def mlflow_build(where: Path, runs: int, steps: int) -> tuple[float, float]:
    """(wall s, CPU s) of MLflow's own client logging ``runs`` runs of the benchmark's
    shape into a new SQLite store (schema creation not timed)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient(f"sqlite:///{where / 'build.db'}")
    exp_id = client.create_experiment("build", artifact_location=str(where / "build-art"))
    rng = random.Random(1)
    c0, t = time.process_time(), time.perf_counter()
    for i in range(runs):
        rid = client.create_run(exp_id, run_name=f"run-{i}").info.run_id
        start = 1_700_000_000_000 + i * 1000
        client.log_batch(
            rid,
            metrics=[
                Metric(f"m{m}", rng.random(), start + s, s) for m in range(5) for s in range(steps)
            ],
            params=[Param(k, v) for k, v in params_for(i).items()],
            tags=[RunTag(k, v) for k, v in tags_for(i).items()],
        )
        client.log_text(rid, f"run {i}\n", "result.txt")
        client.set_terminated(rid)
    return time.perf_counter() - t, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--skip-mlflow-read", action="store_true")
    ap.add_argument("--mlflow-read-runs", type=int, default=None, help="MLflow reads only N runs")
    ap.add_argument("--mlflow-build-runs", type=int, default=0, help="MLflow logs N runs (0: skip)")
    ap.add_argument("--quick", action="store_true", help="450 runs x 10 steps (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.steps = 450, 10
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory(prefix="gittrack-import-bench-") as tmp:
        where = Path(tmp)
        t = time.perf_counter()
        uri = build_store(where, args.runs, args.steps)
        built = time.perf_counter() - t
        repo = make_git_repo(where / "repo")
        load = os.getloadavg()
        print(
            f"{args.runs} runs x (10 params, 5 metrics x {args.steps} steps, 1 artifact); "
            f"store built with SQL in {built:.1f} s; "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
        )
        print("| what | wall s | CPU s | result |")
        print("|---|---|---|---|")

        def row(name: str, wall: float, cpu: float, note: str) -> None:
            # each row as soon as it is measured: a long MLflow read cut short keeps the rest
            load = os.getloadavg()[0]
            print(f"| {name} | {wall:.2f} | {cpu:.2f} | {note} (load {load:.1f}) |", flush=True)

        wall, cpu, out = timed_cli(repo, "import", "mlflow", uri, "--quiet")
        row("gittrack import", wall, cpu, out)
        wall, cpu, out = timed_cli(repo, "import", "mlflow", uri, "--quiet")
        row("gittrack re-import (no change)", wall, cpu, out)
        if not args.skip_mlflow_read:
            wall, cpu, n, points = mlflow_read(uri, args.mlflow_read_runs)
            row(
                f"MLflow search_runs + get_metric_history, {n} runs",
                wall,
                cpu,
                f"{points} points; x{args.runs / n:.0f} = {wall * args.runs / n:.0f} s wall, "
                f"{cpu * args.runs / n:.0f} s CPU for {args.runs} runs",
            )
        if args.mlflow_build_runs:
            n = args.mlflow_build_runs
            wall, cpu = mlflow_build(where, n, args.steps)
            row(
                f"MLflow client logging {n} such runs (SQLite)",
                wall,
                cpu,
                f"x{args.runs / n:.0f} = {wall * args.runs / n:.0f} s wall, "
                f"{cpu * args.runs / n:.0f} s CPU for {args.runs} runs",
            )


if __name__ == "__main__":
    main()
