"""Turning run records into index rows, and the worker side of a parallel index build.

Used by :mod:`gittrack.query.index`; kept apart so worker processes import only what they need.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

# SQLite's page cache per index connection, in KiB (allocated as used): a 10,000-run build
# inserts ~25 % less CPU than with the default 2 MiB
CACHE_KIB = 65536

_RUN_COLUMNS = (
    "id, run_id, commit_sha, experiment_id, run_name, status, user_id, start_time, end_time, "
    "artifact_uri, lifecycle, heartbeat, host, pid, source_commit, source_branch, source_dirty, "
    "parent_run_id, run_json, metrics_json, params_json, tags_json"
)


RunRows = tuple[
    tuple[Any, ...],
    list[tuple[Any, ...]],
    list[tuple[str, str]],
    list[tuple[str, str]],
    list[tuple[str, str, str | None]],
]
DATASET_CONTEXT = "mlflow.data.context"  # MLflow's input tag naming what a dataset was for


def dataset_rows(inputs: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """``(name, digest, context)`` of each dataset input (context None when not tagged)."""
    rows = []
    for item in inputs:
        ds = item.get("dataset")
        if not isinstance(ds, dict):
            continue
        context = None
        for tag in item.get("tags") or []:
            if isinstance(tag, dict) and tag.get("key") == DATASET_CONTEXT:
                context = str(tag.get("value", ""))
        rows.append((str(ds.get("name", "")), str(ds.get("digest", "")), context))
    return rows


def _int_or_none(v: Any) -> int | None:
    if v.__class__ is int:  # the common case, first
        return v
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float_or_none(v: Any) -> tuple[float | None, int]:
    """(value for SQLite, is_nan): SQLite stores NaN as NULL, so NaN gets a flag."""
    if v is None:
        return None, 0
    f = float(v)
    if math.isnan(f):
        return None, 1
    return f, 0


_to_json = json.JSONEncoder(default=str, separators=(",", ":")).encode  # one encoder, reused

# run.yaml's fields that the runs row holds as columns, in the order of RECORD_SQL's columns
# after run_json. run_json keeps only the other fields (and those whose column would not
# give them back exactly), plus "~": a bit mask of the fields to take back from the
# columns (bit i: _FROM_COLUMNS[i]). run.yaml's copy was ~40 % of the runs table.
_FROM_COLUMNS = (
    "run_id", "experiment_id", "name", "status", "user", "start_time", "end_time",
    "artifact_uri", "lifecycle", "parent_run_id", "source.commit", "source.branch",
    "source.dirty",
)  # fmt: skip
# the whole run.yaml of an index row, as one JSON array (see whole_record); ``r``: runs
RECORD_SQL = (
    "json_array(json(r.run_json), r.run_id, r.experiment_id, r.run_name, r.status, r.user_id, "
    "r.start_time, r.end_time, r.artifact_uri, r.lifecycle, r.parent_run_id, r.source_commit, "
    "r.source_branch, r.source_dirty)"
)
_MASK = "~"


def _rest_of_record(run: dict[str, Any], columns: tuple[Any, ...]) -> dict[str, Any]:
    """run.yaml without the fields ``columns`` (values in _FROM_COLUMNS' order) give back
    as they are (same type, same value): what run_json stores."""
    rest = dict(run)
    src = rest.get("source")
    src = dict(src) if isinstance(src, dict) else None
    mask = 0
    for bit, (field, value) in enumerate(zip(_FROM_COLUMNS, columns, strict=True)):
        holder, key = (src, field[7:]) if field.startswith("source.") else (rest, field)
        if holder is None or key not in holder:
            continue
        got = holder[key]
        if key == "dirty":
            value = None if value is None else bool(value)
        if got.__class__ is value.__class__ and got == value:
            del holder[key]
            mask |= 1 << bit
    if src is not None:
        rest["source"] = src
    rest[_MASK] = mask
    return rest


def whole_record(doc: str) -> dict[str, Any]:
    """run.yaml's record from a :data:`RECORD_SQL` value: run_json's fields, plus those
    taken back from the columns (source.dirty as a bool)."""
    rest, *columns = json.loads(doc)
    mask = rest.pop(_MASK, 0)
    for bit, (field, value) in enumerate(zip(_FROM_COLUMNS, columns, strict=True)):
        if mask >> bit & 1:
            if field.startswith("source."):
                key = field[7:]
                rest["source"][key] = bool(value) if key == "dirty" else value
            else:
                rest[field] = value
    return rest


def record_rows(run_id: str, commit: str, record: dict[str, Any]) -> RunRows:
    """The rows of one run: (runs row without id, metric rows, param rows, tag rows,
    dataset rows).

    Values are derived exactly as :meth:`gittrack.core.reader.Store.run_from_record` derives
    them (system ``mlflow.*`` tags included), so a search shows what ``get_run`` shows.

    ``record`` comes from ``Store.read_record(commit, run_id)``, which checked its shape.

    Raises:
        ValueError/TypeError/KeyError: when the record does not have the shape of a run.
    """
    from gittrack.core.reader import system_tags
    from gittrack.core.records.formats import param_str

    run = record["run"]
    src = run.get("source") or {}
    if not isinstance(src, dict):
        raise ValueError("run.yaml: source is not a mapping")
    status = str(run["status"])
    cols = (
        run_id,
        commit,
        str(run["experiment_id"]),
        str(run.get("name") or ""),
        status,
        str(run.get("user") or ""),
        int(run["start_time"]),
        int(run["end_time"]) if run.get("end_time") is not None else None,
        str(run.get("artifact_uri") or f"runs:/{run_id}"),
        str(run.get("lifecycle") or "active"),
        _int_or_none(run.get("heartbeat")),
        None if run.get("host") is None else str(run.get("host")),
        _int_or_none(run.get("pid")),
        None if src.get("commit") is None else str(src.get("commit")),
        None if src.get("branch") is None else str(src.get("branch")),
        None if src.get("dirty") is None else int(bool(src.get("dirty"))),
        None if run.get("parent_run_id") is None else str(run.get("parent_run_id")),
    )
    # run.yaml itself (Run.record, and the derived status of live runs), less what the
    # columns give back (see whole_record)
    rest = _rest_of_record(run, (*cols[0:1], *cols[2:10], *cols[16:17], *cols[13:16]))
    runs_row = (*cols, _to_json(rest))
    metric_rows = []
    for key, m in record["metrics"].items():
        if isinstance(m, dict):
            value, is_nan = _float_or_none(float(m.get("value", math.nan)))
            mn, _ = _float_or_none(m.get("min"))
            mx, _ = _float_or_none(m.get("max"))
            step = _int_or_none(m.get("step"))
            ts = _int_or_none(m.get("timestamp"))
            count = _int_or_none(m.get("count"))
        else:
            value, is_nan, mn, mx, step, ts, count = None, 1, None, None, None, None, None
        metric_rows.append((str(key), value, is_nan, step, ts, mn, mx, count))
    params = {str(k): param_str(v) for k, v in record["params"].items()}
    tags = system_tags(run, record.get("note") or "")
    tags.update(record["tags"])
    # metrics, params and tags of the run as JSON documents: what a search returns is
    # read from here (one row per run), what it filters on from the tables
    values = {m[0]: (math.nan if m[2] else m[1]) for m in metric_rows}
    return (
        (*runs_row, _to_json(values), _to_json(params), _to_json(tags)),
        metric_rows,
        list(params.items()),
        list(tags.items()),
        dataset_rows(record.get("inputs") or []),
    )


def parse_chunk(
    gitdir: str, items: list[tuple[str, str]]
) -> tuple[list[tuple[str, str, RunRows]], list[tuple[str, str, str]]]:
    """Parse ``(run_id, sha)`` pairs; return (rows, broken). Runs in worker processes too."""
    from gittrack.core.reader import Store
    from gittrack.core.repo import Repo
    from gittrack.errors import CorruptRecord

    store = Store(Repo(gitdir))
    good: list[tuple[str, str, RunRows]] = []
    bad: list[tuple[str, str, str]] = []
    for run_id, sha in items:
        try:
            record = store.read_record(sha, run_id)
            good.append((run_id, sha, record_rows(run_id, sha, record)))
        except CorruptRecord as exc:
            bad.append((run_id, sha, exc.what))
        except Exception as exc:  # any unreadable record is reported, never fatal
            bad.append((run_id, sha, f"{type(exc).__name__}: {exc}"))
    return good, bad


def insert_rows(
    conn: sqlite3.Connection,
    first_id: int,
    good: list[tuple[str, str, RunRows]],
    bad: list[tuple[str, str, str]],
) -> None:
    """Insert parsed runs with ids from ``first_id`` on (inside the caller's transaction)."""
    run_rows: list[tuple[Any, ...]] = []
    metric_rows: list[tuple[Any, ...]] = []
    param_rows: list[tuple[int, str, Any]] = []
    tag_rows: list[tuple[int, str, Any]] = []
    dataset_rows_: list[tuple[int, str, str, str | None]] = []
    rid = first_id - 1
    for _run_id, _sha, (row, metrics, params, tags, datasets) in good:
        rid += 1
        run_rows.append((rid, *row))
        metric_rows.extend((rid, *m) for m in metrics)
        param_rows.extend((rid, k, v) for k, v in params)
        tag_rows.extend((rid, k, v) for k, v in tags)
        dataset_rows_.extend((rid, *d) for d in datasets)
    conn.executemany(f"INSERT INTO runs({_RUN_COLUMNS}) VALUES ({','.join('?' * 22)})", run_rows)
    conn.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?,?,?)", metric_rows)
    conn.executemany("INSERT INTO params VALUES (?,?,?)", param_rows)
    conn.executemany("INSERT INTO tags VALUES (?,?,?)", tag_rows)
    conn.executemany("INSERT INTO datasets VALUES (?,?,?,?)", dataset_rows_)
    conn.executemany("INSERT OR REPLACE INTO broken VALUES (?,?,?)", bad)


def parse_and_insert(
    gitdir: str, db_path: str, items: list[tuple[str, str]], first_id: int
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Worker process: parse a chunk and write it in one transaction of its own."""
    good, bad = parse_chunk(gitdir, items)
    conn = sqlite3.connect(db_path, timeout=120, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 120000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            insert_rows(conn, first_id, good, bad)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return [run_id for run_id, _, _ in good], bad
