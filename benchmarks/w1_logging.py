"""W1 — logging: 100 runs, each 10 params (one ``log_params``), 5 metrics x 100 steps
with one ``log_metric`` call per point, 3 tags, one 1 KiB artifact, end.

Side by side: gittrack (fluent API, a fresh git repository with one commit per
repetition) and MLflow's fluent API on its SQLite store (``sqlite:///``) and its
file store (``file:///`` with ``MLFLOW_ALLOW_FILE_STORE=true``), and MLflow's fluent API
writing into git through gittrack's plugin (``mlflow-plugin``: ``gittrack:///repo``), each in
a fresh temporary directory per repetition.

``log_metric`` per-call figures: every call is timed on its own with
``time.perf_counter_ns()`` (the pair's own cost is printed; it is included).

    python benchmarks/w1_logging.py            # 3 repetitions, the full workload
    python benchmarks/w1_logging.py --quick    # smoke run: tiny sizes, 1 repetition
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

SYSTEMS = ("gittrack", "mlflow-plugin", "mlflow-sqlite", "mlflow-file")


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    return {"runs": args.runs, "metrics": args.metrics, "steps": args.steps, "params": 10}


def _artifact(d: Path) -> Path:
    path = d / "artifact-1k.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _workload(
    api: Any, sizes: dict[str, int], values: list[float], artifact: Path | None, lm_ns: list[int]
) -> tuple[float, float]:
    """The W1 loop through a fluent API (gittrack or mlflow); returns (wall s, CPU s)."""
    pc = time.perf_counter_ns
    n_metrics, n_steps = sizes["metrics"], sizes["steps"]
    keys = [f"m{k}" for k in range(n_metrics)]
    log_metric = api.log_metric
    append = lm_ns.append
    vi = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i in range(sizes["runs"]):
        api.start_run(run_name=f"run-{i}")
        api.log_params(c.params_for(i, sizes["params"]))
        for step in range(n_steps):
            for key in keys:
                v = values[vi]
                vi += 1
                a = pc()
                log_metric(key, v, step=step)
                append(pc() - a)
        api.set_tags(c.tags_for(i))
        if artifact is not None:
            api.log_artifact(str(artifact))
        api.end_run()
    return time.perf_counter() - t0, time.process_time() - c0


def run_gittrack(sizes: dict[str, int], with_artifact: bool) -> dict[str, Any]:
    import gittrack
    import gittrack.api.fluent  # noqa: F401  (imported before timing, as `import mlflow` is)

    values = c.metric_values(sizes["runs"] * sizes["metrics"] * sizes["steps"])
    lm_ns: list[int] = []
    with c.temp_dir("w1-gittrack") as d:
        repo = c.make_git_repo(d / "project")
        artifact = _artifact(d) if with_artifact else None
        with c.chdir(repo):
            total, cpu = _workload(gittrack, sizes, values, artifact, lm_ns)
            from gittrack.api.client import Client

            runs = Client(repo).list_runs()
            assert len(runs) == sizes["runs"], len(runs)
            assert all(r.info.status == "FINISHED" for r in runs)
    return {"total": total, "cpu": cpu, "lm_ns": lm_ns}


def run_mlflow(kind: str, sizes: dict[str, int], with_artifact: bool) -> dict[str, Any]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    if kind == "file":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import mlflow

    values = c.metric_values(sizes["runs"] * sizes["metrics"] * sizes["steps"])
    lm_ns: list[int] = []
    with c.temp_dir(f"w1-mlflow-{kind}") as d:
        if kind == "plugin":  # MLflow's own fluent API writing into git through gittrack's plugin
            work = c.make_git_repo(d / "project")
            uri = f"gittrack://{work}"
        else:
            work = d
            uri = f"sqlite:///{d}/mlflow.db" if kind == "sqlite" else (d / "mlruns").as_uri()
        artifact = _artifact(d) if with_artifact else None
        with c.chdir(work):
            mlflow.set_tracking_uri(uri)
            # create the store (SQLite schema migrations) before timing starts
            mlflow.MlflowClient(uri).search_experiments()
            total, cpu = _workload(mlflow, sizes, values, artifact, lm_ns)
            runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
            assert len(runs) == sizes["runs"], len(runs)
        mlflow.set_tracking_uri(None)
    return {"total": total, "cpu": cpu, "lm_ns": lm_ns}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 repetition")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per system (default 3)")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--metrics", type=int, default=5)
    p.add_argument("--steps", type=int, default=100)
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
        args.runs, args.metrics, args.steps, args.repeat = 2, 2, 5, 1
        args.mlflow_repeat = 1
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)}")
    sizes = _sizes(args)

    import gittrack

    with_artifact = hasattr(gittrack, "log_artifact")
    print(
        f"W1 logging: {sizes['runs']} runs x ({sizes['params']} params, "
        f"{sizes['metrics']} metrics x {sizes['steps']} steps, 3 tags"
        f"{', one 1 KiB artifact' if with_artifact else ''}); {args.repeat} repetition(s), "
        f"MLflow {args.mlflow_repeat or args.repeat}"
    )
    print(f"machine: {c.machine()}")
    if not with_artifact:
        print(
            "note: gittrack.log_artifact does not exist on this branch yet: the 1 KiB artifact "
            "step is left out for every system (totals compare like for like)."
        )
    overhead = c.timer_overhead_ns()
    print(
        f"log_metric per call: each call timed alone with perf_counter_ns "
        f"(a timer pair costs {overhead:.0f} ns; included in the figures)"
    )

    results: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for s in systems:
        reps = args.repeat if s == "gittrack" else (args.mlflow_repeat or args.repeat)
        for rep in range(reps):
            if s == "gittrack":
                r = run_gittrack(sizes, with_artifact)
            else:
                r = run_mlflow(s.split("-", 1)[1], sizes, with_artifact)
            r["lm_median_us"] = c.median(r.pop("lm_ns")) / 1000
            results[s].append(r)
            print(
                f"  {s} #{rep + 1}: total {r['total']:.3f} s (CPU {r['cpu']:.3f} s), "
                f"log_metric median {r['lm_median_us']:.2f} us",
                flush=True,
            )

    summary = {}
    for s, reps in results.items():
        total = c.median([r["total"] for r in reps])
        summary[s] = {
            "total": total,
            "cpu": c.median([r["cpu"] for r in reps]),
            "lm": c.median([r["lm_median_us"] for r in reps]),
            "rps": sizes["runs"] / total if total else float("nan"),
        }
    gt = summary.get("gittrack")
    rows = []
    for s in systems:
        m = summary[s]
        rows.append(
            [
                s,
                m["total"],
                m["cpu"],
                m["lm"],
                m["rps"],
                "1x" if s == "gittrack" or gt is None else c.speedup(gt["total"], m["total"]),
                "1x" if s == "gittrack" or gt is None else c.speedup(gt["cpu"], m["cpu"]),
                "1x" if s == "gittrack" or gt is None else c.speedup(gt["lm"], m["lm"]),
            ]
        )
    print(
        "\nCPU s: the process's CPU time (all threads, user + system) during the loop; "
        "wall-clock totals are inflated when other work shares the 2 cores."
    )
    c.print_table(
        f"W1 medians of {args.repeat} (MLflow: {args.mlflow_repeat or args.repeat}); "
        "speed-up = MLflow time / gittrack time",
        [
            "system",
            "total s",
            "CPU s",
            "log_metric median us",
            "runs/s",
            "gittrack speed-up (total)",
            "gittrack speed-up (CPU)",
            "gittrack speed-up (log_metric)",
        ],
        rows,
    )
    if gt is not None:
        print(
            f"\ntargets: total >= 100x faster than mlflow-sqlite; log_metric median <= 2 us "
            f"(gittrack: {gt['lm']:.2f} us)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
