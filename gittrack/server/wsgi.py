"""Run a WSGI application inside the ASGI server, streaming both ways.

The WSGI app runs in a worker thread. Its ``wsgi.input`` pulls request body
chunks from the event loop as it reads them, and every chunk it writes or
yields is sent to the client before it produces the next one, so neither a
large push nor a large fetch is held in memory.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from typing import Any


class _Input(io.RawIOBase):
    """``wsgi.input``: the request body, fetched from the event loop on demand."""

    def __init__(self, receive: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._buf = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        if self._done:
            return False
        message = asyncio.run_coroutine_threadsafe(self._receive(), self._loop).result()
        if message["type"] == "http.disconnect":
            self._done = True
            raise ConnectionError("client disconnected")
        self._buf += message.get("body", b"")
        if not message.get("more_body", False):
            self._done = True
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while self._more():
                pass
            data, self._buf = self._buf, b""
            return data
        while len(self._buf) < size and self._more():
            pass
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        while b"\n" not in self._buf and self._more():
            pass
        i = self._buf.find(b"\n")
        end = len(self._buf) if i < 0 else i + 1
        if size is not None and size >= 0:
            end = min(end, size)
        data, self._buf = self._buf[:end], self._buf[end:]
        return data


def _environ(scope: dict, script_name: str, path_info: str, body: _Input) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = text
        elif key == "CONTENT_LENGTH":
            env["CONTENT_LENGTH"] = text
        else:
            env[f"HTTP_{key}"] = f"{env[f'HTTP_{key}']},{text}" if f"HTTP_{key}" in env else text
    return env


async def call_wsgi(
    app: Callable[..., Iterable[bytes]],
    scope: dict,
    receive: Any,
    send: Any,
    *,
    script_name: str,
    path_info: str,
) -> None:
    """Answer one ASGI HTTP request with the WSGI application ``app``."""
    loop = asyncio.get_running_loop()
    body = _Input(receive, loop)
    environ = _environ(scope, script_name, path_info, body)
    started = False
    head: dict[str, Any] = {}

    def send_sync(message: dict) -> None:
        asyncio.run_coroutine_threadsafe(send(message), loop).result()

    def start_head() -> None:
        nonlocal started
        if not started:
            started = True
            send_sync(head)

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        head.clear()
        head.update(
            type="http.response.start",
            status=int(status.split(" ", 1)[0]),
            headers=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        )

        def write(data: bytes) -> None:
            start_head()
            if data:
                send_sync({"type": "http.response.body", "body": data, "more_body": True})

        return write

    def run() -> None:
        result = app(environ, start_response)
        try:
            for chunk in result:
                start_head()
                if chunk:
                    send_sync({"type": "http.response.body", "body": chunk, "more_body": True})
            start_head()
            send_sync({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    await loop.run_in_executor(None, run)
