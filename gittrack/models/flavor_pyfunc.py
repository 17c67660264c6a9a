"""The ``python_function`` flavor for any object with a ``predict`` method.

The object is pickled by value with cloudpickle, so a class defined in a
script or notebook travels with it. An object with ``load_context(context)``
gets it called at load with ``context.artifacts`` (name → local path of the
files passed as ``artifacts=`` to ``log_model``). Loading unpickles, which
runs code: load only models you trust.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gittrack.errors import InvalidParameter

NAME = "python_function"
FILE = "python_model.pkl"
REQUIRES = {"cloudpickle": "models"}  # package -> the gittrack extra that installs it


def matches(model: Any) -> bool:
    return callable(getattr(model, "predict", None))


def save(
    model: Any, path: Path, artifacts: dict[str, str] | None = None, **_: Any
) -> tuple[dict[str, Any], list[str]]:
    import cloudpickle

    with open(path / FILE, "wb") as f:
        cloudpickle.dump(model, f)
    conf: dict[str, Any] = {"python_model": FILE, "cloudpickle_version": cloudpickle.__version__}
    if artifacts:
        (path / "artifacts").mkdir()
        names = {}
        for name, local in artifacts.items():
            src = Path(local)
            if not src.exists():
                raise InvalidParameter(f"model artifact {name!r}: {local} does not exist")
            dest = path / "artifacts" / src.name
            if src.is_dir():
                shutil.copytree(src, dest)
            else:
                shutil.copyfile(src, dest)
            names[name] = f"artifacts/{src.name}"
        conf["artifacts"] = names
    return conf, ["cloudpickle"]


def load(path: Path, conf: dict[str, Any], **_: Any) -> Any:
    """The unpickled object (``load_context`` called when it has one). Runs code: trust the source."""
    import pickle

    with open(path / conf.get("python_model", FILE), "rb") as f:
        model = pickle.load(f)  # noqa: S301 - documented
    if callable(getattr(model, "load_context", None)):
        arts = {k: str(path / v) for k, v in (conf.get("artifacts") or {}).items()}
        model.load_context(SimpleNamespace(artifacts=arts))
    return model
