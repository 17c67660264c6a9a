"""The ``sklearn`` flavor: a scikit-learn estimator pickled with cloudpickle (or pickle).

Loading unpickles the file, which runs code: load only models you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

NAME = "sklearn"
FILE = "model.pkl"


def matches(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)


def _pickler() -> tuple[Any, str]:
    try:
        import cloudpickle

        return cloudpickle, "cloudpickle"
    except ImportError:  # pragma: no cover - cloudpickle ships with most ML stacks
        return pickle, "pickle"


def save(model: Any, path: Path, **_: Any) -> tuple[dict[str, Any], list[str]]:
    """Write ``model.pkl``; returns the flavor conf and the packages it needs."""
    from gittrack.models.mlmodel import package_version

    mod, fmt = _pickler()
    with open(path / FILE, "wb") as f:
        mod.dump(model, f)
    conf = {
        "pickled_model": FILE,
        "sklearn_version": package_version("scikit-learn"),
        "serialization_format": fmt,
        "code": None,
    }
    return conf, ["scikit-learn", "numpy", "scipy"] + (
        ["cloudpickle"] if fmt == "cloudpickle" else []
    )


def load(path: Path, conf: dict[str, Any], **_: Any) -> Any:
    """Unpickle the estimator. This runs code from the file: trust its source."""
    with open(path / conf.get("pickled_model", FILE), "rb") as f:
        return pickle.load(f)  # noqa: S301 - documented: loading a model runs its code


def _load_pyfunc(data_path: str) -> Any:
    with open(data_path, "rb") as f:
        return pickle.load(f)  # noqa: S301
