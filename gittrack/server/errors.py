"""Errors only the server raises, and the one place that turns errors into responses.

Every error is answered as MLflow does: a non-200 status with the body
``{"error_code": ..., "message": ...}``. gittrack's own errors carry their code
and status (:mod:`gittrack.errors`); anything else is a 500 ``INTERNAL_ERROR``
whose traceback goes to the server log, not to the client.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gittrack.errors import GittrackError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger("gittrack.server")


class BadRequest(GittrackError):
    """A request the server cannot read: malformed JSON, a body that is not an object."""

    error_code = "BAD_REQUEST"
    http_status = 400


class EndpointNotFound(GittrackError):
    error_code = "ENDPOINT_NOT_FOUND"
    http_status = 404


class MethodNotAllowed(GittrackError):
    error_code = "BAD_REQUEST"
    http_status = 405


class Unauthenticated(GittrackError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class PayloadTooLarge(GittrackError):
    error_code = "BAD_REQUEST"
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than the server's limit of {limit} bytes")
        self.limit = limit


def error_response(exc: BaseException) -> Response:
    """The MLflow-shaped response for ``exc`` (logging unexpected ones)."""
    from starlette.responses import JSONResponse

    if isinstance(exc, GittrackError):
        body, status = exc.to_json(), exc.http_status
    else:
        log.error("internal error", exc_info=exc)
        body = {"error_code": "INTERNAL_ERROR", "message": f"Internal error: {type(exc).__name__}"}
        status = 500
    headers = {"WWW-Authenticate": 'Basic realm="gittrack"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: every error the app raises ends here."""
    from starlette.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            exc = EndpointNotFound(f"No endpoint {request.method} {request.url.path}")
        elif exc.status_code == 405:
            exc = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
        else:
            exc = BadRequest(str(exc.detail))
    return error_response(exc)
