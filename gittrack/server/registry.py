"""REST handlers for MLflow's model registry: ``registered-models/*`` and ``model-versions/*``.

Each handler takes the :class:`~gittrack.api.client.Client` and the checked arguments
(:mod:`gittrack.server.schema`) and answers through the Client's registry methods, whose
entities give MLflow's JSON (``to_dict``). The MLflow plugin's registry store
(:mod:`gittrack.plugin.registry_store`) calls the same handlers, so the two faces cannot
drift apart.

The one thing that differs between the faces is where a version's files are downloaded
from: :func:`download_uri` maps a version's source to an artifact URI of the face asking
(``mlflow-artifacts:/…`` through this server's proxy, ``gittrack:///repo/…`` for the
plugin), given by an :class:`ArtifactRoots`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from gittrack.errors import InvalidParameter
from gittrack.query.pages import check_max_results
from gittrack.server.schema import (
    MAX_RESULTS_MODEL_VERSIONS,
    MAX_RESULTS_REGISTERED_MODELS,
)

DEFAULT_RESULTS_REGISTERED_MODELS = 100  # MLflow's proto defaults
DEFAULT_RESULTS_MODEL_VERSIONS = 200_000
_MAX_SOURCE_HOPS = 16  # models:/name/version sources naming other versions, at most this deep


class ArtifactRoots(Protocol):
    """The artifact root URIs of runs and logged models, as one face hands them out."""

    def run(self, client: Any, run_id: str) -> str: ...

    def model(self, client: Any, model_id: str) -> str: ...


class ServerRoots:
    """Roots through this server's artifact proxy (``mlflow-artifacts:/…``)."""

    def run(self, client: Any, run_id: str) -> str:
        from gittrack.server.runs import artifact_uri

        return artifact_uri(client.get_run(run_id).info.experiment_id, run_id)

    def model(self, client: Any, model_id: str) -> str:
        from gittrack.core.logged_models import LoggedModelStore
        from gittrack.server.logged_models import artifact_uri

        return artifact_uri(LoggedModelStore(client.repo).get(model_id, allow_deleted=True))


SERVER_ROOTS = ServerRoots()


@dataclass(frozen=True)
class _Source:
    kind: str  # "run", "model", "version" (models:/name/version or name@alias) or "other"
    owner: str = ""  # run id, model id, or registered model name
    path: str = ""  # below the owner's artifact root; the version or @alias for "version"


def _split_source(source: str) -> _Source:
    """What a version's source names, whichever face wrote it."""
    from gittrack.core.logged_models import MODEL_ID_PREFIX

    parts = urlsplit(source)
    path = parts.path.lstrip("/")
    if parts.scheme == "runs" and not parts.netloc:
        run_id, _, rest = path.partition("/")
        return _Source("run", run_id, rest)
    if parts.scheme == "models" and not parts.netloc:
        if "/" not in path and path.startswith(MODEL_ID_PREFIX) and "@" not in path:
            return _Source("model", path)
        if "@" in path.split("/", 1)[0]:
            name, _, alias = path.split("/", 1)[0].partition("@")
            return _Source("version", name, "@" + alias)
        name, _, version = path.partition("/")
        return _Source("version", name, version)
    if parts.scheme == "mlflow-artifacts":
        # <experiment>/<run_id>/artifacts/<path> or <experiment>/models/<model_id>/artifacts/<path>
        bits = path.split("/", 4)
        if len(bits) >= 4 and bits[1] == "models" and bits[3] == "artifacts":
            return _Source("model", bits[2], bits[4] if len(bits) > 4 else "")
        bits = path.split("/", 3)
        if len(bits) >= 3 and bits[2] == "artifacts":
            return _Source("run", bits[1], bits[3] if len(bits) > 3 else "")
    if parts.scheme == "gittrack":
        from gittrack.errors import GittrackError
        from gittrack.plugin.uris import parse_artifact_uri

        try:
            loc = parse_artifact_uri(source)
        except GittrackError:
            return _Source("other")
        return _Source("run" if loc.kind == "runs" else "model", loc.owner, loc.path)
    return _Source("other")


def download_uri(client: Any, name: str, version: str, roots: ArtifactRoots) -> str:
    """Where the files of version ``version`` of ``name`` are read from, for one face.

    A source naming a run or logged model of this repository — as ``runs:/``,
    ``models:/<model_id>``, ``mlflow-artifacts:/`` or ``gittrack:`` URI, whichever face
    registered it — becomes that run's or model's artifact URI on the asking face; a
    ``models:/name/version`` source is followed; any other source (``s3://…``) is given
    as it is.

    Raises:
        NotFound: no such model or version (MLflow's RESOURCE_DOES_NOT_EXIST).
    """
    uri = str(client.get_model_version_download_uri(name, version))
    for _ in range(_MAX_SOURCE_HOPS):
        src = _split_source(uri)
        if src.kind == "version":
            if src.path.startswith("@"):
                mv = client.get_model_version_by_alias(src.owner, src.path[1:])
            else:
                mv = client.get_model_version(src.owner, src.path)
            uri = str(client.get_model_version_download_uri(mv.name, mv.version))
            continue
        if src.kind == "run":
            root = roots.run(client, src.owner)
        elif src.kind == "model":
            root = roots.model(client, src.owner)
        else:
            return uri
        return f"{root}/{src.path}" if src.path else root
    raise InvalidParameter(
        f"Model version {name!r} {version}: its source names model versions more than "
        f"{_MAX_SOURCE_HOPS} deep ({uri!r})"
    )


# -- answers -------------------------------------------------------------------------------


def model_json(rm: Any) -> dict[str, Any]:
    """MLflow's ``RegisteredModel`` JSON of a registered model."""
    return dict(rm.to_dict())


def version_json(mv: Any) -> dict[str, Any]:
    """MLflow's ``ModelVersion`` JSON of a model version."""
    return dict(mv.to_dict())


def _tags(args: dict[str, Any]) -> dict[str, str] | None:
    pairs = args.get("tags")
    return dict(pairs) if pairs else None


# -- registered models ---------------------------------------------------------------------


def _no_answer(method: str, *fields: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """The handler of a request answered by ``{}``: ``client.<method>(*args[fields])``."""

    def handler(client: Any, args: dict[str, Any]) -> dict[str, Any]:
        getattr(client, method)(*(args[f] for f in fields))
        return {}

    handler.__name__ = handler.__qualname__ = method
    return handler


delete_model = _no_answer("delete_registered_model", "name")
set_model_tag = _no_answer("set_registered_model_tag", "name", "key", "value")
delete_model_tag = _no_answer("delete_registered_model_tag", "name", "key")
set_alias = _no_answer("set_registered_model_alias", "name", "alias", "version")
delete_alias = _no_answer("delete_registered_model_alias", "name", "alias")
delete_version = _no_answer("delete_model_version", "name", "version")
set_version_tag = _no_answer("set_model_version_tag", "name", "version", "key", "value")
delete_version_tag = _no_answer("delete_model_version_tag", "name", "version", "key")


def create_model(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    rm = client.create_registered_model(
        args["name"], tags=_tags(args), description=args.get("description")
    )
    return {"registered_model": model_json(rm)}


def get_model(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {"registered_model": model_json(client.get_registered_model(args["name"]))}


def rename_model(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    rm = client.rename_registered_model(args["name"], args["new_name"])
    return {"registered_model": model_json(rm)}


def update_model(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    rm = client.update_registered_model(args["name"], description=args.get("description"))
    return {"registered_model": model_json(rm)}


def _search_args(args: dict[str, Any], default: int, upper: int) -> dict[str, Any]:
    return {
        "filter_string": args.get("filter") or None,
        "max_results": check_max_results(args.get("max_results", default), upper),
        "order_by": list(args.get("order_by") or []) or None,
        "page_token": args.get("page_token") or None,
    }


def _paged(key: str, found: Any, to_json: Any) -> dict[str, Any]:
    out: dict[str, Any] = {key: [to_json(x) for x in found]}
    token = getattr(found, "token", None)
    if token:
        out["next_page_token"] = token
    return out


def search_models(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    found = client.search_registered_models(
        **_search_args(args, DEFAULT_RESULTS_REGISTERED_MODELS, MAX_RESULTS_REGISTERED_MODELS)
    )
    return _paged("registered_models", found, model_json)


def get_latest_versions(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    found = client.get_latest_versions(args["name"], stages=list(args.get("stages") or []) or None)
    return {"model_versions": [version_json(mv) for mv in found]}


def get_by_alias(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    mv = client.get_model_version_by_alias(args["name"], args["alias"])
    return {"model_version": version_json(mv)}


# -- model versions ------------------------------------------------------------------------


MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def link_logged_model(client: Any, mv: Any) -> None:
    """As MLflow's server does: the logged model a version was made from lists the
    version in its tag ``mlflow.modelVersions`` (JSON ``[{"name", "version"}]``), which
    MLflow's UI shows on the model's page."""
    import json

    from gittrack.core.logged_models import LoggedModelStore

    store = LoggedModelStore(client.repo)
    raw = (store.get(mv.model_id).get("tags") or {}).get(MODEL_VERSIONS_TAG)
    try:
        listed = json.loads(raw) if raw else []
    except ValueError:
        listed = []
    entry = {"name": mv.name, "version": str(mv.version)}
    if not isinstance(listed, list):
        listed = []
    if entry not in listed:
        store.set_tags(mv.model_id, {MODEL_VERSIONS_TAG: json.dumps([*listed, entry])})


def create_version(client: Any, args: dict[str, Any], *, link: bool = True) -> dict[str, Any]:
    """``model-versions/create``; with ``link`` (the server, as MLflow's), the logged model
    the version is made from lists it (:func:`link_logged_model`). MLflow's stores do not
    (its fluent ``register_model`` does, client-side), so the plugin passes ``link=False``."""
    mv = client.create_model_version(
        args["name"],
        args["source"],
        run_id=args.get("run_id") or None,
        tags=_tags(args),
        run_link=args.get("run_link") or None,
        description=args.get("description") or None,
        model_id=args.get("model_id") or None,
    )
    if link and mv.model_id:
        link_logged_model(client, mv)
    return {"model_version": version_json(mv)}


def get_version(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {"model_version": version_json(client.get_model_version(args["name"], args["version"]))}


def update_version(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    mv = client.update_model_version(
        args["name"], args["version"], description=args.get("description")
    )
    return {"model_version": version_json(mv)}


def search_versions(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    found = client.search_model_versions(
        **_search_args(args, DEFAULT_RESULTS_MODEL_VERSIONS, MAX_RESULTS_MODEL_VERSIONS)
    )
    return _paged("model_versions", found, version_json)


def get_download_uri(
    client: Any, args: dict[str, Any], roots: ArtifactRoots = SERVER_ROOTS
) -> dict[str, Any]:
    return {"artifact_uri": download_uri(client, args["name"], args["version"], roots)}


def transition_stage(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    mv = client.transition_model_version_stage(
        args["name"],
        args["version"],
        args["stage"],
        archive_existing_versions=bool(args.get("archive_existing_versions", False)),
    )
    return {"model_version": version_json(mv)}


# REST endpoint key (schema.Endpoint.key) -> handler: the server's table and the plugin's
HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
    "registered-models/create": create_model,
    "registered-models/get": get_model,
    "registered-models/rename": rename_model,
    "registered-models/update": update_model,
    "registered-models/delete": delete_model,
    "registered-models/search": search_models,
    "registered-models/get-latest-versions": get_latest_versions,
    "registered-models/set-tag": set_model_tag,
    "registered-models/delete-tag": delete_model_tag,
    "registered-models/alias": set_alias,
    "registered-models/alias:delete": delete_alias,
    "registered-models/alias:get": get_by_alias,
    "model-versions/create": create_version,
    "model-versions/get": get_version,
    "model-versions/update": update_version,
    "model-versions/delete": delete_version,
    "model-versions/search": search_versions,
    "model-versions/get-download-uri": get_download_uri,
    "model-versions/transition-stage": transition_stage,
    "model-versions/set-tag": set_version_tag,
    "model-versions/delete-tag": delete_version_tag,
}
