"""The web UI's routes: the page at ``/`` (and ``/ui/``), its static assets under
``/ui/static/`` and the JSON the page reads under ``/ui/api/``.

:func:`routes` is part of the tracking server's one route table
(:func:`gittrack.server.app.routes`); :func:`gittrack.server.app.create_ui_app` serves
these routes alone for ``gittrack ui``. Either way every JSON endpoint reads through
the app's :class:`~gittrack.server.backend.Backend`: the one
:class:`~gittrack.api.client.Client` on its repository thread, the one the REST API
uses inside ``gittrack server``.
Runs tables are the query engine's searches (:mod:`gittrack.ui.table`), and errors
become responses in the server's one exception handler
(:func:`gittrack.server.errors.handle_exception`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import InvalidParameter

if TYPE_CHECKING:
    from concurrent.futures import Future

    from starlette.requests import Request
    from starlette.responses import Response

    from gittrack.api.client import Client
    from gittrack.server.backend import Backend
    from gittrack.ui.context import UIContext

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def clean_json(obj: Any) -> Any:
    """``obj`` with NaN and ±inf floats replaced by None, so it is valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def json_response(obj: Any, status: int = 200) -> Response:
    from starlette.responses import Response

    try:  # most answers hold no NaN: skip the walk over every value
        body = json.dumps(
            obj, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except (ValueError, TypeError):  # NaN/inf, or keys that are not strings
        body = json.dumps(clean_json(obj), ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={**COMMON_HEADERS, "Cache-Control": "no-store"},
    )


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid {name} {raw!r}: expected an integer") from None


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid {name} {raw!r}: expected a number") from None
    if not math.isfinite(value):
        raise InvalidParameter(f"Invalid {name} {raw!r}: expected a finite number")
    return value


def _in_context(client: Client, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    from gittrack.ui.context import UIContext

    return fn(UIContext(client), *args)


async def _read(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(ctx, *args)`` on the repository thread of the app's backend, with ``ctx`` the
    :class:`~gittrack.ui.context.UIContext` of its Client."""
    backend: Backend = request.app.state.backend
    return await backend.call(_in_context, fn, args)


# --- page -----------------------------------------------------------------------------


async def index(request: Request) -> Response:
    from starlette.responses import HTMLResponse

    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(
        html,
        headers={
            **COMMON_HEADERS,
            "Content-Security-Policy": PAGE_CSP,
            "Cache-Control": "no-cache",
        },
    )


# --- lists ----------------------------------------------------------------------------


async def experiments(request: Request) -> Response:
    from gittrack.ui.runs import list_experiments

    return json_response({"experiments": await _read(request, list_experiments)})


def _branches(ctx: UIContext) -> dict[str, Any]:
    head = None
    if not ctx.git.head_is_unborn and not ctx.git.head_is_detached:
        head = ctx.git.head.shorthand
    tips = ctx.branches()
    return {"head": head, "branches": [{"name": n, "commit": c} for n, c in sorted(tips.items())]}


async def branches(request: Request) -> Response:
    return json_response(await _read(request, _branches))


async def runs(request: Request) -> Response:
    from gittrack.ui.table import DEFAULT_ORDER, runs_page

    q = request.query_params
    columns = q.get("columns")
    args: dict[str, Any] = {
        "experiment_ids": [e for e in q.get("experiment_ids", "").split(",") if e] or None,
        "branch": q.get("branch") or None,
        "filter_string": q.get("filter", ""),
        "order_by": q.get("order_by") or DEFAULT_ORDER,
        "offset": _int(request, "offset", 0),
        "limit": _int(request, "limit", 100),
        "lifecycle": q.get("lifecycle", "active"),
        "keys": None if columns is None else [c for c in columns.split(",") if c],
    }
    try:
        return json_response(await _read(request, lambda ctx: runs_page(ctx, **args)))
    finally:
        _table_served.set()


async def groups(request: Request) -> Response:
    from gittrack.ui.table import runs_groups

    q = request.query_params
    group_by = q.get("group_by")
    if not group_by:
        raise InvalidParameter("Give the column to group by: group_by=params.<key>")
    args: dict[str, Any] = {
        "group_by": group_by,
        "metric": q.get("metric") or None,
        "experiment_ids": [e for e in q.get("experiment_ids", "").split(",") if e] or None,
        "branch": q.get("branch") or None,
        "filter_string": q.get("filter", ""),
        "lifecycle": q.get("lifecycle", "active"),
    }
    return json_response(await _read(request, lambda ctx: runs_groups(ctx, **args)))


async def compare(request: Request) -> Response:
    from gittrack.ui.table import compare_rows

    ids = [i for i in request.query_params.get("runs", "").split(",") if i]
    return json_response({"rows": await _read(request, compare_rows, ids)})


# --- model registry ---------------------------------------------------------------------


async def models(request: Request) -> Response:
    from gittrack.ui.models import MODELS_PAGE, list_models

    q = request.query_params
    args: dict[str, Any] = {
        "search": q.get("search", "").strip(),
        "max_results": _int(request, "max_results", MODELS_PAGE),
        "page_token": q.get("page_token") or None,
    }
    return json_response(await _read(request, lambda ctx: list_models(ctx, **args)))


async def model(request: Request) -> Response:
    from gittrack.ui.models import model_detail

    name = request.query_params.get("name")
    if not name:
        raise InvalidParameter("Give the model: name=<registered model name>")
    return json_response(await _read(request, model_detail, name))


# --- one run --------------------------------------------------------------------------


async def run(request: Request) -> Response:
    from gittrack.ui.runs import run_detail

    return json_response(await _read(request, run_detail, request.path_params["run_id"]))


async def series(request: Request) -> Response:
    from gittrack.ui.series import series as read_series

    key = request.query_params.get("key")
    if not key:
        raise InvalidParameter("Give the metric: key=<metric key>")
    x = request.query_params.get("x", "step")
    x_min, x_max = _float(request, "min"), _float(request, "max")
    width = _int(request, "width", 800)
    run_id = request.path_params["run_id"]
    return json_response(
        await _read(
            request,
            lambda ctx: read_series(ctx, run_id, key, x=x, x_min=x_min, x_max=x_max, width=width),
        )
    )


async def artifacts(request: Request) -> Response:
    from gittrack.ui.artifacts import list_artifacts

    path = request.query_params.get("path", "")
    return json_response(await _read(request, list_artifacts, request.path_params["run_id"], path))


async def artifact(request: Request) -> Response:
    from starlette.responses import Response

    from gittrack.ui.artifacts import read_artifact, response_headers

    path = request.query_params.get("path", "")
    _full, data = await _read(request, read_artifact, request.path_params["run_id"], path)
    ctype, headers = response_headers(path, download=request.query_params.get("download") == "1")
    return Response(data, media_type=ctype, headers={**COMMON_HEADERS, **headers})


async def preview(request: Request) -> Response:
    from gittrack.ui.artifacts import preview as read_preview

    path = request.query_params.get("path", "")
    return json_response(await _read(request, read_preview, request.path_params["run_id"], path))


async def run_diff(request: Request) -> Response:
    from gittrack.ui.code import uncommitted_diff

    return json_response(await _read(request, uncommitted_diff, request.path_params["run_id"]))


async def environment(request: Request) -> Response:
    from gittrack.ui.code import environment as read_environment

    return json_response(await _read(request, read_environment, request.path_params["run_id"]))


async def runs_diff(request: Request) -> Response:
    from gittrack.ui.code import runs_diff as diff_runs

    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a or not b:
        raise InvalidParameter("Give two runs: a=<run id>&b=<run id>")
    return json_response(await _read(request, diff_runs, a, b))


async def environment_diff(request: Request) -> Response:
    from gittrack.ui.code import environment_diff as diff_environments

    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a or not b:
        raise InvalidParameter("Give two runs: a=<run id>&b=<run id>")
    return json_response(await _read(request, diff_environments, a, b))


# --- the route table --------------------------------------------------------------------


def routes() -> list[Any]:
    """The UI's part of the route table: the page, ``/ui/api/...`` and ``/ui/static/...``."""
    from starlette.routing import Mount, Route

    api = "/ui/api"
    return [
        Route("/", index),
        Route("/ui", index),
        Route("/ui/", index),
        Route(f"{api}/experiments", experiments),
        Route(f"{api}/branches", branches),
        Route(f"{api}/runs", runs),
        Route(f"{api}/groups", groups),
        Route(f"{api}/compare", compare),
        Route(f"{api}/diff", runs_diff),
        Route(f"{api}/envdiff", environment_diff),
        Route(f"{api}/runs/{{run_id}}", run),
        Route(f"{api}/runs/{{run_id}}/series", series),
        Route(f"{api}/runs/{{run_id}}/artifacts", artifacts),
        Route(f"{api}/runs/{{run_id}}/artifact", artifact),
        Route(f"{api}/runs/{{run_id}}/preview", preview),
        Route(f"{api}/runs/{{run_id}}/diff", run_diff),
        Route(f"{api}/runs/{{run_id}}/environment", environment),
        Route(f"{api}/models", models),
        Route(f"{api}/model", model),
        Mount("/ui/static", app=_static_app()),
    ]


def _static_app() -> Any:
    from starlette.staticfiles import StaticFiles

    class SafeStatic(StaticFiles):
        async def get_response(self, path: str, scope: Any) -> Response:
            response = await super().get_response(path, scope)
            response.headers.update(COMMON_HEADERS)
            response.headers["Cache-Control"] = "no-cache"
            return response

    return SafeStatic(directory=str(STATIC_DIR))


def warm_up(backend: Backend) -> None:
    """Get the first page ready before it is asked for: the repository thread brings
    the run index up to date (a big build goes to a background process: see
    :func:`gittrack.query.search.serve_while_indexing`) and reads the default first page
    of the runs table (which keeps the column counts of every key); then another thread
    imports what the first chart needs, so that import does not compete with the first
    table for the CPU."""
    first = backend.submit(_first_page)
    threading.Thread(
        target=_import_chart_libraries, args=(first,), name="gittrack-ui-imports", daemon=True
    ).start()


# Set once a runs page has been answered: the chart libraries' import (seconds of CPU
# holding the GIL) waits for it, so the page's assets and first rows are served first.
_table_served = threading.Event()


def _first_page(client: Client) -> None:
    from gittrack.query.search import serve_while_indexing
    from gittrack.ui.context import UIContext
    from gittrack.ui.table import runs_page

    # first on the repository thread: from here on a big index build runs in a process
    # of its own, and pages answer from the runs already indexed
    serve_while_indexing(client.repo)
    try:
        runs_page(UIContext(client))
    except Exception:  # noqa: BLE001 - the first request reports the error properly
        log.debug("reading the first runs page at startup failed", exc_info=True)


def _import_chart_libraries(after: Future[Any]) -> None:
    try:
        after.result(timeout=5)
    except Exception:  # noqa: BLE001 - a slow or failed warm-up: import anyway
        pass
    _table_served.wait(timeout=3)  # or no table asked for soon: a run page, say
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:  # the first chart reports it
        pass
