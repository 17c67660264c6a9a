"""The ``sklearn`` flavor: a scikit-learn estimator in one of MLflow's serialization formats.

``serialization_format`` is MLflow's: ``skops`` (``model.skops``, MLflow 3's default; loading
builds only the types skops trusts plus those the model's ``skops_trusted_types`` list),
``cloudpickle`` (gittrack's default) or ``pickle`` (``model.pkl``). Unpickling runs code
from the file, and so may a skops file whose list trusts a type that does: load only models
you trust (MLflow's own loader says the same of all three).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from gittrack.errors import InvalidParameter

NAME = "sklearn"
FILE = "model.pkl"
SKOPS_FILE = "model.skops"
FORMATS = ("skops", "cloudpickle", "pickle")  # MLflow's SUPPORTED_SERIALIZATION_FORMATS


def matches(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise InvalidParameter(
            f"unknown scikit-learn serialization_format {value!r}: use one of {', '.join(FORMATS)}"
        )
    return str(value)


def _skops_io(feature: str) -> Any:
    """``skops.io``, or MissingDependency naming ``feature`` and the extra that installs it."""
    try:
        import skops.io
    except ImportError:
        from gittrack.errors import MissingDependency

        raise MissingDependency("skops", feature, "models") from None
    return skops.io


def _untrusted(skops_io: Any, file: Path, trusted: list[str]) -> list[str]:
    return sorted(set(skops_io.get_untrusted_types(file=file)) - set(trusted))


def save(
    model: Any,
    path: Path,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
    **_: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Write ``model.skops`` or ``model.pkl``; returns the flavor conf and the packages it
    needs.

    Raises:
        InvalidParameter: an unknown format; a skops file holding types skops does not
            trust that ``skops_trusted_types`` does not list (MLflow refuses it too).
        MissingDependency: ``skops`` asked for and not installed.
    """
    from gittrack.models.mlmodel import package_version

    fmt = _format(serialization_format or "cloudpickle")
    trusted = list(skops_trusted_types or [])
    if fmt == "skops":
        skops_io = _skops_io("saving a scikit-learn model in the 'skops' format")
        file = path / SKOPS_FILE
        skops_io.dump(model, file)
        untrusted = _untrusted(skops_io, file, trusted)
        if untrusted:
            file.unlink()
            raise InvalidParameter(
                f"the model holds types skops does not trust: {', '.join(untrusted)}; if "
                f"loading them is safe, pass skops_trusted_types={untrusted!r} "
                "(or serialization_format='cloudpickle')"
            )
    else:
        mod: Any = pickle
        if fmt == "cloudpickle":
            try:
                import cloudpickle

                mod = cloudpickle
            except ImportError:  # pragma: no cover - cloudpickle ships with most ML stacks
                fmt = "pickle"
        file = path / FILE
        with open(file, "wb") as f:
            mod.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
    conf = {
        "pickled_model": file.name,
        "sklearn_version": package_version("scikit-learn"),
        "serialization_format": fmt,
        "code": None,
        "skops_trusted_types": trusted or None,
    }
    return conf, ["scikit-learn", "numpy", "scipy"] + ([fmt] if fmt != "pickle" else [])


def load(path: Path, conf: dict[str, Any], **_: Any) -> Any:
    """The estimator of model folder ``path`` whose sklearn flavor is ``conf``.

    Raises:
        InvalidParameter: an unknown format, or a skops file holding types neither skops
            nor the model's ``skops_trusted_types`` trust.
        MissingDependency: a skops model and ``skops`` is not installed.
    """
    file = path / str(conf.get("pickled_model") or FILE)
    fmt = _format(conf.get("serialization_format") or "pickle")  # MLflow's default when absent
    if fmt == "skops":
        skops_io = _skops_io("loading a scikit-learn model saved in the 'skops' format")
        trusted = [str(t) for t in conf.get("skops_trusted_types") or []]
        untrusted = _untrusted(skops_io, file, trusted)
        if untrusted:
            raise InvalidParameter(
                f"{file} holds types its skops_trusted_types do not list: "
                f"{', '.join(untrusted)}; load it only if you trust them, with those names "
                "added to skops_trusted_types in its MLmodel"
            )
        return skops_io.load(file, trusted=trusted)
    with open(file, "rb") as f:
        return pickle.load(f)  # noqa: S301 - documented: loading a model runs its code


def _load_pyfunc(data_path: str) -> Any:
    """What MLflow's ``pyfunc.load_model`` calls with the model's file (or folder)."""
    from gittrack.models import mlmodel

    data = Path(data_path)
    folder = data.parent if data.is_file() else data
    conf = dict(mlmodel.read(folder)["flavors"].get(NAME) or {})
    if data.is_file():
        conf["pickled_model"] = data.name
    return load(folder, conf)
