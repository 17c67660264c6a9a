"""REST handlers for MLflow 3's ``logged-models/*`` and the artifact proxy of logged models.

The records are :mod:`gittrack.core.logged_models` (the MLflow plugin uses the same functions),
so a model logged through the server and one logged through ``gittrack:`` URIs are alike.
Model files go to the content-addressed store through the artifact proxy under
``mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts/<path>``.
"""

from __future__ import annotations

import posixpath
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gittrack.core.logged_models import (
    LoggedModelStore,
    create_checked,
    model_json,
    status_from_any,
    validate_model_id,
)
from gittrack.errors import InvalidParameter
from gittrack.query.logged_models import search_models
from gittrack.query.pages import page
from gittrack.server.schema import API_PREFIXES, LOGGED_MODEL_BY_ROUTE
from gittrack.server.wire import decode_json_body, dumps, parse

MAX_RESULTS_MODELS = 1000  # MLflow's limit on one logged-models/search page
ARTIFACT_ROOT = "mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json")


def artifact_uri(rec: dict[str, Any]) -> str:
    return ARTIFACT_ROOT.format(experiment_id=rec["experiment_id"], model_id=rec["model_id"])


def _answer(rec: dict[str, Any]) -> dict[str, Any]:
    return {"model": model_json(rec, artifact_uri(rec))}


def _kv(items: Any, what: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise InvalidParameter(f"Invalid value for parameter '{what}': expected a list")
    out = {}
    for item in items:
        if isinstance(item, tuple):  # already checked by wire.parse: (key, value)
            out[item[0]] = item[1]
            continue
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise InvalidParameter(f"Invalid entry in '{what}': each needs a string 'key'")
        out[item["key"]] = str(item.get("value", ""))
    return out


# -- handlers (repository thread): fn(client, args) ---------------------------------------


def create(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("experiment_id"):
        raise InvalidParameter("Missing value for required parameter 'experiment_id'")
    rec = create_checked(
        client,
        str(args["experiment_id"]),
        name=args.get("name") or None,
        source_run_id=args.get("source_run_id") or None,
        tags=_kv(args.get("tags"), "tags"),
        params=_kv(args.get("params"), "params"),
        model_type=args.get("model_type") or None,
    )
    return _answer(rec)


def get(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    return _answer(LoggedModelStore(client.repo).get(args["model_id"]))


def finalize(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    if "status" not in args:
        raise InvalidParameter("Missing value for required parameter 'status'")
    status = status_from_any(args["status"])
    return _answer(LoggedModelStore(client.repo).finalize(args["model_id"], status))


def delete(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    LoggedModelStore(client.repo).delete(args["model_id"])
    return {}


def set_tags(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    LoggedModelStore(client.repo).set_tags(args["model_id"], _kv(args.get("tags"), "tags"))
    return {}


def delete_tag(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    LoggedModelStore(client.repo).delete_tag(args["model_id"], args["tag_key"])
    return {}


def log_params(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    params = _kv(args.get("params"), "params")

    def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
        rec.setdefault("params", {}).update(params)
        return "log params " + ", ".join(sorted(params))

    LoggedModelStore(client.repo).update(validate_model_id(args["model_id"]), change)
    return {}


def search(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.query.pages import check_max_results

    max_results = check_max_results(args.get("max_results") or 100, MAX_RESULTS_MODELS)
    exp_ids = [str(e) for e in args.get("experiment_ids") or []]
    records = LoggedModelStore(client.repo).all(exp_ids or None)
    order_by = args.get("order_by") or None
    if order_by is not None and not isinstance(order_by, list):
        raise InvalidParameter("Invalid value for parameter 'order_by': expected a list")
    found = search_models(records, args.get("filter") or None, order_by)
    items, token = page(found, max_results, args.get("page_token") or None)
    out: dict[str, Any] = {"models": [model_json(r, artifact_uri(r)) for r in items]}
    if token:
        out["next_page_token"] = token
    return out


def _children(manifest: dict[str, Any], path: str) -> list[dict[str, Any]]:
    from gittrack.artifacts.manifest import list_children

    return [f.to_dict() for f in list_children(manifest, path) if f.path != path]


def list_artifacts(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.artifacts.paths import clean_artifact_path

    rec = LoggedModelStore(client.repo).get(args["model_id"])
    path = clean_artifact_path(args.get("artifact_directory_path"), "artifact_directory_path")
    return {"root_uri": artifact_uri(rec), "files": _children(rec["artifacts"], path)}


def is_model_proxy_path(path: str) -> bool:
    """Whether an ``mlflow-artifacts`` path names a logged model's files."""
    parts = path.strip("/").split("/")
    return len(parts) >= 3 and parts[1] == "models"


def _split(path: str) -> tuple[str, str]:
    """``(model_id, artifact path)`` of ``<exp>/models/<model_id>/artifacts[/<path>]``.

    Raises:
        InvalidParameter: any other shape, or an unsafe path.
    """
    from gittrack.artifacts.paths import clean_artifact_path

    parts = path.strip("/").split("/", 4)
    if len(parts) < 4 or parts[1] != "models" or parts[3] != "artifacts":
        raise InvalidParameter(
            f"Invalid artifact path {path!r}: expected "
            "<experiment_id>/models/<model_id>/artifacts/<path>"
        )
    return validate_model_id(parts[2]), clean_artifact_path(
        parts[4] if len(parts) > 4 else "", "artifact path"
    )


def list_proxy(client: Any, proxy_path: str) -> dict[str, Any]:
    """``GET mlflow-artifacts/artifacts?path=<exp>/models/<id>/artifacts/…``: base names."""
    model_id, path = _split(proxy_path)
    rec = LoggedModelStore(client.repo).get(model_id, allow_deleted=True)
    files = []
    for f in _children(rec["artifacts"], path):
        f["path"] = posixpath.basename(f["path"])
        files.append(f)
    return {"files": files}


# -- routes (path parameters) ---------------------------------------------------------------


def _endpoint(handler: Any, methods_with_body: bool, route: str, method: str) -> Any:
    """The route's endpoint: its arguments checked against the schema's table
    (:data:`LOGGED_MODEL_BY_ROUTE`, which ``/openapi.json`` describes too)."""
    spec = LOGGED_MODEL_BY_ROUTE[(route, method)]

    async def serve(request: Request) -> Response:
        raw: dict[str, Any] = dict(request.query_params) if request.method == "GET" else {}
        if methods_with_body and request.method != "GET":
            from gittrack.server.bodies import read_limited

            limit = request.app.state.config.max_json_bytes
            raw = decode_json_body(await read_limited(request, limit))
        raw.update(request.path_params)
        args = {**raw, **parse(spec, raw)}
        if "model_id" in args:
            validate_model_id(args["model_id"])
        return _json(await request.app.state.backend.call(handler, args))

    serve.__name__ = f"logged_models_{handler.__name__}"
    return serve


def _proxy_path(request: Request) -> str:
    return f"{request.path_params['exp']}/models/{request.path_params['rest']}"


async def _proxy_get(request: Request) -> Response:
    from gittrack.artifacts.storage import storage_for

    model_id, path = _split(_proxy_path(request))
    backend = request.app.state.backend

    def locate(client: Any) -> tuple[Any, str]:
        rec = LoggedModelStore(client.repo).get(model_id, allow_deleted=True)
        entry = rec["artifacts"].get(path)
        if entry is None:
            from gittrack.errors import NotFound

            raise NotFound(f"Logged model {model_id} has no artifact {path!r}")
        return storage_for(client.repo), entry["sha256"]

    storage, sha = await backend.call(locate)
    data = await backend.call(lambda c: storage.fetch_bytes(sha))
    headers = {"Content-Disposition": f'attachment; filename="{posixpath.basename(path)}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


async def _proxy_put(request: Request) -> Response:
    from gittrack.artifacts.manifest import make_entry
    from gittrack.artifacts.storage import storage_for
    from gittrack.server.bodies import received_upload

    model_id, path = _split(_proxy_path(request))
    if not path:
        raise InvalidParameter("Invalid artifact path: names a logged model, not a file")
    backend = request.app.state.backend
    config = request.app.state.config
    state_dir = await backend.call(
        lambda c: (LoggedModelStore(c.repo).get(model_id), str(c.repo.state_dir))[1]
    )
    name = posixpath.basename(path)
    async with received_upload(request, name, state_dir, config.max_artifact_bytes) as got:
        if got is None:
            return Response(status_code=400)  # the client went away: nothing was recorded
        upload, sha = got

        def attach(client: Any) -> None:
            res = storage_for(client.repo).store.put_file(upload.path, desc=path)
            if res.sha256 != sha:
                raise InvalidParameter(f"artifact {path!r} changed while it was stored")
            entry = make_entry(res.sha256, res.size, "store")
            LoggedModelStore(client.repo).add_artifacts(model_id, {path: entry})

        await backend.call(attach)
    return _json({})


def routes(artifact_prefixes: tuple[str, ...]) -> list[Route]:
    """Routes of the logged-model API and of its artifacts (before the runs' proxy routes)."""
    table = []
    handlers = [
        ("logged-models", "POST", create, True),
        ("logged-models/search", "POST", search, True),
        ("logged-models/{model_id}", "GET", get, False),
        ("logged-models/{model_id}", "PATCH", finalize, True),
        ("logged-models/{model_id}", "DELETE", delete, False),
        ("logged-models/{model_id}/tags", "PATCH", set_tags, True),
        ("logged-models/{model_id}/tags/{tag_key}", "DELETE", delete_tag, False),
        ("logged-models/{model_id}/params", "POST", log_params, True),
        ("logged-models/{model_id}/artifacts/directories", "GET", list_artifacts, False),
    ]
    for prefix in API_PREFIXES:
        for route, method, handler, body in handlers:
            endpoint = _endpoint(handler, body, route, method)
            table.append(Route(prefix + route, endpoint, methods=[method]))
    for prefix in artifact_prefixes:
        table += [
            Route(prefix + "/{exp}/models/{rest:path}", _proxy_get, methods=["GET"]),
            Route(prefix + "/{exp}/models/{rest:path}", _proxy_put, methods=["PUT"]),
        ]
    return table
