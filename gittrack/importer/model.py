"""What a source yields: MLflow's experiments and runs as plain data.

Every source (SQL database, ``mlruns`` folder, tracking server) reads into these
classes; the writer and ``--verify`` only ever see them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

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
class SourceRun:
    """One MLflow run without its metric history and artifacts (read separately, in batches).

    ``latest`` holds MLflow's latest value per metric key, ``(value, step, timestamp)``:
    what the fingerprint is made of, so a re-import notices new points without reading them.
    """

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str
    lifecycle: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    latest: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    # MLflow 3 LoggedModels of this run: (name, artifact location, model id)
    models: list[tuple[str, str, str]] = field(default_factory=list)

    def fingerprint(self) -> str:
        """A short hash of everything but the full histories and artifacts; it changes
        when the run changes at the source (a new point moves ``latest``)."""
        h = hashlib.sha256()
        parts: list[Any] = [
            self.experiment_id,
            self.name,
            self.status,
            self.start_time,
            self.end_time,
            self.user,
            self.lifecycle,
            sorted(self.params.items()),
            sorted(self.tags.items()),
            sorted((k, repr(v), s, t) for k, (v, s, t) in self.latest.items()),
            self.inputs,
            self.models,
        ]
        h.update(repr(parts).encode("utf-8"))
        return h.hexdigest()[:16]


def same_value(a: float, b: float) -> bool:
    """Equal metric values, NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))
