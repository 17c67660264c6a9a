"""Model registry data for the UI pages: the models list, one model (its versions and
alias history) and the versions registered from a run.

Everything reads through the Client's registry methods (the calls behind REST and
``gittrack models``); the alias history is :meth:`RegistryStore.alias_history`, the one
``gittrack models show`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gittrack.core.entities import ModelVersion
    from gittrack.ui.context import UIContext

PAGE = 1000  # search page size while collecting every model / version


def _all_pages(search: Any, *args: Any, **kw: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = search(*args, max_results=PAGE, page_token=token, **kw)
        out.extend(page)
        token = page.token
        if not token:
            return out


def run_names(ctx: UIContext, run_ids: set[str]) -> dict[str, str]:
    """``{run_id: run name}`` of those runs that exist (deleted ones too): one search of the
    query engine (``attributes.run_id IN (...)``)."""
    from gittrack.core.entities import ViewType
    from gittrack.query.search import _quote, search_page

    ids = sorted(r for r in run_ids if r)
    if not ids:
        return {}
    listed = ", ".join(f"'{_quote(r)}'" for r in ids)
    page = search_page(
        ctx.repo, None, f"attributes.run_id IN ({listed})", ViewType.ALL, len(ids), kinds=()
    )
    return {r["run_id"]: r["run_name"] for r in page.runs}


def _version_row(v: ModelVersion, names: dict[str, str]) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "status_message": v.status_message,
        "current_stage": v.current_stage,
        "aliases": sorted(v.aliases),
        "run_id": v.run_id or "",
        "run_name": names.get(v.run_id or ""),
        "source": v.source,
        "model_id": v.model_id or "",
        "description": v.description or "",
        "tags": dict(sorted(v.tags.items())),
        "user_id": v.user_id or "",
        "creation_timestamp": v.creation_timestamp,
        "last_updated_timestamp": v.last_updated_timestamp,
    }


MODELS_PAGE = 100  # the runs table's page size, and MLflow's search_registered_models default


def list_models(
    ctx: UIContext,
    search: str = "",
    max_results: int = MODELS_PAGE,
    page_token: str | None = None,
) -> dict[str, Any]:
    """One page of live registered models by name, those whose name contains ``search``
    (any case; every model when empty): the registry search's own page, as REST's
    ``registered-models/search`` gives it. ``{models: [{name, latest_version, aliases,
    description, tags, last_updated_timestamp}], next_page_token, skipped: {ref: why}}``
    (``next_page_token`` None on the last page; ``skipped``: registry refs left out because
    their record is unreadable).

    Raises:
        InvalidParameter: a bad ``max_results`` (1..1000) or ``page_token``.
    """
    from gittrack.query.search import _quote

    client = ctx.client
    found = f"name ILIKE '%{_quote(search)}%'" if search else None
    page = client.search_registered_models(
        found, max_results=max_results, order_by=["name ASC"], page_token=page_token or None
    )
    rows = [
        {
            "name": m.name,
            "latest_version": max((int(v.version) for v in m.latest_versions), default=None),
            "aliases": {a: str(v) for a, v in sorted(m.aliases.items())},
            "description": m.description or "",
            "tags": dict(sorted(m.tags.items())),
            "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp,
        }
        for m in page
    ]
    return {"models": rows, "next_page_token": page.token, "skipped": client.registry.scan()[1]}


def model_detail(ctx: UIContext, name: str) -> dict[str, Any]:
    """One model: its fields, its live versions (newest first) and its alias history
    (newest first; ``{alias, old, new, time, author, commit, message}``). A version's
    ``run_name`` is None when its source run is not in this repository.

    Raises:
        RegisteredModelNotFound: no live model has that name.
        InvalidParameter: ``name`` is not a valid model name.
    """
    from gittrack.query.search import _quote

    client = ctx.client
    model = client.get_registered_model(name)
    versions = _all_pages(
        client.search_model_versions,
        f"name = '{_quote(model.name)}'",
        order_by=["version_number DESC"],
    )
    names = run_names(ctx, {v.run_id for v in versions if v.run_id})
    return {
        "name": model.name,
        "description": model.description or "",
        "tags": dict(sorted(model.tags.items())),
        "aliases": {a: str(v) for a, v in sorted(model.aliases.items())},
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "versions": [_version_row(v, names) for v in versions],
        "alias_history": list(reversed(client.registry.alias_history(model.name))),
    }


def run_versions(ctx: UIContext, run_id: str) -> list[dict[str, Any]]:
    """The live model versions registered from run ``run_id`` (a resolved, hexadecimal
    id), as ``{name, version, aliases, current_stage}``, by name then version."""
    found = _all_pages(ctx.client.search_model_versions, f"run_id = '{run_id}'")
    found.sort(key=lambda v: (v.name, int(v.version)))
    return [
        {
            "name": v.name,
            "version": v.version,
            "aliases": sorted(v.aliases),
            "current_stage": v.current_stage,
        }
        for v in found
    ]
