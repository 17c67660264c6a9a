"""The runs table: one page of runs for the browser, read through the query engine.

Filtering, ordering and paging are the query engine's:
:func:`gittrack.query.search.search_page` is the call behind ``search_runs``,
``Client.search_runs``, ``gittrack search`` and the REST API's ``runs/search``, so a
filter gives the same runs, in the same order, in the UI as everywhere else. This
module only shapes the page for the browser: rows with the attributes the table
shows and only the params/metrics/tags of the shown columns, the keys the column
chooser offers, and the default columns. One UI convenience is decided here (and
only here): text with no comparison operator is a run-name search
(:func:`plain_text_filter`), as in MLflow's UI.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import ViewType
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
GROUP_ATTRIBUTES = {("attribute", "status"), ("attribute", "user_id")}
MAX_PAGE = 1000
MAX_COMPARE = 1000
LIFECYCLES = {
    "active": ViewType.ACTIVE_ONLY,
    "deleted": ViewType.DELETED_ONLY,
    "all": ViewType.ALL,
}
_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}
DEFAULT_ATTRIBUTE_COLUMNS = [
    "attributes.start_time",
    "attributes.duration",
    "attributes.user_id",
    "attributes.branch",
    "attributes.commit",
]


def table_row(run: dict[str, Any]) -> dict[str, Any]:
    """The table's row for a run dict of the query engine.

    Returns the attributes the table shows (``branch`` and ``commit`` are the run's
    source branch and commit) plus its ``params``, ``metrics`` and ``tags`` maps.
    """
    start, end = run["start_time"], run["end_time"]
    return {
        "run_id": run["run_id"],
        "run_name": run["run_name"] or "",
        "status": run["status"] or "",
        "start_time": start,
        "end_time": end,
        "duration": (end - start) if isinstance(start, int) and isinstance(end, int) else None,
        "user_id": run["user_id"] or "",
        "experiment_id": str(run["experiment_id"]),
        "branch": run["source_branch"] or "",
        "commit": run["source_commit"] or "",
        "dirty": bool(run["source_dirty"]),
        "lifecycle": run["lifecycle_stage"] or "active",
        "artifact_uri": run["artifact_uri"] or "",
        "parent_run_id": run["parent_run_id"],
        "params": run["params"],
        "metrics": run["metrics"],
        "tags": run["tags"],
    }


# A comparison operator, a quote or an operator keyword: without any, no filter can parse.
_OPERATOR = re.compile(r"[=<>!'\"`]|\b(?:i?like|in|is)\b", re.IGNORECASE)


def plain_text_filter(text: str) -> str:
    """The filter the runs table runs for the search box's ``text``.

    Returns:
        ``text`` itself when it has a comparison operator, a quote or an operator word
        (LIKE, ILIKE, IN, IS) -- an MLflow filter, passed on as typed; otherwise (plain
        words such as ``long``, which no filter grammar accepts) the run-name search
        ``attributes.run_name ILIKE '%<text>%'``.
    """
    text = text.strip()
    if not text or _OPERATOR.search(text):
        return text
    return f"attributes.run_name ILIKE '%{text}%'"


def runs_page(
    ctx: UIContext,
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
    """One page of the runs table.

    ``filter_string`` goes through :func:`plain_text_filter`. ``keys``
    (``["metrics.loss", "params.lr", ...]``) limits each row's params,
    metrics and tags to the columns shown; None sends the default columns
    (``default_columns`` in the result). Attributes always come along.

    Returns:
        ``{total, offset, limit, order_by, rows, columns, default_columns, skipped,
        indexing}``: ``total``
        runs match; ``columns`` lists every key of the runs of the chosen experiments,
        lifecycle and branch (before the filter), with the most common per kind in
        ``popular``; ``indexing`` runs are not indexed yet (the index is being built
        in the background: the page answers from the runs already indexed, and
        ``columns`` stays empty until the build ends).

    Raises:
        InvalidParameter: a bad filter (the message gives its position), order_by,
            page size, offset, lifecycle or branch.
    """
    from gittrack.query.grammar import parse_order_by
    from gittrack.query.pages import encode_token
    from gittrack.query.search import search_page

    if limit < 1 or limit > MAX_PAGE:
        raise InvalidParameter(f"Invalid page size {limit}: must be 1 to {MAX_PAGE}")
    if offset < 0:
        raise InvalidParameter(f"Invalid offset {offset}: must be ≥ 0")
    view = LIFECYCLES.get(lifecycle)
    if view is None:
        raise InvalidParameter(f"Invalid lifecycle {lifecycle!r}: expected active, deleted or all")
    order_by = order_by or DEFAULT_ORDER
    (sort,) = parse_order_by([order_by])
    page = search_page(
        ctx.repo,
        experiment_ids or None,
        plain_text_filter(filter_string),
        view,
        limit,
        [order_by],
        encode_token(offset) if offset else None,
        [branch] if branch else None,
        with_total=True,
        with_keys=True,
    )
    columns = table_columns(page.keys or {})
    defaults = default_columns(columns)
    wanted = defaults if keys is None else keys
    if sort.kind != "attribute":
        wanted = [*wanted, f"{_PLURAL[sort.kind]}.{sort.key}"]
    return {
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "order_by": order_by,
        "rows": [trim_row(table_row(r), wanted) for r in page.runs],
        "columns": columns,
        "default_columns": defaults,
        "skipped": dict(page.broken),  # run id -> why its record is unreadable
        "indexing": page.pending,  # runs not indexed yet (a background build): not counted
    }


def runs_groups(
    ctx: UIContext,
    *,
    group_by: str,
    metric: str | None = None,
    experiment_ids: list[str] | None = None,
    branch: str | None = None,
    filter_string: str = "",
    lifecycle: str = "active",
) -> dict[str, Any]:
    """The runs table grouped by a param, tag or attribute (``params.optimizer``), with
    each group's statistics of ``metric``: the query engine's
    :func:`~gittrack.query.engine.groups` over the runs :func:`runs_page` would list.

    Returns:
        ``{group_by, metric, total, groups: [{value, count, metric_count, min, max,
        mean, filter}]}``: ``filter`` is the table filter listing that group's runs
        (null where no filter can name it, e.g. a missing attribute).

    Raises:
        InvalidParameter: a bad filter, column (metrics cannot group), lifecycle or branch.
    """
    from gittrack.query.engine import groups
    from gittrack.query.grammar import parse_order_by
    from gittrack.query.search import refreshed_index

    view = LIFECYCLES.get(lifecycle)
    if view is None:
        raise InvalidParameter(f"Invalid lifecycle {lifecycle!r}: expected active, deleted or all")
    (col,) = parse_order_by([group_by])
    if col.kind not in ("param", "tag") and (col.kind, col.key) not in GROUP_ATTRIBUTES:
        raise InvalidParameter(
            f"Invalid group_by {group_by!r}: group by a param, a tag, "
            "attributes.status or attributes.user_id"
        )
    base = plain_text_filter(filter_string)
    with refreshed_index(ctx.repo) as ix:
        found = groups(
            ix,
            experiment_ids or None,
            base,
            view,
            [branch] if branch else None,
            group_by,
            metric or None,
        )
    name = f"{_PLURAL[col.kind]}.`{col.key}`"  # keys never hold a backtick
    for g in found:
        value = g["value"]
        if value is None:
            clause = f"{name} IS NULL" if col.kind != "attribute" else None
        elif isinstance(value, str):
            clause = f"{name} = '{value.replace(chr(39), chr(39) * 2)}'"
        else:
            clause = f"{name} = {value}"
        g["filter"] = None if clause is None else (f"{base} AND {clause}" if base else clause)
    return {
        "group_by": group_by,
        "metric": metric or None,
        "total": sum(g["count"] for g in found),
        "groups": found,
    }


def compare_rows(ctx: UIContext, run_ids: list[str]) -> list[dict[str, Any]]:
    """Full table rows (every param, metric and tag) of the runs named by ids or unique
    prefixes, in the order given; a run whose record is unreadable is left out.

    Raises:
        InvalidParameter: no ids, too many, or a malformed id. RunNotFound: an unknown id.
    """
    from gittrack.query.search import search_page

    if not run_ids:
        raise InvalidParameter("Give the runs to compare: runs=<id>,<id>,...")
    if len(run_ids) > MAX_COMPARE:
        raise InvalidParameter(f"Too many runs to compare ({len(run_ids)}); at most {MAX_COMPARE}")
    full = [ctx.resolve(rid)[0] for rid in run_ids]  # hexadecimal: safe to quote
    wanted = sorted(set(full))
    page = search_page(
        ctx.repo,
        None,
        "attributes.run_id IN (" + ", ".join(f"'{r}'" for r in wanted) + ")",
        ViewType.ALL,
        len(wanted),
    )
    rows = {r["run_id"]: table_row(r) for r in page.runs}
    return [rows[r] for r in full if r in rows]


def table_columns(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """The column chooser's keys from :func:`gittrack.query.engine.key_counts`: every
    params/metrics/tags key, sorted, plus ``popular``: per kind, the eight keys most
    runs have (the default columns come from these)."""
    out: dict[str, Any] = {"attributes": list(ATTRIBUTES)}
    popular: dict[str, list[str]] = {}
    for kind in ("params", "metrics", "tags"):
        counter = counts.get(kind) or {}
        out[kind] = sorted(counter)
        popular[kind] = [k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:8]]
    out["popular"] = popular
    return out


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
    """``row`` with only the params/metrics/tags named in ``wanted`` (a run with 1,000
    params must not send them all for one table cell)."""
    keep: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
    for col in wanted:
        kind, _, key = col.partition(".")
        if kind in keep:
            keep[kind].add(key)
    out = dict(row)
    for kind, names in keep.items():
        values = row[kind]
        out[kind] = {k: values[k] for k in names if k in values}
    return out
