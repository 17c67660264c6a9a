"""Models: a folder of artifacts with an ``MLmodel`` file naming its flavors.

``log_model(model, name)`` saves ``model`` into the active run under ``name``
with the flavor that fits it (``sklearn``, ``pytorch``, or ``python_function``
for any object with ``predict``); ``load_model("runs:/<run_id>/<name>")`` gives
it back. **Loading a pickled model runs code from it**: load only models whose
source you trust (a pytorch ``state_dict`` model is the exception: its weights
load with ``weights_only=True``).
"""

from __future__ import annotations

import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gittrack.errors import InvalidParameter

FLAVOR_MODULES = {
    "sklearn": "gittrack.models.flavor_sklearn",
    "pytorch": "gittrack.models.flavor_pytorch",
    "python_function": "gittrack.models.flavor_pyfunc",
}
_DETECT_ORDER = ("sklearn", "pytorch", "python_function")
# a python_function flavor whose loader module is one of these loads as that native flavor
# (its object has ``predict``), so MLflow's sklearn models need no MLflow to load
NATIVE_LOADERS = {"mlflow.sklearn": "sklearn", FLAVOR_MODULES["sklearn"]: "sklearn"}

__all__ = ["ModelInfo", "load_model", "log_model", "save_model"]


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` stored: ``model_uri`` loads it back."""

    run_id: str
    artifact_path: str
    model_uri: str
    flavors: dict[str, Any]
    signature: dict[str, str] | None
    model_uuid: str


def _flavor_module(name: str) -> Any:
    try:
        return importlib.import_module(FLAVOR_MODULES[name])
    except KeyError:
        raise InvalidParameter(
            f"unknown model flavor {name!r}; known: {', '.join(FLAVOR_MODULES)}"
        ) from None


def _detect(model: Any) -> Any:
    for name in _DETECT_ORDER:
        mod = _flavor_module(name)
        if mod.matches(model):
            return mod
    raise InvalidParameter(
        f"cannot log a {type(model).__module__}.{type(model).__name__} as a model: it is not a "
        "scikit-learn estimator or torch module and has no predict method"
    )


def _flavor_for(model: Any, flavor: str | None) -> Any:
    """The flavor module that saves ``model``, its packages checked to be installed.

    Raises:
        InvalidParameter: no flavor fits, an unknown flavor, or one that does not fit.
        MissingDependency: a package the flavor needs is not installed (names the extra).
    """
    import importlib.util

    from gittrack.errors import MissingDependency

    mod = _flavor_module(flavor) if flavor else _detect(model)
    if flavor and not mod.matches(model):
        raise InvalidParameter(f"a {type(model).__name__} cannot be saved with flavor {flavor!r}")
    for package, extra in getattr(mod, "REQUIRES", {}).items():
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):  # a package blocked or half-installed
            found = False
        if not found:
            raise MissingDependency(package, f"saving a model with flavor {mod.NAME!r}", extra)
    return mod


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Any = None,
    pip_requirements: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
    save_format: str | None = None,
    name: str = "model",
    run_id: str | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
) -> dict[str, Any]:
    """Save ``model`` into the empty or new folder ``path``; returns its MLmodel dict.

    ``serialization_format`` and ``skops_trusted_types`` are MLflow's scikit-learn options
    (:mod:`gittrack.models.flavor_sklearn`): ``"skops"``, ``"cloudpickle"`` (the default) or
    ``"pickle"``.

    Raises:
        InvalidParameter: no flavor fits, an unknown flavor or format, a sklearn option for
            another flavor, or ``path`` is not empty.
        MissingDependency: the flavor needs a package that is not installed.
    """
    from gittrack.models import mlmodel
    from gittrack.models import signature as sigs

    out = Path(path)
    if out.exists() and any(out.iterdir()):
        raise InvalidParameter(f"cannot save a model into {out}: the folder is not empty")
    out.mkdir(parents=True, exist_ok=True)
    mod = _flavor_for(model, flavor)
    sk_options = {"serialization_format": serialization_format}
    sk_options["skops_trusted_types"] = skops_trusted_types  # type: ignore[assignment]
    given = [k for k, v in sk_options.items() if v is not None]
    if given and mod.NAME != "sklearn":
        raise InvalidParameter(f"{given[0]} is a scikit-learn option; this is a {mod.NAME} model")
    conf, deps = mod.save(model, out, save_format=save_format, artifacts=artifacts, **sk_options)
    doc = mlmodel.new_mlmodel(name, run_id)
    doc["flavors"][mod.NAME] = conf
    if mod.NAME == "sklearn":
        doc["flavors"][mlmodel.PYFUNC] = mlmodel.pyfunc_flavor(mod.__name__, conf["pickled_model"])
    elif mod.NAME == mlmodel.PYFUNC:
        conf.update(mlmodel.pyfunc_flavor(mod.__name__, conf["python_model"]))
    if signature is not None and hasattr(signature, "to_dict"):  # MLflow's ModelSignature
        signature = {k: v for k, v in signature.to_dict().items() if v is not None}
    if signature is None and input_example is not None:
        try:
            output = model.predict(input_example) if hasattr(model, "predict") else None
        except Exception:  # a signature is a nicety; never fail the save for it
            output = None
        signature = sigs.infer_signature(input_example, output)
    if signature:
        doc["signature"] = dict(signature)
    if input_example is not None:
        info = sigs.save_input_example(out, input_example)
        if info:
            doc["saved_input_example_info"] = info
    if pip_requirements is not None:
        (out / "requirements.txt").write_text("\n".join(pip_requirements) + "\n")
    else:
        (out / "requirements.txt").write_text(mlmodel.requirements(deps))
    mlmodel.write(out, doc)
    return doc


def log_model(
    model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Any = None,
    pip_requirements: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
    save_format: str | None = None,
    run_id: str | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
) -> ModelInfo:
    """Save ``model`` as the artifact folder ``name`` of the active run (or ``run_id``).

    ``flavor`` is detected when omitted: ``sklearn`` for scikit-learn estimators
    (``serialization_format`` and ``skops_trusted_types`` as MLflow's, see :func:`save_model`),
    ``pytorch`` for ``torch.nn.Module`` (``save_format="module"`` or
    ``"state_dict"``), else ``python_function`` for any object with ``predict``.
    With ``input_example`` the signature is inferred and the example saved.

    Returns:
        ModelInfo whose ``model_uri`` (``runs:/<run_id>/<name>``) :func:`load_model` takes.

    Raises:
        InvalidParameter: no flavor fits the model, or a bad name.
        MissingDependency: the flavor needs a package that is not installed (checked
            before any run is started, so no run is left FAILED by it).
        (and the errors of :func:`gittrack.log_artifacts`)
    """
    from gittrack.artifacts import fluent
    from gittrack.artifacts.paths import clean_artifact_path
    from gittrack.artifacts.uris import make_runs_uri

    chosen = clean_artifact_path(name or artifact_path or "model", "model name")
    if not chosen:
        raise InvalidParameter("log_model needs a non-empty name")
    _flavor_for(model, flavor)  # before a run is started: a missing package fails no run
    writer = fluent._writer(run_id)
    with tempfile.TemporaryDirectory(prefix="gittrack-model-") as tmp:
        doc = save_model(
            model,
            Path(tmp) / "m",
            flavor=flavor,
            input_example=input_example,
            signature=signature,
            pip_requirements=pip_requirements,
            artifacts=artifacts,
            save_format=save_format,
            name=chosen,
            run_id=writer.run_id,
            serialization_format=serialization_format,
            skops_trusted_types=skops_trusted_types,
        )
        fluent.log_artifacts(Path(tmp) / "m", chosen, run_id=writer.run_id)
    return ModelInfo(
        run_id=writer.run_id,
        artifact_path=chosen,
        model_uri=make_runs_uri(writer.run_id, chosen),
        flavors=doc["flavors"],
        signature=doc.get("signature"),
        model_uuid=doc["model_uuid"],
    )


def _download_from_server(client: Any, model_uri: str, dst_path: Any) -> str:
    """The local folder of the registered version (or logged model, ``models:/m-<id>``)
    ``model_uri`` names, downloaded through a tracking server from where it says the files
    are (get-download-uri, or the logged model's artifact URI)."""
    import tempfile

    from gittrack.core.registry import logged_model_id

    logged = logged_model_id(model_uri)
    if logged is not None:  # models:/m-<id>: where the server keeps the logged model
        where = client.logged_model_artifact_uri(logged)
    else:
        version = client.resolve_model_uri(model_uri)
        where = client.get_model_version_download_uri(version.name, version.version)
    dst = str(dst_path) if dst_path is not None else tempfile.mkdtemp(prefix="gittrack-model-")
    return str(client.download_artifact_uri(where, dst))


def _resolve_local(client: Any, model_uri: str, dst_path: Any) -> str:
    """A ``models:/`` URI as a ``runs:/`` URI or the local folder of a logged model."""
    from gittrack.artifacts.uris import is_runs_uri
    from gittrack.core.registry import logged_model_id

    logged = logged_model_id(model_uri)
    if logged is None:
        version = client.resolve_model_uri(model_uri)
        logged = logged_model_id(str(version.source))
        if logged is None and not is_runs_uri(version.source):
            raise InvalidParameter(
                f"{model_uri} is version {version.version} of {version.name!r}, whose "
                f"source {version.source!r} is not a runs:/ or models:/m-<id> URI gittrack "
                "can load"
            )
        model_uri = str(version.source)
    if logged is not None:
        from gittrack.artifacts.read import download_logged_model

        model_uri = download_logged_model(client.repo, logged, dst_path)
    return model_uri


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
    model: Any = None,
) -> Any:
    """Load a model from ``runs:/<run_id>/<name>``, a registered version
    (``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest``,
    ``models:/<name>/<stage>``) or a local model folder.

    Returns the native object of its flavor (a scikit-learn estimator, a torch
    module in eval mode, the pickled object for ``python_function``). Pass
    ``flavor`` to choose one, ``model=`` an instance to fill from a pytorch
    state_dict. **This unpickles files, which runs code from them: load only
    models you trust.** Downloads are verified against their sha256.

    Raises:
        ArtifactNotFound: no model there. InvalidParameter: the flavor is absent, a bad
            ``models:/`` URI. RegisteredModelNotFound, ModelVersionNotFound.
    """
    from gittrack.artifacts import fluent
    from gittrack.artifacts.uris import is_runs_uri
    from gittrack.core.registry import is_models_uri
    from gittrack.models import mlmodel

    if is_models_uri(model_uri):
        from gittrack.api.fluent import _client
        from gittrack.api.registry import RegistryMethods

        client = _client()
        if not isinstance(client, RegistryMethods):  # a tracking server: its download URI
            model_uri = _download_from_server(client, str(model_uri), dst_path)
        else:
            model_uri = _resolve_local(client, str(model_uri), dst_path)
    if is_runs_uri(model_uri):
        local = Path(fluent.download_artifacts(artifact_uri=str(model_uri), dst_path=dst_path))
    else:
        local = Path(model_uri)
    doc = mlmodel.read(local)
    flavors = doc["flavors"]
    if flavor is None:
        native = [f for f in flavors if f != mlmodel.PYFUNC and f in FLAVOR_MODULES]
        flavor = native[0] if native else mlmodel.PYFUNC
    if flavor not in flavors:
        raise InvalidParameter(
            f"model {model_uri} has no {flavor!r} flavor; it has: {', '.join(flavors)}"
        )
    conf = flavors[flavor]
    if flavor == mlmodel.PYFUNC and conf.get("loader_module") != FLAVOR_MODULES[mlmodel.PYFUNC]:
        same = NATIVE_LOADERS.get(str(conf.get("loader_module")))
        if same is not None and same in flavors:  # gittrack loads it itself (MLflow's too)
            return _flavor_module(same).load(local, flavors[same], model=model)
        loader = importlib.import_module(conf["loader_module"])
        # MLflow's rule: the file ``data`` names, else the model folder
        return loader._load_pyfunc(str(local / conf["data"] if "data" in conf else local))
    return _flavor_module(flavor).load(local, conf, model=model)
