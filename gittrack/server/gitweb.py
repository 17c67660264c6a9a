"""Git smart-HTTP for the server's repository at ``/git/``, served by git's own
``git http-backend``.

``git clone http://HOST:PORT/git/``, ``git fetch`` and ``git push`` (and so
``gittrack pull/push``) work against it; run refs (``refs/gittrack/*``) are
ordinary refs to git, so ``git fetch origin 'refs/gittrack/*:refs/gittrack/*'``
brings the runs along.

Each request runs ``git http-backend`` as a CGI program (request body streamed to
its stdin, its output streamed back), so the server speaks git's protocol exactly as
git does: protocol v2 with ref prefixes, and — what matters for the guard — a push
runs ``receive-pack``, which puts the pushed objects in a quarantine directory that
the ``pre-receive``/``update`` hooks can read before any ref moves (dulwich, used
before, ran ``pre-receive`` before the objects existed, so the guard refused every
push). Authentication stays in front (:mod:`gittrack.server.auth`): a request that
reaches this app may push, as it could before.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

PREFIX = "/git"
_CHUNK = 1 << 16
# variables of the server's own environment that would point git elsewhere
_NOT_INHERITED = frozenset(
    (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_PROTOCOL",
        "GIT_QUARANTINE_PATH",
        "PATH_INFO",
        "QUERY_STRING",
    )
)


class GitSmartHTTP:
    """An ASGI app serving one repository over git's smart HTTP protocol."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = str(repo_path)

    def _environ(self, scope: dict, path: str) -> dict[str, str]:
        """The CGI environment of one request."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _NOT_INHERITED and not k.startswith(("HTTP_", "CONTENT_", "REMOTE_"))
        }
        client = scope.get("client") or ("127.0.0.1", 0)
        env.update(
            GIT_PROJECT_ROOT=self.repo_path,
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=path,
            REQUEST_METHOD=scope["method"],
            QUERY_STRING=scope.get("query_string", b"").decode("latin-1"),
            CONTENT_TYPE=headers.get("content-type", ""),
            REMOTE_ADDR=str(client[0]),
            # the token check in front already decided who may reach git: let them push
            REMOTE_USER=os.environ.get("GITTRACK_GIT_USER", "gittrack"),
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.1",
        )
        if "content-length" in headers:
            env["CONTENT_LENGTH"] = headers["content-length"]
        if "content-encoding" in headers:
            env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
        if "git-protocol" in headers:
            env["HTTP_GIT_PROTOCOL"] = headers["git-protocol"]
        return env

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope["path"][len(PREFIX) :] or "/"
        if ".." in path.split("/"):
            await _plain(send, 404, b"Not found\n")
            return
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=self._environ(scope, path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        feeder = asyncio.create_task(_feed(proc, receive))
        errors = asyncio.create_task(proc.stderr.read())  # type: ignore[union-attr]
        try:
            await _respond(proc, send)
        finally:
            feeder.cancel()
            if proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            await proc.wait()
            await errors


async def _feed(proc: asyncio.subprocess.Process, receive: Any) -> None:
    """Copy the request body to the backend's stdin, then close it."""
    stdin = proc.stdin
    assert stdin is not None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body = message.get("body", b"")
            if body:
                stdin.write(body)
                await stdin.drain()
            if not message.get("more_body", False):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # the backend answered without reading everything (an error)
    finally:
        try:
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass


async def _respond(proc: asyncio.subprocess.Process, send: Any) -> None:
    """Parse the backend's CGI header block and stream its body to the client."""
    stdout = proc.stdout
    assert stdout is not None
    status = 200
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = await stdout.readline()
        if not line:
            await _plain(send, 502, b"git http-backend gave no answer\n")
            return
        line = line.rstrip(b"\r\n")
        if not line:
            break
        name, _, value = line.partition(b":")
        value = value.strip()
        if name.lower() == b"status":
            status = int(value.split()[0])
        else:
            headers.append((name.lower(), value))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    while True:
        chunk = await stdout.read(_CHUNK)
        if not chunk:
            break
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
