"""What a source yields: MLflow's experiments and runs as plain data.

Every source (SQL database, ``mlruns`` folder, tracking server) reads into these
classes; the writer and ``--verify`` only ever see them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from gittrack.core.entities import RunHeader

# the plain fields a fingerprint covers, in the order it has always hashed them (a new order
# would make every imported run look changed)
_MODEL_SCALARS = attrgetter(
    "model_id", "name", "artifact_location", "status", "status_message", "model_type",
    "creation_time", "last_updated_time", "lifecycle",
)  # fmt: skip
_RUN_SCALARS = attrgetter(
    "experiment_id", "name", "status", "start_time", "end_time", "user", "lifecycle"
)

# one metric point as MLflow stores it: (key, value, step, timestamp)
Point = tuple[str, float, int, int]


@dataclass
class SourceExperiment:
    """One MLflow experiment."""

    experiment_id: str
    name: str
    lifecycle: str = "active"
    artifact_location: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None


@dataclass
class SourceModel:
    """One MLflow 3 LoggedModel of a run, with its own params, tags and metrics.

    ``metrics`` are MLflow's points as gittrack's model record keeps them: dicts with
    ``key, value, timestamp, step`` and, when MLflow has them, ``run_id``,
    ``dataset_name``, ``dataset_digest``."""

    model_id: str
    name: str
    artifact_location: str
    status: str = "READY"  # PENDING, READY or FAILED
    status_message: str | None = None
    model_type: str | None = None
    creation_time: int | None = None
    last_updated_time: int | None = None
    lifecycle: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def fingerprint_parts(self) -> list[Any]:
        return [
            *_MODEL_SCALARS(self),
            sorted(self.tags.items()),
            sorted(self.params.items()),
            sorted(tuple(sorted((k, repr(v)) for k, v in m.items())) for m in self.metrics),
        ]


def model_status(value: Any) -> str:
    """PENDING, READY or FAILED from MLflow's int, enum or proto name (PENDING when
    MLflow left it unspecified)."""
    from gittrack.core.logged_models import status_from_any
    from gittrack.errors import InvalidParameter

    if isinstance(value, str) and value.isdigit():
        value = int(value)
    try:
        return status_from_any(str(value).rsplit(".", 1)[-1] if isinstance(value, str) else value)
    except InvalidParameter:
        return "PENDING"


def model_point(
    key: Any,
    value: Any,
    timestamp: Any,
    step: Any,
    run_id: Any = None,
    dataset_name: Any = None,
    dataset_digest: Any = None,
) -> dict[str, Any]:
    """One LoggedModel metric point as gittrack's model record keeps it (None value: NaN)."""
    point: dict[str, Any] = {
        "key": str(key),
        "value": math.nan if value is None else float(value),
        "timestamp": int(timestamp or 0),
        "step": int(step or 0),
    }
    for name, v in (
        ("run_id", run_id),
        ("dataset_name", dataset_name),
        ("dataset_digest", dataset_digest),
    ):
        if v:
            point[name] = str(v)
    return point


@dataclass
class SourceRun(RunHeader):
    """One MLflow run without its metric history and artifacts (read separately, in batches).

    ``latest`` holds MLflow's latest value per metric key, ``(value, step, timestamp)``:
    what the fingerprint is made of, so a re-import notices new points without reading them.
    Its first fields are :class:`~gittrack.core.entities.RunHeader`'s.
    """

    lifecycle: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    latest: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    # MLflow 3 LoggedModels this run logged (their source run)
    models: list[SourceModel] = field(default_factory=list)

    def fingerprint(self) -> str:
        """A short hash of everything but the full histories and artifacts; it changes
        when the run changes at the source (a new point moves ``latest``)."""
        h = hashlib.sha256()
        parts: list[Any] = [
            *_RUN_SCALARS(self),
            sorted(self.params.items()),
            sorted(self.tags.items()),
            sorted((k, repr(v), s, t) for k, (v, s, t) in self.latest.items()),
            self.inputs,
            [m.fingerprint_parts() for m in self.models],
        ]
        h.update(repr(parts).encode("utf-8"))
        return h.hexdigest()[:16]


def same_value(a: float, b: float) -> bool:
    """Equal metric values, NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))
