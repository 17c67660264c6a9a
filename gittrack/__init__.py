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
    "ActiveRun": "gittrack.api.fluent",
    "Client": "gittrack.api.client",
    "GittrackError": "gittrack.errors",
    "MlflowClient": "gittrack.api.client",
    "RunStatus": "gittrack.core.entities",
    "ViewType": "gittrack.core.entities",
    "active_run": "gittrack.api.fluent",
    "create_experiment": "gittrack.api.fluent",
    "delete_experiment": "gittrack.api.fluent",
    "delete_run": "gittrack.api.fluent",
    "delete_tag": "gittrack.api.fluent",
    "end_run": "gittrack.api.fluent",
    "get_experiment": "gittrack.api.fluent",
    "get_experiment_by_name": "gittrack.api.fluent",
    "get_metric_history": "gittrack.api.fluent",
    "get_parent_run": "gittrack.api.fluent",
    "get_run": "gittrack.api.fluent",
    "get_tracking_uri": "gittrack.api.fluent",
    "last_active_run": "gittrack.api.fluent",
    "log_metric": "gittrack.api.fluent",
    "log_metrics": "gittrack.api.fluent",
    "log_param": "gittrack.api.fluent",
    "log_params": "gittrack.api.fluent",
    "restore_run": "gittrack.api.fluent",
    "search_experiments": "gittrack.api.fluent",
    "search_runs": "gittrack.api.fluent",
    "set_experiment": "gittrack.api.fluent",
    "set_tag": "gittrack.api.fluent",
    "set_tags": "gittrack.api.fluent",
    "start_run": "gittrack.api.fluent",
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
    "register_model": "gittrack.api.fluent",
    "rerun": "gittrack.reproduce",
    "sync_to": "gittrack.mirror.sync",
}

__all__ = sorted(_EXPORTS)

# submodules with MLflow's names, reachable as attributes (``mlflow.exceptions.MlflowException``
# under ``import gittrack as mlflow``) without importing them up front
_SUBMODULES = frozenset({"exceptions", "pyfunc", "pytorch", "sklearn"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"gittrack.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gittrack' has no attribute {name!r}")
    attr = "Client" if name == "MlflowClient" else name
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


class _RebindWatch:
    """Warns once when the real ``mlflow`` is imported into a script that did
    ``import gittrack as mlflow``: ``import mlflow.sklearn`` silently rebinds the name
    ``mlflow`` to MLflow, and every run after it goes to MLflow's own store."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name != "mlflow":
            return None
        import sys

        main = sys.modules.get("__main__")
        if main is not None and getattr(main, "mlflow", None) is sys.modules.get(__name__):
            import warnings

            warnings.warn(
                "the real mlflow package is being imported into a script that did "
                "'import gittrack as mlflow': the name 'mlflow' now means MLflow, and runs "
                "logged through it go to MLflow's store, not to git. Use 'import "
                "gittrack.sklearn' (or .pytorch, .pyfunc) instead of 'import mlflow.sklearn', "
                "or MLFLOW_TRACKING_URI=gittrack: to keep MLflow and log into git.",
                stacklevel=2,
            )
        _unwatch()
        return None


def _unwatch() -> None:
    import sys

    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RebindWatch)]


def _watch() -> None:
    import sys

    if "mlflow" not in sys.modules:
        sys.meta_path.insert(0, _RebindWatch())


_watch()


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
