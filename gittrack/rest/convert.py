"""MLflow REST JSON → gittrack entities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# protobuf's JSON mapping of the non-finite doubles (the client's and the server's one copy)
SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def kv(d: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Tags or params as MLflow's REST ``[{key, value}]`` (values as strings)."""
    return [{"key": k, "value": str(v)} for k, v in (d or {}).items()]


def number(v: Any) -> float:
    if isinstance(v, str):
        return SPECIAL_DOUBLES[v] if v in SPECIAL_DOUBLES else float(v)
    return float(v)


def wire_number(v: float) -> float | str:
    """A double as protobuf's JSON mapping writes it (non-finite values as strings)."""
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def metric(d: dict[str, Any]) -> Any:
    from gittrack.core.entities import Metric

    return Metric(
        d["key"], number(d.get("value", 0.0)), int(d.get("timestamp", 0)), int(d.get("step", 0))
    )


def run(d: dict[str, Any]) -> Any:
    from gittrack.core.entities import Run, RunData, RunInfo

    info, data = d.get("info", {}), d.get("data", {})
    metrics = [metric(m) for m in data.get("metrics", [])]
    latest = {m.key: {"value": m.value, "timestamp": m.timestamp, "step": m.step} for m in metrics}
    tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
    return Run(
        info=RunInfo(
            run_id=info.get("run_id") or info.get("run_uuid", ""),
            experiment_id=str(info.get("experiment_id", "")),
            run_name=info.get("run_name") or tags.get("mlflow.runName", ""),
            user_id=info.get("user_id", ""),
            status=info.get("status", "RUNNING"),
            start_time=int(info.get("start_time", 0) or 0),
            end_time=int(info["end_time"]) if info.get("end_time") is not None else None,
            artifact_uri=info.get("artifact_uri", ""),
            lifecycle_stage=info.get("lifecycle_stage", "active"),
        ),
        data=RunData(
            metrics={m.key: m.value for m in metrics},
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            tags=tags,
        ),
        latest_metrics=latest,
    )


def experiment(d: dict[str, Any]) -> Any:
    from gittrack.core.entities import Experiment

    return Experiment(
        experiment_id=str(d["experiment_id"]),
        name=d.get("name", ""),
        artifact_location=d.get("artifact_location", ""),
        lifecycle_stage=d.get("lifecycle_stage", "active"),
        tags={t["key"]: t.get("value", "") for t in d.get("tags", [])},
        creation_time=d.get("creation_time"),
        last_update_time=d.get("last_update_time"),
    )
