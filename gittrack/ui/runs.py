"""Run and experiment data for the UI pages (everything the run page shows at once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.core.records.formats import load_yaml
from gittrack.layout import EXPERIMENTS_FILE, EXPERIMENTS_REF

if TYPE_CHECKING:
    from gittrack.ui.context import UIContext


def list_experiments(ctx: UIContext) -> list[dict[str, Any]]:
    """All experiments (active and deleted) as ``{experiment_id, name, lifecycle_stage}``.

    "Default" (id "0") is always listed, even before anything was recorded.
    """
    import pygit2

    raw: dict[str, Any] = {}
    with ctx.lock:
        try:
            ref = ctx.git.references.get(EXPERIMENTS_REF)
            if ref is not None:
                tree = ref.peel(pygit2.Commit).tree
                raw = load_yaml(ctx.git[tree[EXPERIMENTS_FILE].id].data) or {}
        except (KeyError, pygit2.GitError):
            raw = {}
    out = [
        {
            "experiment_id": str(eid),
            "name": str((e or {}).get("name", eid)),
            "lifecycle_stage": (e or {}).get("lifecycle_stage", "active"),
        }
        for eid, e in raw.items()
    ]
    if not any(e["experiment_id"] == "0" for e in out):
        out.insert(0, {"experiment_id": "0", "name": "Default", "lifecycle_stage": "active"})
    return sorted(out, key=lambda e: (e["experiment_id"] != "0", e["name"].lower()))


def run_detail(ctx: UIContext, run_id: str) -> dict[str, Any]:
    """Everything the run page shows: attributes, source, params, tags, metrics, note.

    Raises:
        RunNotFound / InvalidParameter: no such run or a malformed id.
    """
    from gittrack.ui.code import branches_containing
    from gittrack.ui.table import make_row

    full, sha, record = ctx.run_record(run_id)
    with ctx.lock:
        status = ctx.store.derived_status(record.get("run") or {})
    row = make_row(full, sha, record, status)
    run = dict(record.get("run") or {})
    source = run.get("source") or {}
    exp_names = {e["experiment_id"]: e["name"] for e in list_experiments(ctx)}
    metrics = {}
    for key, m in (record.get("metrics") or {}).items():
        metrics[key] = m if isinstance(m, dict) else {"value": m}
    params = row["params"]
    return {
        "run_id": full,
        "commit": sha,
        "status": status,
        "run": run,
        "run_name": row["run_name"],
        "experiment_id": row["experiment_id"],
        "experiment_name": exp_names.get(row["experiment_id"], row["experiment_id"]),
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "duration": row["duration"],
        "user_id": row["user_id"],
        "source": source,
        "branches": branches_containing(ctx, source.get("commit")),
        "params": params,
        "tags": row["tags"],
        "metrics": metrics,
        "note": record.get("note") or row["tags"].get("mlflow.note.content") or "",
        "artifact_count": len(record.get("artifacts") or {}),
    }


def reruns_in(rows: dict[str, dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The runs among ``rows`` (the run table's) that rerun ``run_id``
    (tag ``gittrack.rerunOf``), oldest first, as ``{run_id, run_name, status}``."""
    from gittrack.reproduce import RERUN_TAG

    found = [r for r in rows.values() if (r.get("tags") or {}).get(RERUN_TAG) == run_id]
    found.sort(key=lambda r: (r.get("start_time") or 0, r["run_id"]))
    return [{k: r.get(k) for k in ("run_id", "run_name", "status")} for r in found]
