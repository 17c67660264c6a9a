"""The ``pytorch`` flavor: a ``torch.nn.Module`` saved whole or as its ``state_dict``.

``save_format="module"`` (default) pickles the whole module; loading it needs
the module's class importable and runs code from the file. ``"state_dict"``
saves only the tensors plus the class's import path: loading builds the class
with no arguments (or takes ``model=`` an instance to fill) and loads the
weights with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gittrack.errors import InvalidParameter

NAME = "pytorch"
FORMATS = ("module", "state_dict")


def matches(model: Any) -> bool:
    import sys

    if "torch" not in sys.modules:  # a torch module cannot exist without torch imported
        return False
    import torch

    return isinstance(model, torch.nn.Module)


def save(
    model: Any, path: Path, save_format: str | None = None, **_: Any
) -> tuple[dict[str, Any], list[str]]:
    import torch

    from gittrack.models.mlmodel import package_version

    fmt = save_format or "module"
    if fmt not in FORMATS:
        raise InvalidParameter(f"pytorch save_format must be one of {FORMATS}, got {fmt!r}")
    conf: dict[str, Any] = {"pytorch_version": package_version("torch"), "save_format": fmt}
    cls = type(model)
    conf["model_class"] = f"{cls.__module__}:{cls.__qualname__}"
    if fmt == "state_dict":
        torch.save(model.state_dict(), path / "state_dict.pth")
        conf["model_data"] = "state_dict.pth"
    else:
        try:
            import cloudpickle

            torch.save(model, path / "model.pth", pickle_module=cloudpickle)
            conf["pickle_module"] = "cloudpickle"
        except ImportError:  # pragma: no cover
            torch.save(model, path / "model.pth")
        conf["model_data"] = "model.pth"
    return conf, ["torch", "cloudpickle"]


def _import_class(spec: str) -> Any:
    import importlib

    module, _, qualname = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load(path: Path, conf: dict[str, Any], model: Any = None, **_: Any) -> Any:
    """The module, in eval mode. Whole-module files run code when unpickled: trust their source.

    Raises:
        InvalidParameter: a state_dict model whose class cannot be built without ``model=``.
    """
    import torch

    data = path / conf["model_data"]
    if conf.get("save_format") == "state_dict":
        state = torch.load(data, map_location="cpu", weights_only=True)
        if model is None:
            spec = conf.get("model_class", "")
            try:
                model = _import_class(spec)()
            except Exception as exc:
                raise InvalidParameter(
                    f"this pytorch model was saved as a state_dict of {spec}, which cannot be "
                    f"built without arguments here ({exc}); pass model=<an instance> to load_model"
                ) from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise InvalidParameter(
                f"the saved state_dict does not fit a {type(model).__name__} built without "
                f"arguments ({str(exc).strip()}); pass model=<an instance like the one logged>"
            ) from exc
    else:
        model = torch.load(data, map_location="cpu", weights_only=False)
    model.eval()
    return model
