"""The runs table: one row per run, refreshed incrementally, sorted and paged on the server.

Rows are cached by run ref → commit sha, so a refresh rereads only the runs
that changed since the last request. Filtering delegates to the query engine
(the MLflow search grammar); sorting and paging happen here so the browser
only ever receives one page, whatever the number of runs.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from gittrack.errors import InvalidParameter

if TYPE_CHECKING:
    from gittrack.ui.context import UIContext

ATTRIBUTES = (
    "run_name",
    "status",
    "start_time",
    "end_time",
    "duration",
    "user_id",
    "experiment_id",
    "branch",
    "commit",
    "run_id",
)
DEFAULT_ORDER = "attributes.start_time DESC"
MAX_PAGE = 1000
RECHECK_SECONDS = 10.0  # list the refs at least this often even when their folders look unchanged


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out


def make_row(run_id: str, sha: str, record: dict[str, Any], status: str) -> dict[str, Any]:
    """A table row from a store record: attributes plus params/metrics/tags maps."""
    run = record.get("run") or {}
    source = run.get("source") or {}
    start, end = run.get("start_time"), run.get("end_time")
    metrics = {}
    for key, m in (record.get("metrics") or {}).items():
        value = m.get("value") if isinstance(m, dict) else m
        v = _num(value)
        metrics[key] = None if v is None or math.isnan(v) else v
    params = {
        k: (v if isinstance(v, str) else _param_str(v))
        for k, v in (record.get("params") or {}).items()
    }
    tags = {str(k): str(v) for k, v in (record.get("tags") or {}).items()}
    return {
        "run_id": run_id,
        "run_name": run.get("name") or tags.get("mlflow.runName") or "",
        "status": status,
        "start_time": start,
        "end_time": end,
        "duration": (end - start) if isinstance(start, int) and isinstance(end, int) else None,
        "user_id": run.get("user") or "",
        "experiment_id": str(run.get("experiment_id", "0")),
        "branch": source.get("branch") or "",
        "commit": source.get("commit") or "",
        "dirty": bool(source.get("dirty")),
        "lifecycle": run.get("lifecycle") or "active",
        "artifact_uri": run.get("artifact_uri") or "",
        "parent_run_id": run.get("parent_run_id"),
        "sha": sha,
        "params": params,
        "metrics": metrics,
        "tags": tags,
    }


def _param_str(value: Any) -> str:
    from gittrack.core.records.formats import param_str

    return param_str(value)


def parse_order(order: str) -> tuple[str, str, bool]:
    """``"metrics.loss DESC"`` → ``("metrics", "loss", descending)``.

    Raises:
        InvalidParameter: the column kind or direction is unknown.
    """
    text = order.strip()
    desc = False
    upper = text.upper()
    if upper.endswith(" DESC"):
        desc, text = True, text[:-5].strip()
    elif upper.endswith(" ASC"):
        text = text[:-4].strip()
    kind, _, key = text.partition(".")
    kind = {
        "metric": "metrics",
        "param": "params",
        "tag": "tags",
        "attribute": "attributes",
        "attr": "attributes",
        "run": "attributes",
    }.get(kind, kind)
    if key.startswith("`") and key.endswith("`") and len(key) >= 2:
        key = key[1:-1]
    if kind not in ("metrics", "params", "tags", "attributes") or not key:
        raise InvalidParameter(
            f"Invalid sort column {order!r}: expected metrics.<key>, params.<key>, "
            "tags.<key> or attributes.<name>, then ASC or DESC"
        )
    if kind == "attributes" and key not in ATTRIBUTES:
        raise InvalidParameter(f"Invalid sort column {order!r}: unknown attribute {key!r}")
    return kind, key, desc


def cell(row: dict[str, Any], kind: str, key: str) -> Any:
    if kind == "attributes":
        return row.get(key)
    return row[kind].get(key)


class RunTable:
    """All runs of a repository as rows, kept in step with the run refs."""

    def __init__(self, ctx: UIContext) -> None:
        self.ctx = ctx
        self._rows: dict[str, dict[str, Any]] = {}
        self._refs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._filter_cache: dict[tuple[int, str], set[str]] = {}
        self._views: OrderedDict[tuple[Any, ...], tuple[list[dict[str, Any]], dict[str, Any]]] = (
            OrderedDict()
        )
        self._version = 0
        self._sig: tuple[object, ...] | None = None
        self._state: dict[str, tuple[str, str]] = {}
        self._checked = 0.0

    def refresh(self) -> dict[str, dict[str, Any]]:
        """Bring the rows up to date with the run refs and return them (run id -> row).

        Reads the query engine's SQLite index when it is there (it refreshes itself
        incrementally and survives restarts); otherwise rereads only the run records
        whose ref moved since the last call.
        """
        sig = self.ctx.refs_signature()
        if sig == self._sig:
            if time.monotonic() - self._checked >= RECHECK_SECONDS:
                self._recheck_in_background()
            return self._rows
        return self._refresh(sig)

    def _recheck_in_background(self) -> None:
        """Relist the runs in a thread (statuses derived from heartbeats change with time
        alone); requests meanwhile get the rows they had."""
        self._checked = time.monotonic()

        def run() -> None:
            try:
                self._refresh(self.ctx.refs_signature(), force=True)
            except Exception:  # the next request reports it
                pass

        threading.Thread(target=run, name="gittrack-ui-recheck", daemon=True).start()

    def _refresh(self, sig: tuple[object, ...], force: bool = False) -> dict[str, dict[str, Any]]:
        with self._lock:
            if not force and sig == self._sig:
                return self._rows  # another thread just did it
            rows = _rows_from_index(self.ctx)  # the index lists the refs itself
            if rows is not None:
                state = {k: (r["sha"], r["status"]) for k, r in rows.items()}
                changed = state != self._state
                self._state = state
            else:
                with self.ctx.lock:
                    refs = self.ctx.store.run_refs()
                if refs == self._refs:
                    changed = self._rederive_live()
                    rows = self._rows
                else:
                    rows = self._rows_from_records(refs)
                    self._refs = dict(refs)
                    changed = True
            if changed:
                self._rows = rows
                self._version += 1
                self._filter_cache.clear()
                self._views.clear()
            # only now: until the rows are read, other requests must wait on the lock
            self._sig, self._checked = sig, time.monotonic()
            return self._rows

    def _rederive_live(self) -> bool:
        """Recompute the status of RUNNING/CRASHED rows (a writer may have died since);
        True when one changed."""
        changed = False
        for row in self._rows.values():
            if row["status"] not in ("RUNNING", "CRASHED"):
                continue
            with self.ctx.lock:
                record = self.ctx.store.read_record(row["sha"], row["run_id"])
                status = self.ctx.store.derived_status(record.get("run") or {})
            if status != row["status"]:
                row["status"] = status
                changed = True
        return changed

    def _rows_from_records(self, refs: dict[str, str]) -> dict[str, dict[str, Any]]:
        rows = {k: v for k, v in self._rows.items() if k in refs}
        for run_id, sha in refs.items():
            old = rows.get(run_id)
            if old is not None and old["sha"] == sha:
                continue
            with self.ctx.lock:
                record = self.ctx.store.read_record(sha, run_id)
                status = self.ctx.store.derived_status(record.get("run") or {})
            rows[run_id] = make_row(run_id, sha, record, status)
        return rows

    def columns(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Every params/metrics/tags key present in ``rows``, sorted, for the column chooser,
        plus ``popular``: per kind, the keys most runs have (the default columns)."""
        from collections import Counter

        counts: dict[str, Counter[str]] = {
            "params": Counter(),
            "metrics": Counter(),
            "tags": Counter(),
        }
        for row in rows:
            for kind, counter in counts.items():
                counter.update(row[kind].keys())
        out: dict[str, Any] = {"attributes": list(ATTRIBUTES)}
        popular: dict[str, list[str]] = {}
        for kind, counter in counts.items():
            out[kind] = sorted(counter)
            popular[kind] = [
                k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
            ]
        out["popular"] = popular
        return out

    def matching_ids(self, rows: list[dict[str, Any]], filter_string: str) -> set[str] | None:
        """Ids of the ``rows`` matching an MLflow search filter (None when there is no filter).

        Raises:
            InvalidParameter: the filter has a syntax error (the message gives its position).
        """
        text = filter_string.strip()
        if not text:
            return None
        key = (self._version, text)
        hit = self._filter_cache.get(key)
        if hit is not None:
            return hit
        ids = _search_ids(self.ctx, rows, text)
        self._filter_cache.clear()
        self._filter_cache[key] = ids
        return ids

    def page(
        self,
        *,
        experiment_ids: list[str] | None = None,
        branch: str | None = None,
        filter_string: str = "",
        order_by: str = DEFAULT_ORDER,
        offset: int = 0,
        limit: int = 100,
        lifecycle: str = "active",
        keys: list[str] | None = None,
    ) -> dict[str, Any]:
        """One page of rows after filtering and sorting, with the total count.

        ``keys`` (``["metrics.loss", "params.lr", ...]``) limits each row's params,
        metrics and tags to the columns shown; None sends the default columns
        (``default_columns`` in the result). Attributes always come along.
        """
        if limit < 1 or limit > MAX_PAGE:
            raise InvalidParameter(f"Invalid page size {limit}: must be 1 to {MAX_PAGE}")
        if offset < 0:
            raise InvalidParameter(f"Invalid offset {offset}: must be ≥ 0")
        kind, key, desc = parse_order(order_by or DEFAULT_ORDER)
        all_rows = self.refresh()
        tips = self.ctx.branches() if branch else {}
        if branch and branch not in tips:
            raise InvalidParameter(f"Unknown branch {branch!r}")
        view_key = (
            self._version,
            tuple(sorted(experiment_ids or ())),
            branch,
            tips.get(branch or ""),
            lifecycle,
            filter_string.strip(),
            kind,
            key,
            desc,
        )
        hit = self._views.get(view_key)
        if hit is None:
            rows = [
                r
                for r in all_rows.values()
                if (lifecycle == "all" or r["lifecycle"] == lifecycle)
                and (not experiment_ids or r["experiment_id"] in experiment_ids)
            ]
            if branch:
                tip = tips[branch]
                rows = [r for r in rows if self.ctx.on_branch(r["commit"], tip)]
            columns = self.columns(rows)
            ids = self.matching_ids(list(all_rows.values()), filter_string)
            if ids is not None:
                rows = [r for r in rows if r["run_id"] in ids]
            hit = (sort_rows(rows, kind, key, desc), columns)
            self._views[view_key] = hit
            while len(self._views) > 16:
                self._views.popitem(last=False)
        rows, columns = hit
        defaults = default_columns(columns)
        wanted = defaults if keys is None else keys
        if kind != "attributes":
            wanted = [*wanted, f"{kind}.{key}"]
        return {
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "order_by": order_by,
            "rows": [trim_row(r, wanted) for r in rows[offset : offset + limit]],
            "columns": columns,
            "default_columns": defaults,
        }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "sha"}


DEFAULT_ATTRIBUTE_COLUMNS = [
    "attributes.start_time",
    "attributes.duration",
    "attributes.user_id",
    "attributes.branch",
    "attributes.commit",
]


def default_columns(columns: dict[str, Any]) -> list[str]:
    """The columns shown until the user picks: a few attributes, then the four metrics
    and four params most runs have."""
    popular = columns.get("popular") or {}
    return [
        *DEFAULT_ATTRIBUTE_COLUMNS,
        *(f"metrics.{k}" for k in popular.get("metrics", [])[:4]),
        *(f"params.{k}" for k in popular.get("params", [])[:4]),
    ]


def trim_row(row: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """``row`` without ``sha`` and with only the params/metrics/tags named in ``wanted``
    (a run with 1,000 params must not send them all for one table cell)."""
    keep: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
    for col in wanted:
        kind, _, key = col.partition(".")
        if kind in keep:
            keep[kind].add(key)
    out = _public(row)
    for kind, names in keep.items():
        values = row[kind]
        out[kind] = {k: values[k] for k in names if k in values}
    return out


def sort_rows(rows: list[dict[str, Any]], kind: str, key: str, desc: bool) -> list[dict[str, Any]]:
    """Sort by one column; missing values last in both directions; ties by run id."""
    present = [r for r in rows if cell(r, kind, key) is not None]
    missing = [r for r in rows if cell(r, kind, key) is None]
    numeric = all(isinstance(cell(r, kind, key), (int, float)) for r in present)

    def sort_key(r: dict[str, Any]) -> Any:
        v = cell(r, kind, key)
        return v if numeric else str(v).lower()

    present.sort(key=lambda r: r["run_id"])
    present.sort(key=sort_key, reverse=desc)
    missing.sort(key=lambda r: r["run_id"])
    return present + missing


def _search_ids(ctx: UIContext, rows: list[dict[str, Any]], filter_string: str) -> set[str]:
    """Run ids among ``rows`` matching ``filter_string``, evaluated by the query engine."""
    from gittrack.query.grammar import filter_runs, parse_filter

    clauses = parse_filter(filter_string)
    return {r["run_id"] for r in filter_runs(rows, clauses)}


def _rows_from_index(ctx: UIContext) -> dict[str, dict[str, Any]] | None:
    """All rows from the query engine's index."""
    from gittrack.core.entities import ViewType
    from gittrack.query.search import search_all

    with ctx.lock:
        found = search_all(ctx.repo, 10**9, run_view_type=ViewType.ALL)
    rows: dict[str, dict[str, Any]] = {}
    for d in found:
        start, end = d.get("start_time"), d.get("end_time")
        metrics = {}
        for key, value in (d.get("metrics") or {}).items():
            v = _num(value)
            metrics[key] = None if v is None or math.isnan(v) else v
        rows[d["run_id"]] = {
            "run_id": d["run_id"],
            "run_name": d.get("run_name") or "",
            "status": d.get("status") or "",
            "start_time": start,
            "end_time": end,
            "duration": (end - start) if isinstance(start, int) and isinstance(end, int) else None,
            "user_id": d.get("user_id") or "",
            "experiment_id": str(d.get("experiment_id", "0")),
            "branch": d.get("source_branch") or "",
            "commit": d.get("source_commit") or "",
            "dirty": bool(d.get("source_dirty")),
            "lifecycle": d.get("lifecycle_stage") or "active",
            "artifact_uri": d.get("artifact_uri") or "",
            "parent_run_id": d.get("parent_run_id"),
            "sha": d.get("commit") or "",
            "params": {k: str(v) for k, v in (d.get("params") or {}).items()},
            "metrics": metrics,
            "tags": {str(k): str(v) for k, v in (d.get("tags") or {}).items()},
        }
    return rows
