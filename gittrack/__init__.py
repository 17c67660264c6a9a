"""gittrack: ML experiment tracking whose database is your git repository.

The fluent API has MLflow's names, so ``import gittrack as mlflow`` runs common
MLflow tracking code. Everything is imported on first use: ``import gittrack``
stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ActiveRun": "gittrack.tracking",
    "Client": "gittrack.client",
    "GittrackError": "gittrack.errors",
    "MlflowClient": "gittrack.client",
    "RunStatus": "gittrack.entities",
    "ViewType": "gittrack.entities",
    "active_run": "gittrack.tracking",
    "create_experiment": "gittrack.tracking",
    "delete_experiment": "gittrack.tracking",
    "delete_run": "gittrack.tracking",
    "delete_tag": "gittrack.tracking",
    "end_run": "gittrack.tracking",
    "get_experiment": "gittrack.tracking",
    "get_experiment_by_name": "gittrack.tracking",
    "get_metric_history": "gittrack.tracking",
    "get_parent_run": "gittrack.tracking",
    "get_run": "gittrack.tracking",
    "get_tracking_uri": "gittrack.tracking",
    "last_active_run": "gittrack.tracking",
    "log_metric": "gittrack.tracking",
    "log_metrics": "gittrack.tracking",
    "log_param": "gittrack.tracking",
    "log_params": "gittrack.tracking",
    "restore_run": "gittrack.tracking",
    "search_experiments": "gittrack.tracking",
    "search_runs": "gittrack.tracking",
    "set_experiment": "gittrack.tracking",
    "set_tag": "gittrack.tracking",
    "set_tags": "gittrack.tracking",
    "start_run": "gittrack.tracking",
    # artifacts and models
    "download_artifacts": "gittrack.artifacts.fluent",
    "get_artifact_uri": "gittrack.artifacts.fluent",
    "list_artifacts": "gittrack.artifacts.fluent",
    "load_dict": "gittrack.artifacts.fluent",
    "load_table": "gittrack.artifacts.fluent",
    "load_text": "gittrack.artifacts.fluent",
    "log_artifact": "gittrack.artifacts.fluent",
    "log_artifacts": "gittrack.artifacts.fluent",
    "log_dict": "gittrack.artifacts.fluent",
    "log_figure": "gittrack.artifacts.fluent",
    "log_image": "gittrack.artifacts.fluent",
    "log_table": "gittrack.artifacts.fluent",
    "log_text": "gittrack.artifacts.fluent",
    "load_model": "gittrack.models",
    "log_model": "gittrack.models",
    "sync_to": "gittrack.sync",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gittrack' has no attribute {name!r}")
    attr = "Client" if name == "MlflowClient" else name
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
