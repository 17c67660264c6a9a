"""A real repository with varied runs for the query tests, and the brute-force truth."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from tests.conftest import git, init_project

NAN, INF = float("nan"), float("inf")
ACC = [0.1, 0.5, 0.5, 0.9, NAN, INF, -INF, 0.0, -0.0, 1e-9, None]
LR = [0.1, "0.1", 0.01, "1e-3", True, None]
OPT = ["adam", "Adam", "sgd", "a_b", "50%", "it's", "ünï", None]
TEAM = ["ml", "ML", "ops", "", None]


def make_repo(path: Path, n: int = 36, seed: int = 7) -> Path:
    """Runs over two experiments, three branches, all statuses, some deleted."""
    from gittrack.api.client import Client

    init_project(path)
    rng = random.Random(seed)
    c = Client(path)
    exp = c.create_experiment("second")
    for i in range(n):
        if i == n // 3:
            git(path, "checkout", "-q", "-b", "feature-x")
            (path / "train.py").write_text("print('feature x')\n")
            git(path, "commit", "-qam", "feature x")
        if i == 2 * n // 3:
            git(path, "checkout", "-q", "-b", "feature-y", "main")
            (path / "train.py").write_text("print('feature y')\n")
            git(path, "commit", "-qam", "feature y")
        run = c.create_run(
            exp if i % 4 == 3 else "0",
            start_time=1_000 + (i % 7),  # repeated start times: ties fall back to run_id
            run_name=rng.choice(["alpha", "beta", "Beta", "gamma delta"]),
        )
        rid = run.info.run_id
        metrics, params, tags = [], [], []
        for key, pool in (("acc", ACC), ("loss", ACC), ("a b", ACC), ("ünï", ACC)):
            v = rng.choice(pool)
            if v is not None:
                metrics.append({"key": key, "value": v, "step": 1, "timestamp": 5})
        for key, pool in (("lr", LR), ("opt", OPT), ("x.y", OPT)):
            v = rng.choice(pool)
            if v is not None:
                params.append({"key": key, "value": v})
        v = rng.choice(TEAM)
        if v is not None:
            tags.append({"key": "team", "value": v})
        c.log_batch(rid, metrics=metrics, params=params, tags=tags)
        status = rng.choice(["FINISHED", "FINISHED", "FAILED", "KILLED", None])
        if status is not None:
            c.set_terminated(rid, status, end_time=2_000 + rng.randrange(5))
        if i % 9 == 5:
            c.delete_run(rid)
    c.flush()
    git(path, "checkout", "-q", "main")
    return path


def brute_force(path: Path) -> list[dict[str, Any]]:
    """Every run read straight from its record (no index), in the reference shape."""
    from gittrack.api.client import Client

    c = Client(path)
    out = []
    for run in c.store.iter_runs():
        i = run.info
        out.append(
            {
                "run_id": i.run_id,
                "experiment_id": i.experiment_id,
                "run_name": i.run_name,
                "status": i.status,
                "user_id": i.user_id,
                "start_time": i.start_time,
                "end_time": i.end_time,
                "artifact_uri": i.artifact_uri,
                "lifecycle_stage": i.lifecycle_stage,
                "metrics": dict(run.data.metrics),
                "params": dict(run.data.params),
                "tags": dict(run.data.tags),
                "source_commit": (run.record.get("source") or {}).get("commit"),
            }
        )
    return out


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
