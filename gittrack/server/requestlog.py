"""Answering a retried write once: the server side of idempotent REST writes.

A client that loses the connection after sending a write cannot know whether the
server applied it. gittrack's REST client sends every write with a header
``X-Gittrack-Request-Id`` (a random id, the same on each retry of one call); the
server keeps the answers it gave to such requests for :data:`KEEP_SECONDS` in
``.git/gittrack/requests.sqlite`` (shared by every worker process), so a retry gets
the first answer back instead of a second run or a second copy of its points.

While the first attempt still runs, a retry waits for its answer. Only successes are
kept: a request that failed was not applied and may be tried again. The id is scoped
to the endpoint, so one id cannot fetch another endpoint's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gittrack.errors import Conflict, InvalidParameter

HEADER = "x-gittrack-request-id"
KEEP_SECONDS = 24 * 3600
WAIT_SECONDS = 300.0  # how long a retry waits for the first attempt's answer
STALE_SECONDS = 120.0  # a first attempt running this long is taken to be dead (server crash)
MAX_ID_LENGTH = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers(
    endpoint TEXT NOT NULL,
    request_id TEXT NOT NULL,
    state TEXT NOT NULL,          -- 'running' or 'done'
    status INTEGER,
    body BLOB,
    created REAL NOT NULL,
    PRIMARY KEY(endpoint, request_id)
) WITHOUT ROWID;
"""


class RequestLog:
    """The answers given to writes that carried a request id (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._pruned = 0.0

    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            self._local.conn = conn
        return conn

    # -- blocking steps (run off the event loop) -------------------------------------------

    def _claim(self, endpoint: str, request_id: str) -> tuple[str, int | None, bytes | None]:
        """('mine', ...) when this attempt runs the request, else the row's state."""
        db = self._db()
        now = time.time()
        if now - self._pruned > 60:
            self._pruned = now
            db.execute("DELETE FROM answers WHERE created < ?", (now - KEEP_SECONDS,))
        cur = db.execute(
            "INSERT OR IGNORE INTO answers VALUES (?, ?, 'running', NULL, NULL, ?)",
            (endpoint, request_id, now),
        )
        if cur.rowcount:
            return "mine", None, None
        row = db.execute(
            "SELECT state, status, body, created FROM answers "
            "WHERE endpoint = ? AND request_id = ?",
            (endpoint, request_id),
        ).fetchone()
        if row is None:
            return "gone", None, None
        if row[0] == "running" and row[3] < now - STALE_SECONDS:
            # its process died mid-request (a crashed server): this attempt takes over
            cur = db.execute(
                "UPDATE answers SET created = ? WHERE endpoint = ? AND request_id = ? "
                "AND state = 'running' AND created = ?",
                (now, endpoint, request_id, row[3]),
            )
            if cur.rowcount:
                return "mine", None, None
        return row[0], row[1], row[2]

    def _finish(self, endpoint: str, request_id: str, status: int, body: bytes) -> None:
        self._db().execute(
            "UPDATE answers SET state = 'done', status = ?, body = ? "
            "WHERE endpoint = ? AND request_id = ?",
            (status, body, endpoint, request_id),
        )

    def _forget(self, endpoint: str, request_id: str) -> None:
        self._db().execute(
            "DELETE FROM answers WHERE endpoint = ? AND request_id = ? AND state = 'running'",
            (endpoint, request_id),
        )

    # -- the request path -------------------------------------------------------------------

    async def once(
        self,
        endpoint: str,
        request_id: str,
        run: Callable[[], Awaitable[tuple[int, bytes]]],
    ) -> tuple[int, bytes]:
        """``(status, body)`` of the request ``request_id`` to ``endpoint``: run it once,
        and give a retry the first answer.

        Raises:
            InvalidParameter: the id is empty or longer than :data:`MAX_ID_LENGTH`.
            Conflict: the first attempt has run for over :data:`WAIT_SECONDS`.
            Whatever ``run`` raises (nothing is kept then).
        """
        if not request_id or len(request_id) > MAX_ID_LENGTH:
            raise InvalidParameter(
                f"Invalid {HEADER} header: 1 to {MAX_ID_LENGTH} characters expected"
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            state, status, body = await asyncio.to_thread(self._claim, endpoint, request_id)
            if state == "mine":
                break
            if state == "done" and status is not None:
                return status, body or b""
            if time.monotonic() > deadline:
                raise Conflict(
                    f"Request {request_id} to {endpoint} is still being answered; try again later"
                )
            await asyncio.sleep(0.05)  # the first attempt is running (or just failed)
        try:
            status, body = await run()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await asyncio.to_thread(self._forget, endpoint, request_id)
            raise
        if status == 200:
            await asyncio.to_thread(self._finish, endpoint, request_id, status, body)
        else:
            await asyncio.to_thread(self._forget, endpoint, request_id)
        return status, body
