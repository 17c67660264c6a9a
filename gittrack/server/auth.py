"""Token authentication for everything the server serves (REST API, artifacts, git).

A request is let in when it carries ``Authorization: Bearer <token>`` or HTTP
basic auth whose password is the token (the user name is free: it is what
``git clone http://user:TOKEN@host/git/`` and MLflow's
``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` send). ``/health`` is always open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from gittrack.errors import Unauthenticated
from gittrack.server.errors import error_response

OPEN_PATHS = frozenset({"/health"})


def credentials_ok(header: bytes | None, token: str) -> tuple[bool, str]:
    """Whether an ``Authorization`` header carries ``token``; and the user it names."""
    if not header:
        return False, "-"
    scheme, _, value = header.decode("latin-1").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), token.encode()), "-"
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, "-"
        return hmac.compare_digest(password.encode(), token.encode()), user or "-"
    return False, "-"


class TokenAuth:
    """ASGI middleware: 401 ``UNAUTHENTICATED`` unless the request carries the token."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.token or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        ok, user = credentials_ok(header, self.token)
        if not ok:
            await error_response(Unauthenticated(missing=not header))(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)
