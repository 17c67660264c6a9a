"""Turning one run record (plus its metric history) into rows of the SQL mirror.

Pure functions over plain data, no database and no git: the record is the dict
``Store.read_record`` returns (keys ``run``, ``params``, ``tags``, ``metrics``,
``note``, ``artifacts``) and the history maps a metric key to its
``(steps, values, timestamps)`` lists. Anything a database would refuse (a
string too long for its column, a NUL character, a value of the wrong type) is
refused here as :class:`gittrack.errors.BadRecord`, so one bad run is skipped instead of
aborting the whole sync.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gittrack.core.validation import artifact_entry_ok
from gittrack.errors import BadRecord

# Column order of each table, as the bulk writers send rows.
COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": (
        "run_id",
        "experiment_id",
        "run_name",
        "status",
        "user_id",
        "start_time",
        "end_time",
        "lifecycle_stage",
        "artifact_uri",
        "parent_run_id",
        "source_commit",
        "source_branch",
        "source_dirty",
        "source_remote_url",
        "host",
        "command",
        "heartbeat",
        "note",
        "commit_sha",
        "in_repository",
    ),
    "params": ("run_id", "name", "value", "value_num"),
    "tags": ("run_id", "name", "value"),
    "latest_metrics": (
        "run_id",
        "name",
        "value",
        "step",
        "timestamp",
        "min_value",
        "max_value",
        "point_count",
    ),
    "metrics": ("run_id", "name", "seq", "step", "value", "timestamp"),
    "artifacts": ("run_id", "path", "sha256", "size", "location"),
    "experiments": (
        "experiment_id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        "creation_time",
        "last_update_time",
        "description",
    ),
    "experiment_tags": ("experiment_id", "name", "value"),
    # the model registry: MLflow's tables and column names (``key`` is ``tag_key``: MySQL
    # reserves KEY); live models and versions only, as the Client lists them
    "registered_models": (
        "name",
        "creation_time",
        "last_updated_time",
        "description",
        "commit_sha",
    ),
    "model_versions": (
        "name",
        "version",
        "creation_time",
        "last_updated_time",
        "description",
        "user_id",
        "current_stage",
        "source",
        "run_id",
        "run_link",
        "status",
        "status_message",
        "model_id",
    ),
    "registered_model_tags": ("name", "tag_key", "value"),
    "model_version_tags": ("name", "version", "tag_key", "value"),
    "registered_model_aliases": ("name", "alias", "version"),
}
REGISTRY_TABLES = (
    "registered_models",
    "model_versions",
    "registered_model_tags",
    "model_version_tags",
    "registered_model_aliases",
)
CHILD_TABLES = ("params", "tags", "latest_metrics", "metrics", "artifacts")

# MySQL/MariaDB DOUBLE holds neither NaN nor infinities; for the same answers on
# every database the mirror stores NaN as NULL and +-inf as the largest double.
FLOAT_MAX = 1.7976931348623157e308
INT64 = 2**63

History = Mapping[str, tuple[Sequence[int], Sequence[float], Sequence[int]]]


@dataclass
class RunRows:
    """The rows one run contributes, per table, in :data:`COLUMNS` order."""

    run_id: str
    commit: str
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    reset_history: bool = False  # metrics rows hold the whole history, replace the old

    def count(self) -> int:
        return sum(len(v) for v in self.tables.values())


def sql_float(v: Any) -> float | None:
    """A metric value as the mirror stores it: NaN -> None, +-inf -> +-max double."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRecord(f"metric value {v!r} is not a number")
    f = float(v)
    if f != f:
        return None
    if f in (math.inf, -math.inf):
        return FLOAT_MAX if f > 0 else -FLOAT_MAX
    return f


def _int(v: Any, what: str, *, optional: bool = True) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not -INT64 <= v < INT64:
        raise BadRecord(f"{what} is {v!r}, not a 64-bit integer")
    return v


def _text(v: Any, what: str, limit: int | None = None, *, optional: bool = True) -> str | None:
    """``v`` as a string a database accepts (no NUL, valid UTF-8, within ``limit``)."""
    if v is None:
        if optional:
            return None
        raise BadRecord(f"{what} is missing")
    if isinstance(v, (list, tuple)) and what == "command":
        v = shlex.join(str(p) for p in v)
    s = v if type(v) is str else str(v)
    if "\x00" in s:
        raise BadRecord(f"{what} contains a NUL character")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRecord(f"{what} is not valid Unicode: {exc.reason}") from exc
    if limit is not None and len(s) > limit:
        raise BadRecord(f"{what} is {len(s)} characters long, over the limit of {limit}")
    return s


def _param_text(v: Any) -> str:
    """MLflow's string form of a typed param value (YAML kept its type)."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    return v if type(v) is str else str(v)


def _param_num(v: Any) -> float | None:
    """The numeric value of a param, when it is (or spells) a finite number."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str) and "_" not in v:
        try:
            f = float(v)
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def run_rows(
    run_id: str,
    commit: str,
    record: Mapping[str, Any],
    history: History,
    status: str | None = None,
) -> RunRows:
    """All mirror rows of one run.

    Args:
        run_id: the run id from the ref name; the record must agree.
        commit: the run commit the record was read from.
        record: ``Store.read_record(commit)``.
        history: metric key -> (steps, values, timestamps) of the full history;
            keys missing here get no history rows.
        status: the status to store (e.g. ``Store.derived_status``: CRASHED for
            a stale RUNNING run); default the record's.

    Returns:
        :class:`RunRows`.

    Raises:
        BadRecord: the record misses a required field or holds a value the
            mirror cannot store; the message names it.
    """
    run = record.get("run")
    if not isinstance(run, Mapping):
        raise BadRecord("run.yaml is missing or not a mapping")
    rid = run.get("run_id", run_id)
    if rid != run_id:
        raise BadRecord(f"run.yaml says run_id {rid!r}, but its ref names {run_id!r}")
    source = run.get("source") or {}
    if not isinstance(source, Mapping):
        raise BadRecord("run.yaml source is not a mapping")
    dirty = source.get("dirty")
    lifecycle = _text(run.get("lifecycle") or "active", "lifecycle", 16)
    if lifecycle not in ("active", "deleted"):
        raise BadRecord(f"lifecycle is {lifecycle!r}, not active or deleted")
    out = RunRows(run_id, commit)
    out.tables["runs"] = [
        (
            run_id,
            _text(run.get("experiment_id", "0"), "experiment_id", 64, optional=False),
            _text(run.get("name"), "name", 250),
            _text(status or run.get("status"), "status", 16, optional=False),
            _text(run.get("user"), "user", 250),
            _int(run.get("start_time"), "start_time"),
            _int(run.get("end_time"), "end_time"),
            lifecycle,
            _text(run.get("artifact_uri"), "artifact_uri"),
            _text(run.get("parent_run_id"), "parent_run_id", 256),
            _text(source.get("commit"), "source.commit", 64),
            _text(source.get("branch"), "source.branch", 250),
            None if dirty is None else bool(dirty),
            _text(source.get("remote_url"), "source.remote_url"),
            _text(run.get("host"), "host", 250),
            _text(run.get("command"), "command"),
            _int(run.get("heartbeat"), "heartbeat"),
            _text(record.get("note") or None, "note"),
            commit,
            True,
        )
    ]
    params = record.get("params") or {}
    tags = record.get("tags") or {}
    metrics = record.get("metrics") or {}
    # the one rule set every reader of artifact entries applies: the run is mirrored,
    # entries that break it are not (they are refused wherever they would be used)
    raw = record.get("artifacts") or {}
    if not isinstance(raw, Mapping):
        raise BadRecord("artifacts is not a mapping")
    artifacts = {p: a for p, a in raw.items() if artifact_entry_ok(p, a)}
    for name, value in (("params", params), ("tags", tags), ("metrics", metrics)):
        if not isinstance(value, Mapping):
            raise BadRecord(f"{name} is not a mapping")

    out.tables["params"] = [
        (
            run_id,
            _text(k, "param key", 250),
            _text(_param_text(v), f"param {k!r}", 6000),
            _param_num(v),
        )
        for k, v in params.items()
    ]
    out.tables["tags"] = [
        (run_id, _text(k, "tag key", 250), _text(v, f"tag {k!r}", 8000, optional=False))
        for k, v in tags.items()
    ]
    latest = []
    for k, m in metrics.items():
        if not isinstance(m, Mapping):
            raise BadRecord(f"metric {k!r} summary is not a mapping")
        latest.append(
            (
                run_id,
                _text(k, "metric key", 250),
                sql_float(m.get("value")),
                _int(m.get("step", 0), f"metric {k!r} step", optional=False),
                _int(m.get("timestamp", 0), f"metric {k!r} timestamp", optional=False),
                sql_float(m.get("min")),
                sql_float(m.get("max")),
                _int(m.get("count", 1), f"metric {k!r} count", optional=False),
            )
        )
    out.tables["latest_metrics"] = latest
    out.tables["metrics"] = history_rows(run_id, history)
    arts = []
    for path, a in artifacts.items():
        arts.append(
            (
                run_id,
                _text(path, "artifact path", optional=False),
                _text(a.get("sha256"), f"artifact {path!r} sha256", 64),
                _int(a.get("size"), f"artifact {path!r} size"),
                _text(a.get("where"), f"artifact {path!r} where", 16),
            )
        )
    out.tables["artifacts"] = arts
    return out


def history_rows(run_id: str, history: History, start: Mapping[str, int] | None = None) -> list:
    """Rows of ``metrics`` for the full histories (seq counts from 0 per key).

    Args:
        start: key -> seq of the first point in ``history`` (when only the tail
            of a history was read); default 0.
    """
    rows: list[tuple[Any, ...]] = []
    for key, (steps, values, stamps) in history.items():
        name = _text(key, "metric key", 250)
        first = (start or {}).get(key, 0)
        if not len(steps) == len(values) == len(stamps):
            raise BadRecord(f"metric {key!r} history columns differ in length")
        vals: Sequence[float | None] = values
        if any(v != v or v in (math.inf, -math.inf) for v in values):
            vals = [sql_float(v) for v in values]
        rows.extend(
            zip(
                [run_id] * len(steps),
                [name] * len(steps),
                range(first, first + len(steps)),
                steps,
                vals,
                stamps,
                strict=True,
            )
        )
    return rows


def experiment_rows(experiments: Mapping[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of ``experiments`` and ``experiment_tags`` from ``experiments.yaml``.

    Raises:
        BadRecord: an experiment entry is not a mapping or holds a bad value.
    """
    exps: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for eid, e in experiments.items():
        if not isinstance(e, Mapping):
            raise BadRecord(f"experiment {eid!r} is not a mapping")
        eid_s = _text(eid, "experiment id", 64, optional=False)
        exps.append(
            (
                eid_s,
                _text(e.get("name"), f"experiment {eid!r} name", 500, optional=False),
                _text(e.get("artifact_location"), "artifact_location"),
                _text(e.get("lifecycle_stage") or "active", "lifecycle_stage", 16),
                _int(e.get("creation_time"), "creation_time"),
                _int(e.get("last_update_time"), "last_update_time"),
                _text(e.get("description"), "description"),
            )
        )
        etags = e.get("tags") or {}
        if not isinstance(etags, Mapping):
            raise BadRecord(f"experiment {eid!r} tags is not a mapping")
        tags.extend(
            (eid_s, _text(k, "experiment tag key", 250), _text(v, f"experiment tag {k!r}"))
            for k, v in etags.items()
        )
    return {"experiments": exps, "experiment_tags": tags}


def registry_rows(
    model: Any, versions: Sequence[Any], commit: str
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of the five registry tables for one live registered model.

    Args:
        model: the :class:`gittrack.core.entities.RegisteredModel` the Client returns.
        versions: its live :class:`gittrack.core.entities.ModelVersion` s.
        commit: the registry commit the rows were read from.

    Raises:
        BadRecord: a value the database cannot hold (too long, NUL, not an integer).
    """
    name = _text(model.name, "registered model name", 256, optional=False)
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in REGISTRY_TABLES}
    out["registered_models"].append(
        (
            name,
            _int(model.creation_timestamp, "creation_timestamp"),
            _int(model.last_updated_timestamp, "last_updated_timestamp"),
            _text(model.description, "description"),
            commit,
        )
    )
    out["registered_model_tags"] = [
        (name, _text(k, "tag key", 250, optional=False), _text(v, f"tag {k!r}"))
        for k, v in sorted(model.tags.items())
    ]
    out["registered_model_aliases"] = [
        (name, _text(a, "alias", 256, optional=False), _int(int(v), f"alias {a!r}"))
        for a, v in sorted(model.aliases.items())
    ]
    for mv in versions:
        n = _int(int(mv.version), "version", optional=False)
        what = f"version {n}"
        out["model_versions"].append(
            (
                name,
                n,
                _int(mv.creation_timestamp, f"{what} creation_timestamp"),
                _int(mv.last_updated_timestamp, f"{what} last_updated_timestamp"),
                _text(mv.description, f"{what} description"),
                _text(mv.user_id, f"{what} user_id", 250),
                _text(mv.current_stage, f"{what} current_stage", 20),
                _text(mv.source, f"{what} source"),
                _text(mv.run_id, f"{what} run_id", 256),
                _text(mv.run_link, f"{what} run_link"),
                _text(mv.status, f"{what} status", 20),
                _text(mv.status_message, f"{what} status_message"),
                _text(mv.model_id, f"{what} model_id", 64),
            )
        )
        out["model_version_tags"].extend(
            (name, n, _text(k, f"{what} tag key", 250, optional=False), _text(v, f"{what} tag"))
            for k, v in sorted(mv.tags.items())
        )
    return out
