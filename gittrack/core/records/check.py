"""What a readable run record looks like: the checks every reader applies to run.yaml.

A run ref may come from anybody who can push. :class:`gittrack.core.reader.Store`
refuses a record that breaks one of these rules (``CorruptRecord``), so every face —
``get_run``, listings, search, the SQL mirror, the server, the UI — sees the same run
or the same refusal.
"""

from __future__ import annotations

from typing import Any

from gittrack.core.entities import RunStatus

LIFECYCLES = ("active", "deleted")
REQUIRED = ("run_id", "experiment_id", "status", "start_time")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def run_yaml_problem(run: dict[str, Any], run_id: str | None = None) -> str | None:
    """Why ``run`` (a parsed ``run.yaml``) is not a valid record of ``run_id``, or None.

    ``run_id`` is the id in the ref name (None when reading a bare commit).

    >>> run_yaml_problem({"run_id": "a", "experiment_id": "0", "status": "DONE",
    ...                   "start_time": 1}, "b")
    "run.yaml names run 'a', but its ref is 'b'"
    """
    for field in REQUIRED:
        if field not in run:
            return f"run.yaml has no {field!r}"
    if not isinstance(run["run_id"], str):
        return f"run.yaml run_id {run['run_id']!r} is not a string"
    if run_id is not None and run["run_id"] != run_id:
        return f"run.yaml names run {run['run_id']!r}, but its ref is {run_id!r}"
    if not isinstance(run["experiment_id"], (str, int)) or isinstance(run["experiment_id"], bool):
        return f"run.yaml experiment_id {run['experiment_id']!r} is not an id"
    if run["status"] not in RunStatus.ALL:
        return (
            f"run.yaml has an unknown status {run['status']!r} "
            f"(expected one of {', '.join(RunStatus.ALL)})"
        )
    lifecycle = run.get("lifecycle")
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        return (
            f"run.yaml has an unknown lifecycle {lifecycle!r} "
            f"(expected one of {', '.join(LIFECYCLES)})"
        )
    for field in ("start_time", "end_time", "heartbeat"):
        value = run.get(field)
        if value is None and field != "start_time":
            continue
        if not _is_int(value):
            return f"run.yaml {field} {value!r} is not a time in milliseconds"
    source = run.get("source")
    if source is not None and not isinstance(source, dict):
        return "run.yaml source is not a mapping"
    return None


def mapping_keys_problem(name: str, table: Any) -> str | None:
    """Why ``table`` (params, tags, metrics or artifacts) has a key no writer makes, or None."""
    for key in table:
        if not isinstance(key, str):
            return f"{name} has a key {key!r} that is not a string"
    return None
