"""The one place the server turns exceptions into responses (no error classes here).

Every error is answered as MLflow does: a non-200 status with the body
``{"error_code": ..., "message": ...}``, both from
:func:`gittrack.errors.http_error`, the one exception → HTTP mapping. The error
classes are all in :mod:`gittrack.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gittrack.errors import http_error

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


def error_response(exc: BaseException, request: Request | None = None) -> Response:
    """The MLflow-shaped JSON response for ``exc`` (status and body from :func:`http_error`).

    A 401 also says how to authenticate (``WWW-Authenticate``).
    """
    from starlette.responses import JSONResponse

    method, path = (request.method, request.url.path) if request is not None else ("", "")
    status, body = http_error(exc, method, path)
    headers = {"WWW-Authenticate": 'Basic realm="gittrack"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: every error the REST app raises ends here."""
    return error_response(exc, request)
