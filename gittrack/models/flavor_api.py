"""MLflow's per-flavor module surface (``mlflow.sklearn.log_model`` and friends) over
gittrack's models: :mod:`gittrack.sklearn` and :mod:`gittrack.pytorch` are made from it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def flavor_functions(
    flavor: str,
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``(save_model, log_model, load_model)`` bound to ``flavor``, with MLflow's names."""

    def save_model(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> dict[str, Any]:
        """Save ``model`` into the folder ``path``; see :func:`gittrack.models.save_model`."""
        from gittrack.models import save_model as save

        return save(model, path, flavor=flavor, **kwargs)

    def log_model(model: Any, name: str | None = None, **kwargs: Any) -> Any:
        """Log ``model`` to the active run; see :func:`gittrack.models.log_model`."""
        from gittrack.models import log_model as log

        return log(model, name, flavor=flavor, **kwargs)

    def load_model(model_uri: str | os.PathLike[str], dst_path: Any = None, **kwargs: Any) -> Any:
        """The native model object; see :func:`gittrack.models.load_model`."""
        from gittrack.models import load_model as load

        return load(model_uri, flavor=flavor, dst_path=dst_path, **kwargs)

    return save_model, log_model, load_model
