"""The repository thread, and group commit of writes per run.

All calls into :class:`gittrack.api.client.Client` run on one thread that owns the
repository (pygit2 objects are not shared between threads), so the event loop
never blocks on git.

Writes are acknowledged only once durable: after a run's operations are
applied, ``Client.flush(run_id)`` writes a checkpoint commit, and only then are
the requests answered. Requests for the same run that arrive while a
checkpoint is being written wait together and share the next one (group
commit), so sixteen clients logging at once cost one commit per round, not
sixteen. One run's operations are applied in arrival order, never
concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from gittrack.core.retry import Backoff

T = TypeVar("T")
log = logging.getLogger("gittrack.server")

LOCK_WAIT_SECONDS = 60.0
_LOCK_WAIT = Backoff(retries=None, first=0.002, factor=1.0, jitter=0.0, deadline=LOCK_WAIT_SECONDS)
Op = Callable[[Any], Any]  # an operation on the Client; its result answers one request


class Backend:
    """The server's one :class:`~gittrack.api.client.Client`, on its own thread."""

    def __init__(
        self, repo: str, artifacts_destination: str | None = None, *, shared: bool = False
    ) -> None:
        self.repo_path = repo
        self.artifacts_destination = artifacts_destination
        # shared: other worker processes write to the same repository, so a run's
        # writer (and its lock) is held only while a group is being applied
        self.shared = shared
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gittrack-repo")
        self._client: Any = None
        self._pending: dict[str, list[tuple[Op, asyncio.Future[Any]]]] = {}
        self._busy: set[str] = set()
        self._thread_id: int | None = None

    # -- the repository thread ---------------------------------------------------

    @property
    def client(self) -> Any:
        """The Client (only to be used on the repository thread)."""
        if self._client is None:
            from gittrack.api.client import Client

            self._thread_id = threading.get_ident()
            self._client = Client(self.repo_path)
        return self._client

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(client, *args)`` on the repository thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._invoke, fn, args)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue ``fn(client, *args)`` on the repository thread without waiting (warming
        caches at startup); returns its future."""
        return self._executor.submit(self._invoke, fn, args)

    def _invoke(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self.client, *args)
        finally:
            if self.shared:
                # A handler outside the group-commit path may open a run's writer and
                # with it the run's lock (``runs/create`` does). Kept open, it would hold
                # the lock until this worker next writes that run, and the other workers'
                # writes to it would wait for it in vain and fail with RunLocked after
                # LOCK_WAIT_SECONDS: the 409s of several workers. Give every run back.
                self._release_all()

    # -- group commit -------------------------------------------------------------

    async def write(self, run_id: str, op: Op) -> Any:
        """Apply ``op`` to run ``run_id``, make it durable, then return its result.

        Raises:
            Whatever ``op`` raised (only its own request fails), or the error of
            the checkpoint (every request of that group fails: none is acknowledged).
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(run_id, []).append((op, fut))
        if run_id not in self._busy:
            self._busy.add(run_id)
            asyncio.ensure_future(self._drain(run_id))
        return await fut

    async def _drain(self, run_id: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending.get(run_id):
                group = self._pending.pop(run_id)
                try:
                    results = await loop.run_in_executor(
                        self._executor, self._apply_group, run_id, [op for op, _ in group]
                    )
                except BaseException as exc:  # the checkpoint failed: nothing acknowledged
                    results = [(False, exc)] * len(group)
                for (_, fut), (ok, value) in zip(group, results, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._busy.discard(run_id)

    def _apply_group(self, run_id: str, ops: list[Op]) -> list[tuple[bool, Any]]:
        from gittrack.core.retry import call_with_retry
        from gittrack.errors import RunLocked

        # another worker process is writing this run right now: wait our turn. RunLocked
        # comes only from the first op, before anything is applied, so trying again
        # cannot apply an op twice.
        return call_with_retry(
            lambda: self._apply_group_once(run_id, ops),
            idempotent=True,
            retryable=lambda e: self.shared and isinstance(e, RunLocked),
            backoff=_LOCK_WAIT,
        )

    def _apply_group_once(self, run_id: str, ops: list[Op]) -> list[tuple[bool, Any]]:
        from gittrack.errors import RunLocked

        client = self.client
        results: list[tuple[bool, Any]] = []
        try:
            for op in ops:
                try:
                    results.append((True, op(client)))
                except RunLocked:
                    raise  # only the first op can meet it: then nothing is applied yet
                except Exception as exc:  # noqa: BLE001 - answered to that request alone
                    results.append((False, exc))
            if any(ok for ok, _ in results):
                client.flush(run_id)
        finally:
            if self.shared:
                self._release(run_id)
        return results

    def _release_all(self) -> None:
        from gittrack.core.live import open_writers

        if self._client is None:
            return
        common = self._client.repo.common_dir
        for w in open_writers():
            if not w.closed and w.repo.common_dir == common:
                try:
                    w.close()
                except Exception:  # noqa: BLE001 - the handler's own answer stands
                    log.exception("closing the writer of run %s failed", w.run_id)

    def _release(self, run_id: str) -> None:
        from gittrack.core.live import get_open_writer

        w = get_open_writer(self.client.repo, run_id)
        if w is not None and not w.closed:
            w.close()

    # -- shutdown -------------------------------------------------------------------

    def close(self) -> None:
        """Flush every run this server wrote to and stop the repository thread."""

        def _flush_all(client: Any) -> None:
            if client is not None:
                client.flush()

        try:
            self._executor.submit(lambda: _flush_all(self._client)).result(timeout=60)
        except Exception:  # noqa: BLE001
            log.exception("flushing runs at shutdown failed")
        self._executor.shutdown(wait=True)
