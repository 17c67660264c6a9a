"""``import gittrack.sklearn``: MLflow's ``mlflow.sklearn`` names over gittrack's models.

``import gittrack as mlflow`` then ``import gittrack.sklearn`` (instead of ``import mlflow.sklearn``,
which would rebind ``mlflow`` to the real MLflow) keeps common MLflow code running unchanged.
"""

from __future__ import annotations

import os
from typing import Any

FLAVOR = "sklearn"


def save_model(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> dict[str, Any]:
    """Save ``model`` into the folder ``path`` with this flavor; see :func:`gittrack.models.save_model`."""
    from gittrack.models import save_model as save

    return save(model, path, flavor=FLAVOR, **kwargs)


def log_model(model: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Log ``model`` to the active run; see :func:`gittrack.models.log_model`."""
    from gittrack.models import log_model as log

    return log(model, name, flavor=FLAVOR, **kwargs)


def load_model(model_uri: str | os.PathLike[str], dst_path: Any = None, **kwargs: Any) -> Any:
    """The native model object; see :func:`gittrack.models.load_model`."""
    from gittrack.models import load_model as load

    return load(model_uri, flavor=FLAVOR, dst_path=dst_path, **kwargs)
