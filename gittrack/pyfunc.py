"""``import gittrack.pyfunc``: MLflow's ``mlflow.pyfunc`` names over gittrack's models.

``load_model`` gives any logged model as an object with ``predict`` (its python_function
flavor); ``log_model``/``save_model`` store an object with ``predict`` as a python_function model.
"""

from __future__ import annotations

import os
from typing import Any

FLAVOR = "python_function"


def save_model(
    path: str | os.PathLike[str], python_model: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """Save ``python_model`` (an object with ``predict``) into ``path``."""
    from gittrack.models import save_model as save

    return save(python_model, path, flavor=FLAVOR, **kwargs)


def log_model(name: str | None = None, python_model: Any = None, **kwargs: Any) -> Any:
    """Log ``python_model`` (an object with ``predict``) to the active run."""
    from gittrack.models import log_model as log

    return log(python_model, name, flavor=FLAVOR, **kwargs)


def load_model(model_uri: str | os.PathLike[str], dst_path: Any = None) -> Any:
    """An object with ``predict`` for any logged model."""
    from gittrack.models import load_model as load

    return load(model_uri, flavor=FLAVOR, dst_path=dst_path)
