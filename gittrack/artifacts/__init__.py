"""Artifacts: small files in the run's git tree, large ones in a content-addressed store.

Modules, one idea each:

- :mod:`~gittrack.artifacts.config`: which store (git config, ``.gittrack.yaml``, default cache)
- :mod:`~gittrack.artifacts.cas`: the content-addressed store over fsspec (streaming, retries)
- :mod:`~gittrack.artifacts.storage`: a repository's store plus its local cache
- :mod:`~gittrack.artifacts.manifest`: ``artifacts.yaml`` entries and listings
- :mod:`~gittrack.artifacts.log` / :mod:`~gittrack.artifacts.read`: logging into and reading from runs
- :mod:`~gittrack.artifacts.fluent` / :mod:`~gittrack.artifacts.api`: the fluent and Client functions
- :mod:`~gittrack.artifacts.gc` / :mod:`~gittrack.artifacts.fsck`: maintenance
"""

from typing import Any  # noqa: E402

# MLflow's ``mlflow.artifacts`` names, so ``gittrack.artifacts.download_artifacts(run_id=...)``
# reads as MLflow's does; loaded on first use (``import gittrack`` stays light)
_MLFLOW_NAMES = ("download_artifacts", "list_artifacts", "load_dict", "load_text")


def __getattr__(name: str) -> Any:
    if name in _MLFLOW_NAMES:
        from gittrack.artifacts import fluent

        return getattr(fluent, name)
    raise AttributeError(f"module 'gittrack.artifacts' has no attribute {name!r}")
