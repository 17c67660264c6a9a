"""The query engine: MLflow's filter/order grammar compiled to parameterised SQL over the index.

:func:`search` returns plain run dicts (the shape :mod:`gittrack.query.grammar`'s reference
evaluator reads); :mod:`gittrack.query.search` turns them into MLflow's DataFrame or
``Run`` objects. Values never enter the SQL text: keys and values are bound
parameters; only fixed column names and operators are written into the query.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.errors import InvalidParameter
from gittrack.query.grammar import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    PARAM,
    Clause,
    OrderKey,
    bind_number,
    parse_filter,
    parse_order_by,
)
from gittrack.query.pages import check_max_results, decode_token, encode_token
from gittrack.query.rows import RECORD_SQL, whole_record

if TYPE_CHECKING:
    from gittrack.query.index import Index

_ATTR_COLUMNS = {
    "run_id": "r.run_id",
    "run_name": "r.run_name",
    "status": "coalesce(lv.status, r.status)",
    "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
}
# order_by also takes the columns the web UI's runs table shows (gittrack extensions)
_ORDER_COLUMNS = {
    **_ATTR_COLUMNS,
    "experiment_id": "r.experiment_id",
    "duration": "(r.end_time - r.start_time)",
    "source_branch": "r.source_branch",
    "source_commit": "r.source_commit",
}
# columns the index never leaves NULL: ordering by them needs no "IS NULL" term, so
# SQLite can read the default order (and LIMIT) straight from the runs_order index
_NOT_NULL = ("r.run_id", "r.start_time")
_TIEBREAK = (("r.start_time", "DESC"), ("r.run_id", "ASC"))
_TABLES = {METRIC: "metrics", PARAM: "params", "tag": "tags"}
_CMP = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_LIFECYCLES = {1: ("active",), 2: ("deleted",), 3: ("active", "deleted")}


@dataclass
class SearchPage:
    """One page of results: run dicts in order, and the token of the next page (or None)."""

    runs: list[dict[str, Any]]
    token: str | None = None
    branches: dict[str, str] = field(default_factory=dict)  # name -> tip, when asked
    broken: dict[str, str] = field(default_factory=dict)  # run_id -> why it was left out
    total: int | None = None  # runs matching on all pages, when asked (with_total)
    keys: dict[str, dict[str, int]] | None = None  # key_counts(), when asked (with_keys)
    pending: int = 0  # runs not indexed yet: a background build is under way


ALL_KINDS = ("metrics", "params", "tags")
_OUT_COLUMNS = (
    "r.id, r.run_id, r.experiment_id, r.run_name, coalesce(lv.status, r.status), "
    "r.user_id, r.start_time, r.end_time, r.artifact_uri, r.lifecycle, r.commit_sha, "
    "r.source_commit, r.source_branch, r.source_dirty, r.parent_run_id, {}, {}, {}, {}"
)


def _conditions(
    clauses: Sequence[Clause],
    experiment_ids: Sequence[str] | None,
    lifecycles: Sequence[str],
) -> tuple[list[str], list[Any], list[str], list[Any]]:
    """``(joins, join parameters, where terms, where parameters)`` selecting the runs of
    ``experiment_ids`` (None: all) in ``lifecycles`` that satisfy every clause."""
    joins: list[str] = []
    join_params: list[Any] = []
    where: list[str] = []
    where_params: list[Any] = []
    if lifecycles != ("active", "deleted"):
        where.append(f"r.lifecycle IN ({','.join('?' * len(lifecycles))})")
        where_params.extend(lifecycles)
    if experiment_ids is not None:
        where.append(f"r.experiment_id IN ({','.join('?' * len(experiment_ids))})")
        where_params.extend(experiment_ids)
    for n, c in enumerate(clauses):
        if c.kind == ATTRIBUTE:
            col = _ATTR_COLUMNS[c.key]
            if c.op in ("IN", "NOT IN"):
                marks = ",".join("?" * len(c.value))
                # NOT IN on a NULL column is NULL (false), as the reference says
                where.append(f"{col} {c.op} ({marks})")
                where_params.extend(c.value)
            elif c.op in ("LIKE", "ILIKE"):
                where.append(f"gt_{c.op.lower()}({col}, ?)")
                where_params.append(c.value)
            else:
                where.append(f"{col} {_CMP[c.op]} ?")
                where_params.append(
                    bind_number(c.value) if not isinstance(c.value, str) else c.value
                )
            continue
        if c.kind == DATASET:
            # a run matches when one of its dataset inputs does
            col = f"d.{c.key}"
            if c.op in ("IN", "NOT IN"):
                test = f"{col} {c.op} ({','.join('?' * len(c.value))})"
                where_params.extend(c.value)
            elif c.op in ("LIKE", "ILIKE"):
                test = f"gt_{c.op.lower()}({col}, ?)"
                where_params.append(c.value)
            else:
                test = f"{col} {_CMP[c.op]} ?"
                where_params.append(c.value)
            where.append(f"EXISTS (SELECT 1 FROM datasets d WHERE d.rid = r.id AND {test})")
            continue
        table = _TABLES[c.kind]
        if c.op in ("IS NULL", "IS NOT NULL"):
            neg = "NOT " if c.op == "IS NULL" else ""
            where.append(f"{neg}EXISTS (SELECT 1 FROM {table} x WHERE x.rid = r.id AND x.key = ?)")
            where_params.append(c.key)
            continue
        alias = f"f{n}"
        joins.append(f"JOIN {table} {alias} ON {alias}.rid = r.id AND {alias}.key = ?")
        join_params.append(c.key)
        if c.op in ("LIKE", "ILIKE"):
            where.append(f"gt_{c.op.lower()}({alias}.value, ?)")
            where_params.append(c.value)
        elif c.kind == METRIC:
            v = float(c.value)
            if c.op == "!=":
                # NaN != x is true in Python (and in MLflow's file store)
                where.append(f"({alias}.value != ? OR {alias}.is_nan)")
            else:
                where.append(f"{alias}.value {_CMP[c.op]} ?")
            where_params.append(v)
        else:
            where.append(f"{alias}.value {_CMP[c.op]} ?")
            where_params.append(c.value)
    return joins, join_params, where, where_params


def _from(on_branch: bool, joins: Sequence[str], where: Sequence[str]) -> str:
    """``FROM runs r`` with the live status, the branch filter, ``joins`` and ``where``."""
    sql = "FROM runs r LEFT JOIN temp.live lv ON lv.rid = r.id"
    if on_branch:
        sql += " JOIN temp.onbranch ob ON ob.commit_sha = r.source_commit"
    return " ".join([sql, *joins] + (["WHERE " + " AND ".join(where)] if where else []))


def compile_query(
    clauses: Sequence[Clause],
    order: Sequence[OrderKey],
    experiment_ids: Sequence[str] | None,
    lifecycles: Sequence[str],
    on_branch: bool = False,
) -> tuple[str, list[Any]]:
    """SQL selecting the ids (and branch lists) of the matching runs in order, plus its
    parameters. Sorting ids alone keeps the sort small; :func:`fetch_runs` reads the rest.

    The result ends with ``LIMIT ? OFFSET ?`` whose values the caller appends.
    """
    joins, join_params, where, where_params = _conditions(clauses, experiment_ids, lifecycles)
    order_sql: list[str] = []
    order_joins: list[str] = []
    order_params: list[Any] = []
    ordered: set[str] = set()
    for n, o in enumerate(order):
        direction = "ASC" if o.ascending else "DESC"
        if o.kind == ATTRIBUTE:
            col = _ORDER_COLUMNS[o.key]
            if col not in ordered:  # a second key on a column changes nothing
                ordered.add(col)
                if col not in _NOT_NULL:
                    order_sql.append(f"{col} IS NULL")
                order_sql.append(f"{col} {direction}")
            continue
        alias = f"o{n}"
        order_joins.append(
            f"LEFT JOIN {_TABLES[o.kind]} {alias} ON {alias}.rid = r.id AND {alias}.key = ?"
        )
        order_params.append(o.key)
        if o.kind == METRIC:
            order_sql.append(
                f"CASE WHEN {alias}.value IS NOT NULL THEN 0 WHEN {alias}.is_nan THEN 1 ELSE 2 END"
            )
        else:
            order_sql.append(f"{alias}.rid IS NULL")
        order_sql.append(f"{alias}.value {direction}")
    # ties: newest first, then by run id (the runs_order index serves this order)
    order_sql += [f"{c} {d}" for c, d in _TIEBREAK if c not in ordered]
    select = "SELECT r.id" + (", ob.branches" if on_branch else "")
    body = _from(on_branch, [*joins, *order_joins], where)
    sql = f"{select} {body} ORDER BY {', '.join(order_sql)} LIMIT ? OFFSET ?"
    return sql, join_params + order_params + where_params


def compile_count(
    clauses: Sequence[Clause],
    experiment_ids: Sequence[str] | None,
    lifecycles: Sequence[str],
    on_branch: bool = False,
) -> tuple[str, list[Any]]:
    """SQL counting the runs :func:`compile_query` selects (all pages), plus its parameters."""
    joins, join_params, where, where_params = _conditions(clauses, experiment_ids, lifecycles)
    return f"SELECT count(*) {_from(on_branch, joins, where)}", join_params + where_params


def key_counts(
    index: Index,
    experiment_ids: Sequence[str] | None,
    lifecycles: Sequence[str],
    tips: dict[str, str] | None = None,
) -> dict[str, dict[str, int]]:
    """``{"metrics"|"params"|"tags": {key: number of runs having it}}`` over the runs of
    ``experiment_ids`` in ``lifecycles`` (and, with ``tips``, on the branches prepared
    for them), whatever the filter. Kept until the index changes; without branches
    counted on the columnar cache (:mod:`gittrack.query.columns`), with them in SQL (a
    scan of every key of every run)."""
    _, _, where, params = _conditions((), experiment_ids, lifecycles)

    def count() -> dict[str, dict[str, int]]:
        if tips is None:  # on the columns: no scan of every key of every run
            from gittrack.query import columns

            return columns.key_counts(index, experiment_ids, lifecycles)
        out: dict[str, dict[str, int]] = {}
        for kind in ALL_KINDS:
            body = _from(tips is not None, [f"JOIN {kind} x ON x.rid = r.id"], where)
            sql = f"SELECT x.key, count(*) {body} GROUP BY x.key"
            out[kind] = dict(index.conn.execute(sql, params))
        return out

    branches = None if tips is None else tuple(sorted(tips.items()))
    key = ("key_counts", None if experiment_ids is None else tuple(experiment_ids))
    counts: dict[str, dict[str, int]] = index.memoized((*key, tuple(lifecycles), branches), count)
    return counts


def _prepare_live(index: Index) -> None:
    """Fill ``temp.live`` with the derived status (e.g. CRASHED) of runs recorded as live."""
    from gittrack.core.reader import Store

    conn = index.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS live(rid INTEGER PRIMARY KEY, status TEXT)")
    conn.execute("DELETE FROM temp.live")
    rows = conn.execute(
        f"SELECT r.id, {RECORD_SQL} FROM runs r WHERE r.status = 'RUNNING'"
    ).fetchall()
    if not rows:
        return
    store = Store(index.repo)
    live = []
    for rid, doc in rows:
        run = whole_record(doc)
        status = store.derived_status(run)
        if status != run.get("status"):
            live.append((rid, status))
    conn.executemany("INSERT INTO temp.live VALUES (?, ?)", live)


def _prepare_branches(index: Index, branches: str | Sequence[str]) -> dict[str, str]:
    from gittrack.query.branches import reachable_sources, resolve_branches

    tips = resolve_branches(index.repo, branches)
    conn = index.conn
    sources = [
        s
        for (s,) in conn.execute(
            "SELECT DISTINCT source_commit FROM runs WHERE source_commit IS NOT NULL"
        )
    ]
    reach = reachable_sources(index, tips, sources)
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS onbranch(commit_sha TEXT PRIMARY KEY, branches TEXT)"
    )
    conn.execute("DELETE FROM temp.onbranch")
    conn.executemany(
        "INSERT INTO temp.onbranch VALUES (?, ?)", ((s, "\x1f".join(b)) for s, b in reach.items())
    )
    return tips


@dataclass
class Plan:
    """A search compiled and prepared on one index connection: :meth:`ids` runs it."""

    clauses: list[Clause]
    exp_ids: list[str] | None
    lifecycles: tuple[str, ...]
    on_branch: bool
    tips: dict[str, str]
    sql: str
    params: list[Any]
    max_results: int
    offset: int

    def ids(self, index: Index) -> tuple[list[tuple[Any, ...]], str | None]:
        """``(rows, next page token)``: rows are ``(id,)``, or ``(id, branches)`` on branches."""
        rows = index.conn.execute(
            self.sql, (*self.params, self.max_results + 1, self.offset)
        ).fetchall()
        token = (
            encode_token(self.offset + self.max_results) if len(rows) > self.max_results else None
        )
        return rows[: self.max_results], token


def plan(
    index: Index,
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str | None = "",
    run_view_type: Any = 1,
    max_results: int = 1000,
    order_by: Sequence[str] | str | None = None,
    page_token: str | None = None,
    branches: str | Sequence[str] | None = None,
) -> Plan:
    """Validate a search, compile it to SQL and prepare the connection's temporary tables
    (live status, branches) for it. :func:`search` and the DataFrame path
    (:mod:`gittrack.query.frames`) both select their runs this way.

    Raises:
        InvalidParameter: for a bad filter, order_by, max_results, page token or branch.
    """
    from gittrack.core.entities import ViewType

    clauses = parse_filter(filter_string)
    order = parse_order_by(order_by)
    check_max_results(max_results)
    offset = decode_token(page_token)
    lifecycles = _LIFECYCLES.get(ViewType.from_any(run_view_type))
    if lifecycles is None:
        raise InvalidParameter(f"Invalid run_view_type {run_view_type!r}")
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [experiment_ids]
    exp_ids = None if experiment_ids is None else [str(e) for e in experiment_ids]
    _prepare_live(index)
    tips: dict[str, str] = {}
    if branches is not None:
        tips = _prepare_branches(index, branches)
    on_branch = branches is not None
    sql, params = compile_query(clauses, order, exp_ids, lifecycles, on_branch=on_branch)
    return Plan(clauses, exp_ids, lifecycles, on_branch, tips, sql, params, max_results, offset)


def search(
    index: Index,
    *query: Any,
    with_record: bool = False,
    kinds: Sequence[str] = ALL_KINDS,
    with_total: bool = False,
    with_keys: bool = False,
    **named: Any,
) -> SearchPage:
    """Search the (already refreshed) index: the runs :func:`plan` selects (``query`` and
    ``named`` are its arguments after the index), as run dicts.

    Args:
        experiment_ids: experiments to search; ``None`` searches all of them.
        branches: keep runs whose source commit is reachable from one of these
            branch tips (``"*"``: all local and remote-tracking branches); each run
            dict then has ``branches``, the names that reach it.
        with_record: also load each run's run.yaml (``record``), for ``Run`` objects.
        with_total: also count the matching runs of all pages (``total``).
        with_keys: also count, per metric/param/tag key, the runs of the experiments,
            view and branches that have it, before the filter (``keys``, see
            :func:`key_counts`): what a table offers as columns.

    Returns:
        A :class:`SearchPage` with up to ``max_results`` run dicts and the next page token.

    Raises:
        InvalidParameter: for a bad filter, order_by, max_results, page token or branch.
    """
    p = plan(index, *query, **named)
    rows, token = p.ids(index)
    runs = fetch_runs(index, [r[0] for r in rows], with_record, kinds)
    if p.on_branch:
        for run, row in zip(runs, rows, strict=True):
            run["branches"] = row[1].split("\x1f") if row[1] else []
    page = SearchPage(runs, token, p.tips)
    if with_total:
        sql, params = compile_count(p.clauses, p.exp_ids, p.lifecycles, p.on_branch)
        page.total = index.conn.execute(sql, params).fetchone()[0]
    if with_keys:
        page.keys = key_counts(index, p.exp_ids, p.lifecycles, p.tips if p.on_branch else None)
    return page


def _out_columns(with_record: bool, kinds: Sequence[str]) -> str:
    return _OUT_COLUMNS.format(
        RECORD_SQL if with_record else "NULL",
        *(f"r.{k}_json" if k in kinds else "'{}'" for k in ALL_KINDS),
    )


def rows_to_runs(rows: Sequence[Sequence[Any]], with_record: bool = False) -> list[dict[str, Any]]:
    """Run dicts from rows of :data:`_OUT_COLUMNS`.

    Each kind's JSON documents of all rows are parsed as one JSON array: one C call
    instead of one per run.
    """

    def column(i: int) -> list[dict[str, Any]]:
        return json.loads("[" + ",".join([r[i] for r in rows]) + "]")

    runs = []
    for row, metrics, params, tags in zip(rows, column(16), column(17), column(18), strict=True):
        runs.append(
            {
                "run_id": row[1],
                "experiment_id": row[2],
                "run_name": row[3],
                "status": row[4],
                "user_id": row[5],
                "start_time": row[6],
                "end_time": row[7],
                "artifact_uri": row[8],
                "lifecycle_stage": row[9],
                "commit": row[10],
                "source_commit": row[11],
                "source_branch": row[12],
                "source_dirty": None if row[13] is None else bool(row[13]),
                "parent_run_id": row[14],
                "record": whole_record(row[15]) if with_record else None,
                "metrics": metrics,
                "latest_metrics": {},
                "params": params,
                "tags": tags,
            }
        )
    return runs


def _add_latest_metrics(index: Index, runs: list[dict[str, Any]], ids: Sequence[int]) -> None:
    """Fill ``latest_metrics`` (value, step, timestamp, min, max, count) as Run objects need."""
    conn = index.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS page(pos INTEGER PRIMARY KEY, rid INTEGER)")
    conn.execute("BEGIN")  # one transaction for the temp rows, not one per row
    try:
        conn.execute("DELETE FROM temp.page")
        conn.executemany("INSERT INTO temp.page VALUES (?, ?)", enumerate(ids))
        rows = conn.execute(
            "SELECT p.pos, m.key, m.value, m.is_nan, m.step, m.timestamp, m.min, m.max, m.count "
            "FROM temp.page p JOIN metrics m ON m.rid = p.rid"
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    nan = float("nan")
    for pos, key, value, is_nan, step, ts, mn, mx, count in rows:
        run = runs[pos]
        run["latest_metrics"][key] = {
            "value": run["metrics"].get(key, nan if is_nan else value),  # JSON keeps -0.0
            "step": step,
            "timestamp": ts,
            "min": mn,
            "max": mx,
            "count": count,
        }
    for run in runs:  # the record's key order, as get_run has it
        latest = run["latest_metrics"]
        run["latest_metrics"] = {k: latest[k] for k in run["metrics"] if k in latest}


def fetch_runs(
    index: Index,
    ids: Sequence[int],
    with_record: bool = False,
    kinds: Sequence[str] = ALL_KINDS,
) -> list[dict[str, Any]]:
    """Run dicts for index row ids, in the given order (ids must exist); ``kinds`` says
    which of metrics, params and tags to load (the others are left empty)."""
    rows = index.conn.execute(
        "SELECT " + _out_columns(with_record, kinds)
        + " FROM json_each(?) j JOIN runs r ON r.id = j.value"
        " LEFT JOIN temp.live lv ON lv.rid = r.id ORDER BY j.key",
        (json.dumps(list(ids)),),
    ).fetchall()  # fmt: skip
    runs = rows_to_runs(rows, with_record)
    if with_record:
        _add_latest_metrics(index, runs, [r[0] for r in rows])
    return runs


def groups(
    index: Index,
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    run_view_type: Any,
    branches: str | Sequence[str] | None,
    group_by: str,
    metric: str | None = None,
) -> list[dict[str, Any]]:
    """The runs :func:`search` would find, grouped by one column, with statistics of a metric.

    ``group_by`` is a column as ``order_by`` names it (``params.optimizer``,
    ``tags.team``, ``attributes.status``...). Returns one dict per distinct value,
    the most runs first: ``{value, count, metric_count, min, max, mean}`` where
    ``value`` is None for runs without the param or tag and the statistics cover
    the group's runs that have ``metric`` (NaN values left out).

    Raises:
        InvalidParameter: a bad filter, column, view or branch.
    """
    from gittrack.core.entities import ViewType

    clauses = parse_filter(filter_string)
    (col,) = parse_order_by([group_by])
    lifecycles = _LIFECYCLES.get(ViewType.from_any(run_view_type))
    if lifecycles is None:
        raise InvalidParameter(f"Invalid run_view_type {run_view_type!r}")
    exp_ids = None if experiment_ids is None else [str(e) for e in experiment_ids]
    _prepare_live(index)
    if branches is not None:
        _prepare_branches(index, branches)
    joins, join_params, where, where_params = _conditions(clauses, exp_ids, lifecycles)
    if col.kind == ATTRIBUTE:
        value = _ORDER_COLUMNS[col.key]
    else:
        joins.append(f"LEFT JOIN {_TABLES[col.kind]} g ON g.rid = r.id AND g.key = ?")
        join_params.append(col.key)
        value = "g.value"
    stats = "0, NULL, NULL, NULL"
    if metric:
        joins.append("LEFT JOIN metrics gm ON gm.rid = r.id AND gm.key = ? AND NOT gm.is_nan")
        join_params.append(metric)
        stats = "count(gm.value), min(gm.value), max(gm.value), avg(gm.value)"
    sql = (
        f"SELECT {value}, count(*), {stats} {_from(branches is not None, joins, where)} "
        f"GROUP BY 1 ORDER BY count(*) DESC, {value} IS NULL, {value}"
    )
    return [
        {"value": v, "count": n, "metric_count": mn, "min": lo, "max": hi, "mean": mean}
        for v, n, mn, lo, hi, mean in index.conn.execute(sql, join_params + where_params)
    ]
