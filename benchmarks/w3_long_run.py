"""W3 — long run: 1 run, 1 metric, 1,000,000 points with one ``log_metric`` call per
point, default checkpointing; then ``get_metric_history``.

gittrack: the fluent API in a fresh git repository with one commit; "log s" is
the loop of ``log_metric`` calls plus ``end_run`` (its final checkpoint commit).
Checkpoints are the run's commits (the first one at ``start_run``, those of the
background thread every ``gittrack.checkpoint-seconds``, the last at ``end_run``).
Growth is the repository's size after plain ``git gc`` minus its size after
``git gc`` before the run (``git count-objects -v``: size + size-pack), against
the raw TSV (the bytes of the metric's history chunks). The local decoded-chunk
cache (``.git/gittrack/cache``, never pushed) is shown apart.

MLflow column: the same points through ``MlflowClient.log_batch``, 1,000 a call
(its fastest path) on its SQLite store, and its ``get_metric_history``.

    python benchmarks/w3_long_run.py            # 3 repetitions, 1,000,000 points
    python benchmarks/w3_long_run.py --quick    # smoke run: 12,000 points, 1 repetition
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

c.setup_path()

SYSTEMS = ("gittrack", "mlflow-sqlite")
KEY = "loss"


def repo_bytes(path: Path) -> int:
    """Bytes of the object store (loose + packs), from ``git count-objects -v``."""
    out = c.git(path, "count-objects", "-v")
    kib = {
        k: int(v)
        for k, v in (line.split(": ") for line in out.splitlines())
        if k in ("size", "size-pack")
    }
    return (kib["size"] + kib["size-pack"]) * 1024


def run_gittrack(n: int) -> dict[str, Any]:
    import gittrack
    import gittrack.api.fluent  # noqa: F401  (imported before timing, as `import mlflow` is)
    from gittrack.api.client import Client

    values = c.metric_values(n)
    with c.temp_dir("w3-gittrack") as d:
        repo = c.make_git_repo(d / "project")
        c.git(repo, "gc", "-q")
        before = repo_bytes(repo)
        with c.chdir(repo):
            log_metric = gittrack.log_metric
            c0 = time.process_time()
            t0 = time.perf_counter()
            run = gittrack.start_run(run_name="w3")
            for i in range(n):
                log_metric(KEY, values[i], step=i)
            t_loop = time.perf_counter() - t0
            writer = run._writer
            gittrack.end_run()
            t_log = time.perf_counter() - t0
            cpu_log = time.process_time() - c0
            checkpoints = writer.checkpoints
            run_id = run.info.run_id

            client = Client(repo)
            c0 = time.process_time()
            t_hist, hist = c.timed(lambda: client.get_metric_history(run_id, KEY))
            cpu_hist = time.process_time() - c0
            assert len(hist) == n, len(hist)
            assert hist[-1].step == n - 1 and hist[-1].value == values[-1]
            del hist
        commits = int(
            c.git(repo, "rev-list", "--count", f"refs/gittrack/runs/{run_id}", "^main").strip()
        )
        ls = c.git(
            repo, "ls-tree", "-r", "-l", f"refs/gittrack/runs/{run_id}", f".gittrack/metrics/{KEY}/"
        )
        raw = sum(int(line.split()[3]) for line in ls.splitlines())
        c.git(repo, "gc", "-q")
        growth = repo_bytes(repo) - before
        cache = c.dir_size(repo / ".git" / "gittrack" / "cache")
    return {
        "log": t_log,
        "log_cpu": cpu_log,
        "loop": t_loop,
        "checkpoints": checkpoints,
        "commits": commits,
        "hist": t_hist,
        "hist_cpu": cpu_hist,
        "raw": raw,
        "growth": growth,
        "cache": cache,
    }


def run_mlflow(n: int, batch: int) -> dict[str, Any]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    values = c.metric_values(n)
    with c.temp_dir("w3-mlflow") as d, c.chdir(d):
        db = d / "mlflow.db"
        client = MlflowClient(f"sqlite:///{db}")
        client.search_experiments()  # schema migrations happen before timing
        c0 = time.process_time()
        t0 = time.perf_counter()
        run_id = client.create_run("0", run_name="w3").info.run_id
        for start in range(0, n, batch):
            ts = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[
                    Metric(KEY, values[i], ts, i) for i in range(start, min(n, start + batch))
                ],
            )
        client.set_terminated(run_id)
        t_log = time.perf_counter() - t0
        cpu_log = time.process_time() - c0
        c0 = time.process_time()
        t_hist, hist = c.timed(lambda: client.get_metric_history(run_id, KEY))
        cpu_hist = time.process_time() - c0
        assert len(hist) == n, len(hist)
        del hist
        size = db.stat().st_size
    return {"log": t_log, "log_cpu": cpu_log, "hist": t_hist, "hist_cpu": cpu_hist, "db": size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 12,000 points, 1 repetition")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1000, help="MLflow log_batch size (default 1000)")
    p.add_argument(
        "--mlflow-repeat",
        type=int,
        default=None,
        help="repetitions of the MLflow columns (default: --repeat)",
    )
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)}",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.points, args.repeat = 12_000, 1
        args.mlflow_repeat = 1
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)}")
    print(
        f"W3 long run: 1 run, 1 metric, {args.points:,} points; {args.repeat} repetition(s), "
        f"MLflow {args.mlflow_repeat or args.repeat}"
    )
    print(f"machine: {c.machine()}")

    res: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for s in systems:
        reps = args.repeat if s == "gittrack" else (args.mlflow_repeat or args.repeat)
        for rep in range(reps):
            r = (
                run_gittrack(args.points)
                if s == "gittrack"
                else run_mlflow(args.points, args.batch)
            )
            res[s].append(r)
            print(
                f"  {s} #{rep + 1}: "
                + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in r.items()
                ),
                flush=True,
            )

    med = {s: {k: c.median([r[k] for r in reps]) for k in reps[0]} for s, reps in res.items()}
    rows = []
    gt = med.get("gittrack")
    ml = med.get("mlflow-sqlite")
    if gt:
        rows.append(
            [
                "gittrack (log_metric x N)",
                gt["log"],
                gt["log_cpu"],
                gt["loop"],
                int(gt["checkpoints"]),
                gt["hist"],
                gt["hist_cpu"],
                f"{gt['growth'] / 1e6:.2f} MB",
                f"{gt['raw'] / 1e6:.2f} MB",
                f"{gt['growth'] / gt['raw']:.2f}x" if gt["raw"] else "-",
                f"{gt['cache'] / 1e6:.2f} MB",
            ]
        )
    if ml:
        rows.append(
            [
                f"mlflow-sqlite (log_batch x {args.batch})",
                ml["log"],
                ml["log_cpu"],
                "-",
                "-",
                ml["hist"],
                ml["hist_cpu"],
                f"{ml['db'] / 1e6:.2f} MB (db file)",
                "-",
                "-",
                "-",
            ]
        )
    print(
        "\nCPU s: the process's CPU time (all threads, user + system); wall-clock figures "
        "are inflated when other work shares the 2 cores."
    )
    c.print_table(
        f"W3 medians of {args.repeat} (MLflow: {args.mlflow_repeat or args.repeat})",
        [
            "system",
            "log s",
            "log CPU s",
            "log loop s",
            "checkpoints",
            "history read s",
            "history CPU s",
            "growth after git gc",
            "raw TSV",
            "growth / raw",
            "local chunk cache",
        ],
        rows,
    )
    if gt and ml:
        print(
            f"\ngittrack speed-up over mlflow-sqlite (MLflow time / gittrack time): "
            f"log {c.speedup(gt['log'], ml['log'])}, history {c.speedup(gt['hist'], ml['hist'])}; "
            f"in CPU time: log {c.speedup(gt['log_cpu'], ml['log_cpu'])}, "
            f"history {c.speedup(gt['hist_cpu'], ml['hist_cpu'])}"
        )
    if gt:
        print("targets: log <= 3 s; history read <= 0.5 s; growth <= 3x raw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
