"""MLflow-shaped value objects: Run, RunInfo, RunData, Metric, Param, RunTag, Experiment,
and the registry's RegisteredModel and ModelVersion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RunStatus:
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CRASHED = "CRASHED"  # derived: RUNNING in the record, but its writer is gone

    ALL = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")  # what a record may hold
    SHOWN = (*ALL, CRASHED)  # what a reader may show
    TERMINAL = ("FINISHED", "FAILED", "KILLED")

    @staticmethod
    def is_terminated(status: str) -> bool:
        return status in RunStatus.TERMINAL


class ViewType:
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}

    @classmethod
    def from_any(cls, v: Any) -> int:
        if isinstance(v, str):
            try:
                return cls._NAMES[v.upper()]
            except KeyError as exc:
                from gittrack.errors import InvalidParameter

                raise InvalidParameter(f"Invalid run_view_type {v!r}") from exc
        return int(v) if v is not None else cls.ACTIVE_ONLY


class Metric:
    """One metric point. ``__slots__`` keep a million of them cheap."""

    __slots__ = ("key", "value", "timestamp", "step")

    def __init__(self, key: str, value: float, timestamp: int, step: int) -> None:
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.step = step

    def __repr__(self) -> str:
        return (
            f"<Metric: key={self.key!r}, value={self.value!r}, "
            f"timestamp={self.timestamp}, step={self.step}>"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            self.value != self.value and other.value != other.value
        )
        return (
            self.key == other.key
            and same_value
            and self.timestamp == other.timestamp
            and self.step == other.step
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "timestamp": self.timestamp,
            "step": self.step,
        }


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunHeader:
    """Who a run written whole is and when it ran: the first fields of both
    :class:`gittrack.core.bulk.FinishedRun` (what is written) and
    :class:`gittrack.importer.model.SourceRun` (what another tracker holds)."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str


@dataclass
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """A run as MLflow shows it (``info`` + ``data``), plus gittrack's ``record``."""

    info: RunInfo
    data: RunData
    record: dict[str, Any] = field(default_factory=dict, repr=False)
    latest_metrics: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    commit: str = ""

    @property
    def source(self) -> dict[str, Any]:
        return self.record.get("source") or {}

    def to_dict(self) -> dict[str, Any]:
        """The MLflow REST ``Run`` shape."""
        i = self.info
        return {
            "info": {
                "run_id": i.run_id,
                "run_uuid": i.run_id,
                "run_name": i.run_name,
                "experiment_id": i.experiment_id,
                "user_id": i.user_id,
                "status": "RUNNING" if i.status == RunStatus.CRASHED else i.status,
                "start_time": i.start_time,
                **({"end_time": i.end_time} if i.end_time is not None else {}),
                "artifact_uri": i.artifact_uri,
                "lifecycle_stage": i.lifecycle_stage,
            },
            "data": {
                "metrics": [
                    {"key": k, "value": m["value"], "timestamp": m["timestamp"], "step": m["step"]}
                    for k, m in self.latest_metrics.items()
                ],
                "params": [{"key": k, "value": v} for k, v in self.data.params.items()],
                "tags": [{"key": k, "value": v} for k, v in self.data.tags.items()],
            },
            "inputs": {},
        }


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str = ""
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass
class ModelVersion:
    """A version of a registered model, with MLflow's attribute names (``version`` a string,
    as MLflow's REST and entity give it)."""

    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = "None"
    source: str | None = None
    run_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None
    signature: dict[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The MLflow REST ``ModelVersion`` shape (tags as ``[{key, value}]``)."""
        return _drop_none(
            {
                "name": self.name,
                "version": str(self.version),
                "creation_timestamp": self.creation_timestamp,
                "last_updated_timestamp": self.last_updated_timestamp,
                "user_id": self.user_id,
                "current_stage": self.current_stage,
                "description": self.description,
                "source": self.source,
                "run_id": self.run_id,
                "status": self.status,
                "status_message": self.status_message,
                "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
                "run_link": self.run_link,
                "aliases": list(self.aliases),
                "model_id": self.model_id,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelVersion:
        """The inverse of :meth:`to_dict`: a version from MLflow's REST JSON."""
        return cls(
            name=d["name"],
            version=str(d["version"]),
            creation_timestamp=_int_or_none(d.get("creation_timestamp")),
            last_updated_timestamp=_int_or_none(d.get("last_updated_timestamp")),
            description=d.get("description"),
            user_id=d.get("user_id"),
            current_stage=d.get("current_stage") or "None",
            source=d.get("source"),
            run_id=d.get("run_id"),
            status=d.get("status") or "READY",
            status_message=d.get("status_message"),
            tags={t["key"]: t.get("value", "") for t in d.get("tags") or []},
            run_link=d.get("run_link"),
            aliases=list(d.get("aliases") or []),
            model_id=d.get("model_id"),
        )


@dataclass
class RegisteredModel:
    """A registered model, with MLflow's attribute names: ``aliases`` maps alias -> version
    (a string), ``latest_versions`` the newest version of each stage."""

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The MLflow REST ``RegisteredModel`` shape (aliases as ``[{alias, version}]``)."""
        return _drop_none(
            {
                "name": self.name,
                "creation_timestamp": self.creation_timestamp,
                "last_updated_timestamp": self.last_updated_timestamp,
                "description": self.description,
                "latest_versions": [v.to_dict() for v in self.latest_versions],
                "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
                "aliases": [{"alias": a, "version": str(v)} for a, v in self.aliases.items()],
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegisteredModel:
        """The inverse of :meth:`to_dict`: a registered model from MLflow's REST JSON."""
        return cls(
            name=d["name"],
            creation_timestamp=_int_or_none(d.get("creation_timestamp")),
            last_updated_timestamp=_int_or_none(d.get("last_updated_timestamp")),
            description=d.get("description"),
            latest_versions=[ModelVersion.from_dict(v) for v in d.get("latest_versions") or []],
            tags={t["key"]: t.get("value", "") for t in d.get("tags") or []},
            aliases={a["alias"]: str(a["version"]) for a in d.get("aliases") or []},
        )
