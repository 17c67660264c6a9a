"""The web UI as a Starlette application: one route table, one error handler.

``make_ui_app(repo_path)`` serves the page at ``/`` (and ``/ui/``), its static
assets under ``/ui/static/`` and the JSON the page reads under ``/ui/api/``.
The tracking server mounts it at ``/``; ``gittrack ui`` serves it alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import GittrackError, InvalidParameter

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from gittrack.ui.context import UIContext
    from gittrack.ui.table import RunTable

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


class UIApp:
    """Endpoints of the UI, bound to one repository."""

    def __init__(self, ctx: UIContext, table: RunTable) -> None:
        self.ctx = ctx
        self.table = table

    # --- page -------------------------------------------------------------------

    def index(self, request: Request) -> Response:
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

    # --- lists ------------------------------------------------------------------

    def experiments(self, request: Request) -> Response:
        from gittrack.ui.runs import list_experiments

        return json_response({"experiments": list_experiments(self.ctx)})

    def branches(self, request: Request) -> Response:
        head = None
        if not self.ctx.git.head_is_unborn and not self.ctx.git.head_is_detached:
            head = self.ctx.git.head.shorthand
        tips = self.ctx.branches()
        return json_response(
            {"head": head, "branches": [{"name": n, "commit": c} for n, c in sorted(tips.items())]}
        )

    def runs(self, request: Request) -> Response:
        q = request.query_params
        exps = [e for e in q.get("experiment_ids", "").split(",") if e]
        lifecycle = q.get("lifecycle", "active")
        if lifecycle not in ("active", "deleted", "all"):
            raise InvalidParameter(
                f"Invalid lifecycle {lifecycle!r}: expected active, deleted or all"
            )
        page = self.table.page(
            experiment_ids=exps or None,
            branch=q.get("branch") or None,
            filter_string=q.get("filter", ""),
            order_by=q.get("order_by") or "attributes.start_time DESC",
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 100),
            lifecycle=lifecycle,
            keys=None if q.get("columns") is None else [c for c in q["columns"].split(",") if c],
        )
        return json_response(page)

    def compare_rows(self, request: Request) -> Response:
        ids = [i for i in request.query_params.get("runs", "").split(",") if i]
        if not ids:
            raise InvalidParameter("Give the runs to compare: runs=<id>,<id>,...")
        if len(ids) > 1000:
            raise InvalidParameter(f"Too many runs to compare ({len(ids)}); at most 1000")
        rows = self.table.refresh()
        out = []
        for rid in ids:
            full, _sha = self.ctx.resolve(rid)
            out.append(
                {k: v for k, v in rows[full].items() if k != "sha"} if full in rows else None
            )
        return json_response({"rows": [r for r in out if r is not None]})

    # --- one run ----------------------------------------------------------------

    def run(self, request: Request) -> Response:
        from gittrack.ui.runs import reruns_in, run_detail

        detail = run_detail(self.ctx, request.path_params["run_id"])
        detail["reruns"] = reruns_in(self.table.refresh(), detail["run_id"])
        return json_response(detail)

    def series(self, request: Request) -> Response:
        from gittrack.ui.series import series

        key = request.query_params.get("key")
        if not key:
            raise InvalidParameter("Give the metric: key=<metric key>")
        return json_response(
            series(
                self.ctx,
                request.path_params["run_id"],
                key,
                x=request.query_params.get("x", "step"),
                x_min=_float(request, "min"),
                x_max=_float(request, "max"),
                width=_int(request, "width", 800),
            )
        )

    def artifacts(self, request: Request) -> Response:
        from gittrack.ui.artifacts import list_artifacts

        return json_response(
            list_artifacts(
                self.ctx, request.path_params["run_id"], request.query_params.get("path", "")
            )
        )

    def artifact(self, request: Request) -> Response:
        from starlette.responses import Response

        from gittrack.ui.artifacts import read_artifact, response_headers

        path = request.query_params.get("path", "")
        _full, data = read_artifact(self.ctx, request.path_params["run_id"], path)
        ctype, headers = response_headers(
            path, download=request.query_params.get("download") == "1"
        )
        return Response(data, media_type=ctype, headers={**COMMON_HEADERS, **headers})

    def preview(self, request: Request) -> Response:
        from gittrack.ui.artifacts import preview

        return json_response(
            preview(self.ctx, request.path_params["run_id"], request.query_params.get("path", ""))
        )

    def diff(self, request: Request) -> Response:
        from gittrack.ui.code import uncommitted_diff

        return json_response(uncommitted_diff(self.ctx, request.path_params["run_id"]))

    def environment(self, request: Request) -> Response:
        from gittrack.ui.code import environment

        return json_response(environment(self.ctx, request.path_params["run_id"]))

    def runs_diff(self, request: Request) -> Response:
        from gittrack.ui.code import runs_diff

        a, b = request.query_params.get("a"), request.query_params.get("b")
        if not a or not b:
            raise InvalidParameter("Give two runs: a=<run id>&b=<run id>")
        return json_response(runs_diff(self.ctx, a, b))

    # --- errors -----------------------------------------------------------------

    @staticmethod
    def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, GittrackError):
            return json_response(exc.to_json(), status=exc.http_status)
        return json_response(
            {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}, 500
        )

    @staticmethod
    def on_not_found(request: Request, exc: Exception) -> Response:
        return json_response(
            {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No such page: {request.url.path}"},
            404,
        )

    def routes(self) -> list[Any]:
        from starlette.routing import Mount, Route

        api = "/ui/api"
        return [
            Route("/", self.index),
            Route("/ui", self.index),
            Route("/ui/", self.index),
            Route(f"{api}/experiments", self.experiments),
            Route(f"{api}/branches", self.branches),
            Route(f"{api}/runs", self.runs),
            Route(f"{api}/compare", self.compare_rows),
            Route(f"{api}/diff", self.runs_diff),
            Route(f"{api}/runs/{{run_id}}", self.run),
            Route(f"{api}/runs/{{run_id}}/series", self.series),
            Route(f"{api}/runs/{{run_id}}/artifacts", self.artifacts),
            Route(f"{api}/runs/{{run_id}}/artifact", self.artifact),
            Route(f"{api}/runs/{{run_id}}/preview", self.preview),
            Route(f"{api}/runs/{{run_id}}/diff", self.diff),
            Route(f"{api}/runs/{{run_id}}/environment", self.environment),
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


def _preload(table: RunTable) -> None:
    try:
        table.refresh()
        import numpy  # noqa: F401 - what the first chart needs, imported ahead of time
        import pandas  # noqa: F401
    except Exception:  # the first request reports the error properly
        log.debug("preloading the runs table failed", exc_info=True)


def make_ui_app(repo_path: str | Path | None = None, *, preload: bool = True) -> Starlette:
    """The UI for the repository at ``repo_path`` (None: ``GITTRACK_REPO`` or the cwd).

    With ``preload``, a background thread reads the runs right away.

    Returns a Starlette app serving ``/``, ``/ui/static/...`` and ``/ui/api/...``;
    mount it at ``/`` of another app or run it with uvicorn.

    Raises:
        NoRepository: ``repo_path`` is not inside a git repository.
    """
    from starlette.applications import Starlette

    from gittrack.ui.context import UIContext
    from gittrack.ui.table import RunTable

    ctx = UIContext(str(repo_path) if repo_path is not None else None)
    table = RunTable(ctx)
    ui = UIApp(ctx, table)
    if preload:  # read the runs now, so the first page does not wait for it
        threading.Thread(
            target=_preload, args=(table,), name="gittrack-ui-preload", daemon=True
        ).start()
    app = Starlette(
        routes=ui.routes(),
        exception_handlers={
            Exception: ui.on_error,
            GittrackError: ui.on_error,
            404: ui.on_not_found,
        },
    )
    app.state.gittrack_ui = ui
    return app
