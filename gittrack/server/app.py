"""The ASGI application: one route table, one error handler, middleware around it.

Layers, outside in: the request log, token auth, then the Starlette app whose one
route table (:func:`routes`) holds the REST API, the artifact proxy, git smart-HTTP
(``/git/``), the web UI's JSON (``/ui/api/``) and page, ``/health`` and
``/openapi.json``; every exception any of them raises becomes a response in
:func:`gittrack.server.errors.handle_exception`. The REST API and the UI read and
write through the same :class:`~gittrack.server.backend.Backend`.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gittrack.errors import GittrackError, InvalidArtifactPath, PayloadTooLarge
from gittrack.rest.http import READ_ONLY_ENDPOINTS
from gittrack.server import artifacts, experiments, history, registry, requestlog, runs
from gittrack.server.accesslog import AccessLog
from gittrack.server.auth import TokenAuth
from gittrack.server.backend import Backend
from gittrack.server.bodies import drain, read_limited
from gittrack.server.config import ServerConfig
from gittrack.server.errors import handle_exception
from gittrack.server.gitweb import PREFIX as GIT_PREFIX
from gittrack.server.gitweb import GitSmartHTTP
from gittrack.server.schema import API_PREFIXES, BY_KEY, Endpoint
from gittrack.server.wire import decode_json_body, dumps, parse
from gittrack.ui.app import routes as ui_routes
from gittrack.ui.app import warm_up

ARTIFACT_PREFIXES = (
    "/api/2.0/mlflow-artifacts/artifacts",
    "/ajax-api/2.0/mlflow-artifacts/artifacts",
)

# REST endpoint key (its path below /api/2.0/mlflow/, see schema.Endpoint.key) -> handler.
# Plain functions run on the repository thread as fn(client, args); coroutines get
# (backend, args).
API_HANDLERS: dict[str, Callable[..., Any]] = {
    "experiments/create": experiments.create,
    "experiments/get": experiments.get,
    "experiments/get-by-name": experiments.get_by_name,
    "experiments/search": experiments.search,
    "experiments/update": experiments.update,
    "experiments/delete": experiments.delete,
    "experiments/restore": experiments.restore,
    "experiments/set-experiment-tag": experiments.set_tag,
    "experiments/delete-experiment-tag": experiments.delete_tag,
    "runs/create": runs.create,
    "runs/get": runs.get,
    "runs/update": runs.update,
    "runs/delete": runs.delete,
    "runs/restore": runs.restore,
    "runs/search": runs.search,
    "runs/log-batch": runs.log_batch,
    "runs/log-metric": runs.log_metric,
    "runs/log-parameter": runs.log_param,
    "runs/set-tag": runs.set_tag,
    "runs/delete-tag": runs.delete_tag,
    "runs/log-inputs": runs.log_inputs,
    "runs/outputs": runs.log_outputs,
    "runs/log-model": runs.log_model,
    "metrics/get-history": runs.get_history,
    "metrics/get-history-bulk": history.get_history_bulk,
    "metrics/get-history-bulk-interval": history.get_history_bulk_interval,
    "experiments/search-datasets": history.search_datasets,
    "artifacts/list": artifacts.list_run,
    **registry.HANDLERS,  # the model registry
}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json")


def api_endpoint(endpoint: Endpoint, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The Starlette endpoint for one REST method: parse, check, call, answer JSON."""
    is_async = inspect.iscoroutinefunction(handler)

    async def answer(request: Request) -> Response:
        if request.method == "GET":
            query = request.query_params
            args = parse(endpoint, query, query=query)
        else:
            limit = request.app.state.config.max_json_bytes
            try:
                body = await read_limited(request, limit)
            except PayloadTooLarge:
                await drain(request)
                raise
            args = parse(endpoint, decode_json_body(body))
        backend: Backend = request.app.state.backend
        if is_async:
            result = await handler(backend, args)
        else:
            result = await backend.call(handler, args)
        return _json(result)

    async def serve(request: Request) -> Response:
        request_id = request.headers.get(requestlog.HEADER)
        if request_id is None or request.method == "GET" or endpoint.path in READ_ONLY_ENDPOINTS:
            return await answer(request)

        async def run() -> tuple[int, bytes]:
            response = await answer(request)
            return response.status_code, bytes(response.body)

        # a write carrying a request id is applied once; its retries get the same answer
        status, body = await request.app.state.request_log.once(endpoint.path, request_id, run)
        return Response(body, status_code=status, media_type="application/json")

    serve.__name__ = endpoint.key.replace("/", "_").replace("-", "_").replace(":", "_")
    return serve


# -- artifact proxy ------------------------------------------------------------------


async def proxy_list(request: Request) -> Response:
    path = request.query_params.get("path", "")
    backend: Backend = request.app.state.backend
    return _json(await backend.call(artifacts.list_proxy, path))


async def proxy_get(request: Request) -> Response:
    _, run_id, path = artifacts.split_proxy_path(request.path_params["path"])
    return await artifacts.send(request, run_id, path)


async def proxy_put(request: Request) -> Response:
    _, run_id, path = artifacts.split_proxy_path(request.path_params["path"])
    if not path:
        raise InvalidArtifactPath("Invalid artifact path: names a run, not a file")
    config: ServerConfig = request.app.state.config
    if not await artifacts.receive(request, run_id, path, config.max_artifact_bytes):
        return Response(status_code=400)  # the client went away: nothing was recorded
    return _json({})


async def proxy_delete(request: Request) -> Response:
    _, run_id, path = artifacts.split_proxy_path(request.path_params["path"])
    backend: Backend = request.app.state.backend
    await backend.write(run_id, lambda c: artifacts.detach(c, run_id, path))
    return _json({})


# -- misc ---------------------------------------------------------------------------------


async def health(request: Request) -> Response:
    return Response("OK", media_type="text/plain")


async def openapi_json(request: Request) -> Response:
    from gittrack.server.openapi import openapi_document

    return JSONResponse(openapi_document(str(request.base_url).rstrip("/")))


async def version(request: Request) -> Response:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        v = dist_version("gittrack")
    except PackageNotFoundError:
        v = "0.1.0.dev0"
    return Response(v, media_type="text/plain")


def routes(git: Callable[..., Any]) -> list[BaseRoute]:
    """The server's one route table: ``/health``, ``/version``, ``/openapi.json``, the
    MLflow REST API (logged models included), the artifact proxy, git smart-HTTP
    (``git``, an ASGI app, at ``/git/``) and the web UI (:func:`gittrack.ui.app.routes`)."""
    from gittrack.server import logged_models

    table: list[BaseRoute] = [
        *logged_models.routes(ARTIFACT_PREFIXES),
        *artifacts.routes(API_PREFIXES, ARTIFACT_PREFIXES),
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    for prefix in API_PREFIXES:
        for key, handler in API_HANDLERS.items():
            ep = BY_KEY[key]
            route = Route(prefix + ep.path, api_endpoint(ep, handler), methods=list(ep.methods))
            table.append(route)
    for prefix in ARTIFACT_PREFIXES:
        table += [
            Route(prefix, proxy_list, methods=["GET"]),
            Route(prefix + "/{path:path}", proxy_get, methods=["GET"]),
            Route(prefix + "/{path:path}", proxy_put, methods=["PUT"]),
            Route(prefix + "/{path:path}", proxy_delete, methods=["DELETE"]),
        ]
    # an ASGI app as endpoint: every method, the path as the client sent it
    table += [Route(GIT_PREFIX, git), Route(GIT_PREFIX + "/{path:path}", git)]
    return table + ui_routes()


def starlette_app(table: list[BaseRoute], backend: Backend, lifespan: Any = None) -> Starlette:
    """A Starlette app serving ``table`` through ``backend``, whose every exception
    becomes a response in the one handler, :func:`gittrack.server.errors.handle_exception`."""
    app = Starlette(
        routes=table,
        exception_handlers={
            GittrackError: handle_exception,
            HTTPException: handle_exception,
            Exception: handle_exception,
        },
        lifespan=lifespan,
    )
    app.state.backend = backend
    return app


class GittrackServer:
    """The complete ASGI app for one repository (``create_app`` builds it)."""

    def __init__(self, config: ServerConfig) -> None:
        from gittrack.core.repo import find_repo_path

        self.config = config
        gitdir = find_repo_path(config.repo)
        self.backend = Backend(
            gitdir, config.artifacts_destination, shared=config.workers > 1, journal=True
        )
        self.starlette = starlette_app(
            routes(GitSmartHTTP(gitdir)), self.backend, lifespan=self._lifespan
        )
        self.starlette.state.config = config
        from gittrack.core.repo import Repo

        state_dir = Repo(gitdir).state_dir
        self.starlette.state.request_log = requestlog.RequestLog(state_dir / "requests.sqlite")
        self.app = AccessLog(TokenAuth(self.starlette, config.auth_token))
        warm_up(self.backend)  # the index, before the first runs table asks for it

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        yield
        self.backend.close()  # flush every run written to before the process ends

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def create_app(config: ServerConfig | None = None) -> GittrackServer:
    """The server app for ``config`` (default: from ``GITTRACK_SERVER_*`` variables)."""
    return GittrackServer(config or ServerConfig.from_env())


def create_ui_app(
    repo_path: str | os.PathLike[str] | None = None,
    *,
    preload: bool = True,
    backend: Backend | None = None,
) -> Starlette:
    """The web UI alone (``gittrack ui``): the UI's part of the route table
    (:func:`gittrack.ui.app.routes`), for the repository at ``repo_path`` (None:
    ``GITTRACK_REPO`` or the cwd), with the server's exception handler.

    It reads through ``backend`` (default: a :class:`Backend` of its own, closed with
    the app's lifespan). With ``preload``, the repository thread brings the run index
    up to date right away.

    Raises:
        NoRepository: ``repo_path`` is not inside a git repository.
    """
    from gittrack.core.repo import find_repo_path

    own = backend
    if own is None:
        own = Backend(find_repo_path(None if repo_path is None else str(repo_path)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        if backend is None:
            own.close()

    app = starlette_app(ui_routes(), own, lifespan=lifespan)
    if preload:
        warm_up(own)
    return app
