"""HTTP for the REST client: keep-alive connections, auth, retries with backoff.

Standard library only (``http.client``), so logging over REST adds no
dependency and no import time. One connection per thread.

Retries never apply a write twice. A request that never left (the connection could
not be made) is always retried. A write whose answer was lost may have been applied,
so it carries ``X-Gittrack-Request-Id`` — one random id for all attempts of a call —
and ``gittrack server`` answers a retry with the first answer
(:mod:`gittrack.server.requestlog`); a caller that knows how to look for the result
(``recover``) is asked first, which also covers servers that ignore the header.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from gittrack.errors import (
    GittrackError,
    InvalidParameter,
    ServerUnreachable,
    error_from_response,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "OPTIONS"})
"""Methods whose repetition answers as the first attempt did (a PUT stores the same bytes
again). Not DELETE: MLflow's deletes answer RESOURCE_DOES_NOT_EXIST the second time, so a
DELETE carries a request id like any other write."""
READ_ONLY_ENDPOINTS = frozenset(
    {
        "runs/search",
        "experiments/search",
        "logged-models/search",
        "registered-models/get-latest-versions",
    }
)
"""MLflow REST methods sent as POST that change nothing: retried freely, no request id."""
REQUEST_ID_HEADER = "X-Gittrack-Request-Id"


class _NotSent(Exception):
    """The connection could not be made: the request surely did not reach the server."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


class HttpSession:
    """Requests to one tracking server (``http://host:port[/prefix]``).

    Credentials, as MLflow's client reads them: ``GITTRACK_TRACKING_TOKEN`` or
    ``MLFLOW_TRACKING_TOKEN`` (Bearer), else ``..._USERNAME``/``..._PASSWORD``
    (basic), else user:password in the URI.
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        max_retries: int | None = None,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameter(f"Tracking URI {uri!r} is not an http(s):// URL")
        self.uri = uri
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = (
            max_retries
            if max_retries is not None
            else int(os.environ.get("GITTRACK_REST_MAX_RETRIES", "7"))
        )
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"User-Agent": "gittrack", "Accept": "application/json"}
        env = os.environ.get
        token = token or env("GITTRACK_TRACKING_TOKEN") or env("MLFLOW_TRACKING_TOKEN")
        user = (
            env("GITTRACK_TRACKING_USERNAME") or env("MLFLOW_TRACKING_USERNAME") or parts.username
        )
        password = (
            env("GITTRACK_TRACKING_PASSWORD") or env("MLFLOW_TRACKING_PASSWORD") or parts.password
        )
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user or password:
            raw = f"{user or ''}:{password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        self._local = threading.local()

    # -- connections ------------------------------------------------------------------

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def close(self) -> None:
        self._drop()

    # -- requests -----------------------------------------------------------------------

    def _once(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = self._conn()
        if conn.sock is None:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise _NotSent(exc) from exc
        try:
            conn.request(method, self.prefix + path, body=body, headers=headers)
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
        except BaseException:
            self._drop()
            raise

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
        retry: bool = True,
        request_id: str | None = None,
        recover: Callable[[], bytes | None] | None = None,
        idempotent: bool | None = None,
    ) -> bytes:
        """The body of a 200 answer to ``method path``.

        Connection errors and 429/5xx answers are retried with exponential
        backoff and jitter (``max_retries`` times; file bodies are rewound).
        A write (POST, PATCH, DELETE) carries ``request_id`` (a fresh one by default) in
        ``X-Gittrack-Request-Id`` on every attempt, so a server that saw it once
        answers a retry without applying it again (``idempotent`` overrides the
        method's default: a POST that only reads). When an attempt may have been
        applied (the answer was lost), ``recover()`` is asked first: the body it
        returns (the result found on the server) answers the call; None retries.

        Raises:
            ServerUnreachable: the server could not be reached after retrying.
            GittrackError: the server's error, mapped by its ``error_code``.
        """
        if params:
            path += "?" + urlencode(
                [(k, v) for k, v in params.items() if v is not None], doseq=True
            )
        hdrs = dict(self.headers)
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=True).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        if not (method in IDEMPOTENT_METHODS if idempotent is None else idempotent):
            hdrs[REQUEST_ID_HEADER] = request_id or uuid.uuid4().hex
        what = what or f"{method} {path.split('?')[0]}"
        start_pos = body.tell() if body is not None and not isinstance(body, bytes) else None
        attempts = self.max_retries + 1 if retry else 1
        delay = self.backoff
        last: BaseException | None = None
        maybe_applied = False  # an earlier attempt may have reached the server
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(self.max_backoff, delay) * (0.5 + random.random() / 2))
                delay *= 2
                if start_pos is not None:
                    body.seek(start_pos)  # type: ignore[union-attr]
                if maybe_applied and recover is not None:
                    try:
                        found = recover()
                    except (OSError, http.client.HTTPException, GittrackError) as exc:
                        last = exc  # cannot tell yet: look again before the next attempt
                        continue
                    if found is not None:
                        return found
            try:
                status, data, _ = self._once(method, path, body, hdrs)
            except _NotSent as exc:
                last = exc.exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                maybe_applied = True
                continue
            if status == 200:
                return data
            err = error_from_response(status, data, what)
            if status in RETRY_STATUSES and attempt + 1 < attempts:
                last = err
                continue
            raise err
        if isinstance(last, GittrackError):
            raise last
        raise ServerUnreachable(
            f"{what}: tracking server {self.uri} unreachable after {attempts} attempts: {last}"
        ) from last

    def call(
        self,
        method: str,
        endpoint: str,
        payload: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """An MLflow REST method (``runs/get`` ...): GET with query, POST with JSON.

        ``request_id`` and ``recover`` (returning the decoded answer, or None) are as
        for :meth:`request`.
        """
        path = f"/api/2.0/mlflow/{endpoint}"
        if method == "GET":
            data = self.request("GET", path, params=payload)
        else:
            found: list[Any] = []

            def recover_bytes() -> bytes | None:
                answer = recover() if recover is not None else None
                if answer is None:
                    return None
                found.append(answer)
                return b"recovered"

            data = self.request(
                method,
                path,
                json_body=payload or {},
                request_id=request_id,
                recover=recover_bytes if recover is not None else None,
                idempotent=True if endpoint in READ_ONLY_ENDPOINTS else None,
            )
            if found:
                return found[0]
        return json.loads(data) if data else {}
