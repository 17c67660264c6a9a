"""Request log in the Common Log Format, one line per request, after it is answered.

``127.0.0.1 - alice [26/Nov/2026:06:00:00 +0000] "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1" 200 2``
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("gittrack.server.access")


def clf_line(scope: dict, status: int, size: int, when: float) -> str:
    client = scope.get("client") or ("-", 0)
    user = (scope.get("state") or {}).get("user", "-")
    path = scope.get("raw_path") or scope["path"].encode()
    target = path.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(when))
    proto = f"HTTP/{scope.get('http_version', '1.1')}"
    return (
        f'{client[0]} - {user} [{stamp}] "{scope["method"]} {target} {proto}" {status} '
        f"{size if size else '-'}"
    )


class AccessLog:
    """ASGI middleware writing one Common Log Format line per HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status, size = 500, 0

        async def send_logged(message: dict) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(clf_line(scope, status, size, started))
