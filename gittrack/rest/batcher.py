"""Background batching of metric points for the REST client.

Points are queued per run and sent as ``runs/log-batch`` requests of up to
1,000 points by one background thread: when a run has a full batch queued,
every ``interval`` seconds, and on :meth:`Batcher.flush` (``end_run``,
``get_run``, interpreter exit and SIGTERM). A failed send is retried with backoff (the
HTTP layer retries first; then the same batch, with the same request id, is
sent again before anything newer) — points are never dropped silently, and a
batch the server did apply but whose answer was lost is not applied twice. If a flush
cannot deliver by its deadline, or the server refuses points for good (a 4xx),
the points are written to a JSON-lines file and :class:`DeliveryError` names
the file and the count.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gittrack.errors import GittrackError

log = logging.getLogger("gittrack.rest")

MAX_BATCH = 1000


class DeliveryError(GittrackError):
    """Metric points that could not be delivered to the tracking server (saved locally)."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503

    def __init__(self, run_id: str, count: int, reason: str, saved_to: str | None) -> None:
        where = f"; they were saved to {saved_to}" if saved_to else ""
        super().__init__(
            f"{count} metric points of run {run_id} could not be delivered to the tracking "
            f"server: {reason}{where}"
        )
        self.run_id, self.count, self.saved_to = run_id, count, saved_to


def spill_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gittrack" / "undelivered"


class Batcher:
    """Queues points per run and sends them from a daemon thread.

    ``send(run_id, points, request_id)`` delivers one batch or raises (``request_id``
    is the same on every attempt of one batch); ``permanent(exc)`` says whether an
    error means the points can never be delivered.
    """

    def __init__(
        self,
        send: Callable[[str, list[Any], str], None],
        *,
        interval: float = 1.0,
        max_batch: int = MAX_BATCH,
        permanent: Callable[[BaseException], bool] = lambda exc: False,
        retry_pause: float = 1.0,
    ) -> None:
        self._send = send
        self.interval = interval
        self.max_batch = max_batch
        self._permanent = permanent
        self.retry_pause = retry_pause
        self._queues: dict[str, deque[Any]] = {}
        self._resend: dict[str, tuple[list[Any], str]] = {}  # a failed batch, sent next
        self._inflight: dict[str, int] = {}
        self._refused: dict[str, list[tuple[list[Any], str]]] = {}
        self._last_error: dict[str, str] = {}
        self._abandoned: set[str] = set()
        self._cond = threading.Condition()
        self._urgent = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._atexit = False

    # -- producer side ------------------------------------------------------------------

    def add(self, run_id: str, point: Any) -> None:
        """Queue one point (returns at once)."""
        with self._cond:
            q = self._queues.get(run_id)
            if q is None:
                q = self._queues[run_id] = deque()
            q.append(point)
            if self._thread is None:
                self._start()
            if len(q) >= self.max_batch:
                self._urgent = True
                self._cond.notify_all()

    def pending(self, run_id: str | None = None) -> int:
        with self._cond:
            if run_id is not None:
                again = len(self._resend[run_id][0]) if run_id in self._resend else 0
                return len(self._queues.get(run_id, ())) + self._inflight.get(run_id, 0) + again
            return (
                sum(map(len, self._queues.values()))
                + sum(self._inflight.values())
                + sum(len(b) for b, _ in self._resend.values())
            )

    def flush(self, run_id: str | None = None, timeout: float | None = None) -> None:
        """Send everything queued (for ``run_id``, or all runs) and wait until it is acknowledged.

        Raises:
            DeliveryError: points were refused by the server, or could not be sent
                before ``timeout`` seconds (default ``GITTRACK_REST_FLUSH_TIMEOUT``
                or 300); they are saved to a local file first.
        """
        if timeout is None:
            timeout = float(os.environ.get("GITTRACK_REST_FLUSH_TIMEOUT", "300"))
        deadline = time.monotonic() + timeout
        runs = [run_id] if run_id is not None else None
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            targets = runs or [*self._queues, *self._resend]
            while True:
                busy = [r for r in (runs or [*self._queues, *self._resend]) if self._busy(r)]
                if not busy:
                    break
                if time.monotonic() >= deadline:
                    # stop retrying what is queued; batches in flight finish (their
                    # retries are bounded) and, if they fail, join the refused points
                    for r in busy:
                        self._abandoned.add(r)
                        self._give_up(
                            r,
                            f"timed out after {timeout:g}s "
                            f"({self._last_error.get(r, 'no answer from the server')})",
                        )
                    if not any(self._inflight.get(r, 0) for r in busy):
                        break
                self._cond.wait(0.5 if time.monotonic() < deadline else 0.1)
            errors = []
            for r in runs or list(self._refused):
                refused = self._refused.pop(r, [])
                if refused:
                    points = [p for batch, _ in refused for p in batch]
                    reason = refused[0][1]
                    errors.append(DeliveryError(r, len(points), reason, self._save(r, points)))
            self._abandoned.difference_update(targets)
        if errors:
            raise errors[0]

    def close(self, timeout: float | None = None) -> None:
        """Flush everything and stop the thread."""
        try:
            self.flush(timeout=timeout)
        finally:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)

    # -- internals ------------------------------------------------------------------------

    def _busy(self, run_id: str) -> bool:
        return (
            bool(self._queues.get(run_id))
            or self._inflight.get(run_id, 0) > 0
            or run_id in self._resend
        )

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="gittrack-rest-batcher", daemon=True
        )
        self._thread.start()
        if not self._atexit:
            from gittrack.core import shutdown

            shutdown.on_exit(f"rest-{id(self)}", self._at_exit, order=30)
            self._atexit = True

    def _at_exit(self, _status: str = "FINISHED") -> None:
        """At exit or SIGTERM (see :mod:`gittrack.core.shutdown`): deliver what is queued."""
        try:
            self.close(timeout=float(os.environ.get("GITTRACK_REST_EXIT_TIMEOUT", "60")))
        except DeliveryError as exc:
            print(f"gittrack: {exc}", file=sys.stderr)

    def _give_up(self, run_id: str, reason: str) -> None:
        """Move what is queued for ``run_id`` to the refused list (called with the lock held)."""
        again = self._resend.pop(run_id, None)
        if again:
            self._refused.setdefault(run_id, []).append((again[0], reason))
        q = self._queues.pop(run_id, None)
        if q:
            self._refused.setdefault(run_id, []).append((list(q), reason))

    def _save(self, run_id: str, points: list[Any]) -> str | None:
        try:
            d = spill_dir()
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{run_id}-{int(time.time() * 1000)}.jsonl"
            with open(path, "a", encoding="utf-8") as fh:
                for p in points:
                    fh.write(
                        json.dumps(
                            {
                                "run_id": run_id,
                                "key": p.key,
                                "value": p.value,
                                "timestamp": p.timestamp,
                                "step": p.step,
                            }
                        )
                        + "\n"
                    )
            return str(path)
        except OSError as exc:  # pragma: no cover - disk full, read-only home
            log.error("could not save undelivered points of run %s: %s", run_id, exc)
            return None

    def _next_batch(self) -> tuple[str, list[Any], str] | None:
        """(run id, points, request id) to send next: a failed batch again, else new."""
        import uuid

        for run_id in list(self._resend):
            batch, request_id = self._resend.pop(run_id)
            self._inflight[run_id] = self._inflight.get(run_id, 0) + len(batch)
            return run_id, batch, request_id
        for run_id, q in self._queues.items():
            if q:
                n = min(len(q), self.max_batch)
                batch = [q.popleft() for _ in range(n)]
                self._inflight[run_id] = self._inflight.get(run_id, 0) + n
                return run_id, batch, uuid.uuid4().hex
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._urgent and not self._stop:
                    self._cond.wait(self.interval)
                self._urgent = False
                if self._stop and not any(self._queues.values()) and not self._resend:
                    return
            while True:
                with self._cond:
                    item = self._next_batch()
                if item is None:
                    break
                run_id, batch, request_id = item
                failed: BaseException | None = None
                try:
                    self._send(run_id, batch, request_id)
                except Exception as exc:  # noqa: BLE001 - every error is kept or retried
                    failed = exc
                with self._cond:
                    self._inflight[run_id] -= len(batch)
                    if failed is None:
                        self._last_error.pop(run_id, None)
                    elif self._permanent(failed) or run_id in self._abandoned:
                        self._refused.setdefault(run_id, []).append((batch, str(failed)))
                    else:
                        if run_id not in self._last_error:
                            log.warning("gittrack: sending metrics failed, retrying: %s", failed)
                        self._last_error[run_id] = str(failed)
                        self._resend[run_id] = (batch, request_id)
                    self._cond.notify_all()
                if failed is not None and not self._permanent(failed):
                    with self._cond:
                        self._cond.wait(self.retry_pause)
                    break
