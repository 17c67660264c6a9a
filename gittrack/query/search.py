"""``search_runs``: MLflow's run search over the index, as a DataFrame or ``Run`` objects.

>>> import gittrack
>>> df = gittrack.search_runs(filter_string="metrics.acc > 0.9 AND params.lr = '0.01'",
...                           order_by=["metrics.acc DESC"], branches=["main", "feature-x"])

The DataFrame has MLflow's columns — ``run_id, experiment_id, status, artifact_uri,
start_time, end_time`` (UTC datetimes), ``metrics.*`` (NaN when missing),
``params.*`` and ``tags.*`` (None when missing) — plus ``source.commit``,
``source.branch`` (the branch the run started on), ``source.dirty``, and, when
``branches`` is given, ``source.branches``: the asked-for branches whose tip
reaches the run's source commit, comma-separated.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import Run, RunData, RunInfo, ViewType
from gittrack.errors import InvalidParameter

if TYPE_CHECKING:
    from gittrack.api.client import Client
    from gittrack.core.repo import Repo
    from gittrack.query.engine import SearchPage
    from gittrack.query.index import Index

log = logging.getLogger(__name__)

INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")
SOURCE_COLUMNS = ("source.commit", "source.branch", "source.dirty")
_PAGE = 10_000  # rows fetched per step when a caller wants everything

_lock = threading.RLock()
_indexes: dict[tuple[int, str], Index] = {}
_background: set[str] = set()  # repositories whose big index refreshes run aside


def serve_while_indexing(repo: Repo) -> None:
    """From now on this process (a server, the UI) leaves a big build or refresh of
    ``repo``'s index to a background process and answers from the runs already indexed,
    instead of waiting (see :meth:`gittrack.query.index.Index.refresh`); a page's
    ``pending`` says how many runs are not indexed yet."""
    with _lock:
        _background.add(str(repo.common_dir))


class PagedList(list):
    """A list of results plus ``token``, the page token of the next page (None at the end)."""

    def __init__(self, items: Sequence[Any] = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


@contextlib.contextmanager
def refreshed_index(repo: Repo) -> Iterator[Index]:
    """The repository's index, brought up to date; one thread at a time uses it.

    Raises:
        IndexUnavailable: the index cannot be created or written.
    """
    from gittrack.query.index import Index

    key = (os.getpid(), str(repo.common_dir))
    with _lock:
        ix = _indexes.get(key)
        if ix is None:
            ix = _indexes[key] = Index(repo)
        ix.refresh(background=key[1] in _background)
        yield ix


def search_page(
    repo: Repo,
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str | None = "",
    run_view_type: Any = ViewType.ACTIVE_ONLY,
    max_results: int = 1000,
    order_by: Sequence[str] | str | None = None,
    page_token: str | None = None,
    branches: str | Sequence[str] | None = None,
    with_record: bool = False,
    kinds: Sequence[str] = ("metrics", "params", "tags"),
    *,
    with_total: bool = False,
    with_keys: bool = False,
) -> SearchPage:
    """One page of run dicts (see :func:`gittrack.query.engine.search`): what
    ``Client.search_runs``, ``search_runs``, ``gittrack search``, the REST API and the
    web UI all read.

    The page's ``broken`` lists runs left out because their record is unreadable.
    """
    from gittrack.query.engine import search

    with refreshed_index(repo) as ix:
        if ix.pending:
            with_keys = False  # counted when the index is complete: the rows come first
        page = search(
            ix,
            experiment_ids,
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
            branches,
            with_record=with_record,
            kinds=kinds,
            with_total=with_total,
            with_keys=with_keys,
        )
        page.broken = dict(ix.broken)
        page.pending = ix.pending
        return page


def search_all(repo: Repo, max_results: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Up to ``max_results`` run dicts, fetched page by page."""
    from gittrack.query.pages import check_max_results

    check_max_results(max_results)
    out: list[dict[str, Any]] = []
    token = None
    while len(out) < max_results:
        page = search_page(
            repo, max_results=min(_PAGE * 10, max_results - len(out)), page_token=token, **kwargs
        )
        out.extend(page.runs)
        token = page.token
        if not token:
            break
    return out


# a run dict's RunInfo fields (the dict's keys are RunInfo's field names), in RunInfo's order
_RUN_INFO = itemgetter(*(f.name for f in fields(RunInfo)))


def to_run(d: dict[str, Any]) -> Run:
    """A :class:`~gittrack.core.entities.Run` from a run dict with ``record`` loaded."""
    return Run(
        RunInfo(*_RUN_INFO(d)),
        RunData(d["metrics"], d["params"], d["tags"]),
        d["record"] or {},
        d["latest_metrics"],
        d["commit"],
    )


def log_runs(
    client: Client,
    experiment_id: str | None = None,
    status: str | None = None,
    branch: str | None = None,
    show_all: bool = False,
    limit: int | None = None,
    broken: dict[str, str] | None = None,
) -> list[Run]:
    """What ``gittrack log`` lists: runs newest first, from the index (``record`` holds
    only ``source``; ``latest_metrics``, params and tags are left empty).

    Runs left out because their record is unreadable go into ``broken`` (run id → why).

    Raises:
        InvalidParameter: ``status`` is not a status a run can have.
    """
    from gittrack.core.entities import RunStatus

    clauses = []
    if status:
        if status.upper() not in RunStatus.SHOWN:
            raise InvalidParameter(
                f"Invalid status {status!r}: expected one of {', '.join(RunStatus.SHOWN)}"
            )
        clauses.append(f"attributes.status = '{_quote(status.upper())}'")
    if branch:
        clauses.append(f"tags.`mlflow.source.git.branch` = '{_quote(branch)}'")
    page = search_page(
        client.repo,
        None if experiment_id is None else [experiment_id],
        " AND ".join(clauses),
        ViewType.ALL if show_all else ViewType.ACTIVE_ONLY,
        max_results=limit if limit is not None and limit > 0 else 2**62,
        kinds=("metrics",),
    )
    if broken is not None:
        broken.update(page.broken)
    out = []
    for d in page.runs:
        d["record"] = {
            "source": {
                "commit": d["source_commit"],
                "branch": d["source_branch"],
                "dirty": d["source_dirty"],
            }
        }
        out.append(to_run(d))
    return out


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _experiment_ids(
    client: Client,
    experiment_ids: Sequence[str] | str | None,
    experiment_names: Sequence[str] | None,
    search_all_experiments: bool,
    current_experiment: Callable[[], str],
) -> list[str] | None:
    """MLflow's rules for which experiments the fluent ``search_runs`` searches.

    ``current_experiment`` is called only when neither ids nor names are given.
    """
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [str(experiment_ids)]
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    no_ids = not experiment_ids
    no_names = not experiment_names
    if not no_ids and not no_names:
        raise InvalidParameter("Only experiment_ids or experiment_names can be used, but not both")
    if search_all_experiments and no_ids and no_names:
        return [e.experiment_id for e in client.search_experiments(ViewType.ACTIVE_ONLY)]
    if no_ids and no_names:
        return [current_experiment()]
    if not no_names:
        ids = []
        for name in experiment_names or ():
            exp = client.get_experiment_by_name(name)
            if exp is None:
                log.warning("Cannot retrieve experiment by name %s", name)
            else:
                ids.append(exp.experiment_id)
        return ids
    return [str(e) for e in experiment_ids or ()]


def search_runs(
    client: Client,
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str = "",
    run_view_type: Any = ViewType.ACTIVE_ONLY,
    max_results: int = 100000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
    branches: str | Sequence[str] | None = None,
    *,
    current_experiment: Callable[[], str],
) -> Any:
    """The fluent ``search_runs``: MLflow's DataFrame (or, with ``output_format="list"``, Runs).

    Args:
        current_experiment: returns the experiment searched when neither
            ``experiment_ids`` nor ``experiment_names`` is given (the fluent API's
            active experiment).
        branches: keep runs whose source commit is reachable from one of these branch
            tips; ``"*"`` means every local and remote-tracking branch.

    Raises:
        InvalidParameter: a bad filter, order_by, max_results, output_format or branch.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameter(
            f"Unsupported output format: {output_format!r}. Supported: 'pandas', 'list'"
        )
    ids = _experiment_ids(
        client, experiment_ids, experiment_names, search_all_experiments, current_experiment
    )
    from gittrack.query.grammar import parse_filter, parse_order_by
    from gittrack.query.pages import check_max_results

    # validate everything before deciding there is nothing to search
    parse_filter(filter_string)
    parse_order_by(order_by)
    check_max_results(max_results)
    if output_format == "pandas":
        from gittrack.query.frames import search_frame

        with refreshed_index(client.repo) as ix:
            return search_frame(
                ix, ids or [], filter_string, run_view_type, max_results, order_by, branches
            )
    runs: list[dict[str, Any]] = []
    if ids:
        runs = search_all(
            client.repo,
            max_results,
            experiment_ids=ids,
            filter_string=filter_string,
            run_view_type=run_view_type,
            order_by=order_by,
            branches=branches,
            with_record=True,
        )
    elif branches is not None:
        from gittrack.query.branches import resolve_branches

        resolve_branches(client.repo, branches)
    return [to_run(r) for r in runs]


def client_search_runs(
    client: Client,
    experiment_ids: Sequence[str] | str | None,
    filter_string: str = "",
    run_view_type: Any = ViewType.ACTIVE_ONLY,
    max_results: int = 1000,
    order_by: Sequence[str] | None = None,
    page_token: str | None = None,
) -> PagedList:
    """``Client.search_runs``: one page of ``Run`` objects; ``.token`` fetches the next.

    ``experiment_ids`` None or empty searches every experiment.
    """
    page = search_page(
        client.repo,
        experiment_ids or None,
        filter_string,
        run_view_type,
        max_results,
        order_by,
        page_token,
        with_record=True,
    )
    return PagedList([to_run(r) for r in page.runs], page.token)
