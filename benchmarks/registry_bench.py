"""Benchmark the model registry: gittrack's records in git against MLflow's SQLAlchemy
registry store on SQLite, the same calls through each one's client.

Data: ``--models`` registered models (default 200) with ``--versions`` versions each
(default 10, sources ``s3://b/<model>/<version>``) and one alias per model.

Timed (wall and CPU, this process):
  write     create every model and version and set the aliases: per call
  list      ``search_registered_models()`` (first page of 100), median of 5, cold (first) and warm
  versions  ``search_model_versions("source_path = ...")`` over every version, median of 5
  by name   ``search_model_versions("name = ...")``, median of 20
  by alias  ``get_model_version_by_alias``, median of 20

Usage::

    python benchmarks/registry_bench.py [--models 200] [--versions 10] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import chdir, make_git_repo, median, print_table, setup_path, temp_dir

setup_path()


def _write(client: Any, models: int, versions: int) -> tuple[float, float, int]:
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(models):
        name = f"model-{i:04d}"
        client.create_registered_model(name)
        for v in range(versions):
            client.create_model_version(name, f"s3://b/{i}/{v}")
        client.set_registered_model_alias(name, "champion", versions)
    calls = models * (versions + 2)
    return (time.perf_counter() - w0) / calls, (time.process_time() - c0) / calls, calls


def _median_ms(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times) * 1000


def _reads(client: Any, models: int, versions: int) -> dict[str, float]:
    some = f"model-{models // 2:04d}"
    t0 = time.perf_counter()
    client.search_registered_models()
    cold = (time.perf_counter() - t0) * 1000
    source = f"s3://b/{models // 2}/{versions - 1}"
    return {
        "list cold": cold,
        "list": _median_ms(lambda: client.search_registered_models(), 5),
        "versions": _median_ms(
            lambda: client.search_model_versions(f"source_path = '{source}'"), 5
        ),
        "by name": _median_ms(lambda: client.search_model_versions(f"name = '{some}'"), 20),
        "by alias": _median_ms(lambda: client.get_model_version_by_alias(some, "champion"), 20),
    }


def run(models: int, versions: int) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    results: dict[str, tuple[tuple[float, float, int], dict[str, float]]] = {}
    with temp_dir("registry") as tmp:
        repo = make_git_repo(tmp / "repo")
        with chdir(repo):
            from gittrack import Client

            ours = Client(repo)
            results["gittrack"] = (_write(ours, models, versions), _reads(ours, models, versions))
        try:
            from mlflow import MlflowClient
        except ImportError:
            print("mlflow is not installed: gittrack only")
        else:
            db = f"sqlite:///{tmp / 'mlflow.db'}"
            theirs = MlflowClient(tracking_uri=db, registry_uri=db)
            results["mlflow sqlite"] = (
                _write(theirs, models, versions),
                _reads(theirs, models, versions),
            )
    rows = []
    for system, ((wall, cpu, calls), reads) in results.items():
        rows.append(
            [
                system,
                calls,
                wall * 1000,
                cpu * 1000,
                reads["list cold"],
                reads["list"],
                reads["versions"],
                reads["by name"],
                reads["by alias"],
            ]
        )
    print_table(
        f"Registry: {models} models x {versions} versions (ms; reads are medians)",
        [
            "system",
            "write calls",
            "write/call",
            "write CPU/call",
            "list (cold)",
            "list",
            "all versions",
            "by name",
            "by alias",
        ],
        rows,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--versions", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    a = p.parse_args()
    if a.quick:
        a.models, a.versions = 4, 2
    run(a.models, a.versions)


if __name__ == "__main__":
    main()
