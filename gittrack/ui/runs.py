"""Run and experiment data for the UI pages (everything the run page shows at once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.core.entities import ViewType
from gittrack.errors import GittrackError

if TYPE_CHECKING:
    from gittrack.ui.context import UIContext


def list_experiments(ctx: UIContext) -> list[dict[str, Any]]:
    """All experiments (active and deleted) as ``{experiment_id, name, lifecycle_stage}``,
    "Default" (id "0", always there) first, the others by name.

    Raises:
        CorruptRecord: the experiments record cannot be read.
    """
    out = [
        {"experiment_id": e.experiment_id, "name": e.name, "lifecycle_stage": e.lifecycle_stage}
        for e in ctx.client.search_experiments(ViewType.ALL)
    ]
    return sorted(out, key=lambda e: (e["experiment_id"] != "0", e["name"].lower()))


def run_detail(ctx: UIContext, run_id: str) -> dict[str, Any]:
    """Everything the run page shows: attributes, source, params, tags, metrics, note.

    Raises:
        RunNotFound / InvalidParameter: no such run or a malformed id.
    """
    from gittrack.core.records.formats import param_str
    from gittrack.ui.models import run_versions

    full, sha, record = ctx.run_record(run_id)
    run = dict(record.get("run") or {})
    status = ctx.store.derived_status(run)
    source = run.get("source") or {}
    tags = {str(k): str(v) for k, v in (record.get("tags") or {}).items()}
    exp_id = str(run.get("experiment_id", "0"))
    try:
        exp_name = ctx.client.get_experiment(exp_id).name
    except GittrackError:  # an unknown or unreadable experiment: show its id
        exp_name = exp_id
    start, end = run.get("start_time"), run.get("end_time")
    metrics = {}
    for key, m in (record.get("metrics") or {}).items():
        metrics[key] = m if isinstance(m, dict) else {"value": m}
    return {
        "run_id": full,
        "commit": sha,
        "status": status,
        "run": run,
        "run_name": run.get("name") or tags.get("mlflow.runName") or "",
        "experiment_id": exp_id,
        "experiment_name": exp_name,
        "start_time": start,
        "end_time": end,
        "duration": (end - start) if isinstance(start, int) and isinstance(end, int) else None,
        "user_id": run.get("user") or "",
        "source": source,
        "branches": branches_reaching(ctx, full),
        "params": {k: param_str(v) for k, v in (record.get("params") or {}).items()},
        "tags": tags,
        "metrics": metrics,
        "note": record.get("note") or tags.get("mlflow.note.content") or "",
        "artifact_count": len(record.get("artifacts") or {}),
        "reruns": reruns_of(ctx, full),
        "model_versions": run_versions(ctx, full),
    }


def branches_reaching(ctx: UIContext, run_id: str) -> list[str]:
    """The local branches whose tip reaches the run's source commit, sorted: the query
    engine's branch rule (and its reachability cache), as the branch picker applies it."""
    from gittrack.query.search import search_page

    local = sorted(ctx.branches())
    if not local:
        return []
    page = search_page(
        ctx.repo, None, f"attributes.run_id = '{run_id}'", ViewType.ALL, 1, branches=local
    )
    return sorted(page.runs[0]["branches"]) if page.runs else []


def reruns_of(ctx: UIContext, run_id: str) -> list[dict[str, Any]]:
    """The runs (deleted ones too) that rerun ``run_id`` (tag ``gittrack.rerunOf``),
    oldest first, as ``{run_id, run_name, status}``."""
    from gittrack.query.search import search_page
    from gittrack.reproduce import RERUN_TAG

    page = search_page(
        ctx.repo,
        None,
        f"tags.`{RERUN_TAG}` = '{run_id}'",  # run_id: a resolved, hexadecimal id
        ViewType.ALL,
        10_000,
        ["attributes.start_time ASC"],
        kinds=(),
    )
    return [{k: r[k] for k in ("run_id", "run_name", "status")} for r in page.runs]
