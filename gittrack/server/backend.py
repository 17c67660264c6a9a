"""The repository thread, and group commit of writes per run.

All calls into :class:`gittrack.api.client.Client` run on one thread that owns the
repository (pygit2 objects are not shared between threads), so the event loop
never blocks on git.

Writes are acknowledged only once durable. Requests for the same run that arrive
while the repository thread is busy wait together and are applied as one group, in
arrival order (group commit). Then either

* the group is made durable by a checkpoint commit (``Client.flush(run_id)``), or
* with the journal (one server process, the default): logging requests — metrics,
  params and tags, what ``log_batch`` carries — are appended to the run's journal
  (:mod:`gittrack.core.journal`) and the group is acknowledged after one
  ``fdatasync``; the checkpoint commit follows once per ``gittrack.checkpoint-seconds``
  (and before any read through this backend, so a client reads its own writes). A
  crash after the acknowledgement loses nothing: the journal is replayed into the run
  when the backend starts.

Requests that are not journaled (ending a run, deleting a tag, ...) still take the
first path, which also commits everything journaled before them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gittrack.core.retry import Backoff

T = TypeVar("T")
log = logging.getLogger("gittrack.server")

LOCK_WAIT_SECONDS = 60.0
_LOCK_WAIT = Backoff(retries=None, first=0.002, factor=1.0, jitter=0.0, deadline=LOCK_WAIT_SECONDS)
Op = Callable[[Any], Any]  # an operation on the Client; its result answers one request
# a logging request as the journal keeps it: metrics (key, value, timestamp, step),
# params (key, value), tags (key, value) — checked already, applied by apply_batch
Batch = tuple[
    Sequence[tuple[str, float, int, int]], Sequence[tuple[str, str]], Sequence[tuple[str, str]]
]

if TYPE_CHECKING:
    from gittrack.core.journal import RunJournal


def apply_batch(client: Any, run_id: str, batch: Batch) -> None:
    """Apply a logging request (the one code path for a request and for its replay)."""
    from gittrack.core.entities import Metric, Param, RunTag

    metrics, params, tags = batch
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, ts, step) for k, v, ts, step in metrics],
        params=[Param(k, v) for k, v in params],
        tags=[RunTag(k, v) for k, v in tags],
    )


def encode_batch(batch: Batch) -> bytes:
    """A journal entry's payload (JSON; NaN and infinities as Python's json writes them)."""
    metrics, params, tags = batch
    return json.dumps(
        {
            "m": [list(m) for m in metrics],
            "p": [list(p) for p in params],
            "t": [list(t) for t in tags],
        },
        separators=(",", ":"),
    ).encode()


def decode_batch(payload: bytes) -> Batch:
    d = json.loads(payload)
    return (
        [(str(k), float(v), int(ts), int(st)) for k, v, ts, st in d["m"]],
        [(str(k), str(v)) for k, v in d["p"]],
        [(str(k), str(v)) for k, v in d["t"]],
    )


class Backend:
    """The server's one :class:`~gittrack.api.client.Client`, on its own thread."""

    def __init__(
        self,
        repo: str,
        artifacts_destination: str | None = None,
        *,
        shared: bool = False,
        journal: bool = False,
    ) -> None:
        """With ``journal``, journals left by an earlier process are replayed first (on
        the repository thread, before any request), and, unless ``shared``, logging
        requests are acknowledged from the journal (see the module docstring)."""
        self.repo_path = repo
        self.artifacts_destination = artifacts_destination
        # shared: other worker processes write to the same repository, so a run's
        # writer (and its lock) is held only while a group is being applied
        self.shared = shared
        self.journal = journal and not shared
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gittrack-repo")
        self._client: Any = None
        self._pending: dict[str, list[tuple[Op, Batch | None, asyncio.Future[Any]]]] = {}
        self._busy: set[str] = set()
        self._thread_id: int | None = None
        # journaling (repository thread only): per run, its journal, when its oldest
        # entry not yet committed was acknowledged, and segments waiting for deletion
        self._journals: dict[str, RunJournal] = {}
        self._uncommitted: dict[str, float] = {}
        self._no_journal: set[str] = set()  # runs whose old journal could not be replayed
        self._discarder = ThreadPoolExecutor(1, thread_name_prefix="gittrack-journal")
        if journal:
            self.submit(lambda client: self._replay_all())

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
            if self._uncommitted:  # a read sees every acknowledged write
                self._commit_journaled(list(self._uncommitted))
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
        return await self._enqueue(run_id, op, None)

    async def log(self, run_id: str, batch: Batch) -> None:
        """Log checked metrics, params and tags into run ``run_id`` (:func:`apply_batch`),
        durable when this returns: journaled, or committed (see the module docstring).

        Raises:
            As :meth:`write`.
        """
        await self._enqueue(run_id, lambda c: apply_batch(c, run_id, batch), batch)

    async def _enqueue(self, run_id: str, op: Op, batch: Batch | None) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(run_id, []).append((op, batch, fut))
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
                        self._executor,
                        self._apply_group,
                        run_id,
                        [(op, batch) for op, batch, _ in group],
                    )
                except BaseException as exc:  # the checkpoint failed: nothing acknowledged
                    results = [(False, exc)] * len(group)
                for (_, _, fut), (ok, value) in zip(group, results, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._busy.discard(run_id)

    def _apply_group(
        self, run_id: str, ops: list[tuple[Op, Batch | None]]
    ) -> list[tuple[bool, Any]]:
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

    def _apply_group_once(
        self, run_id: str, ops: list[tuple[Op, Batch | None]]
    ) -> list[tuple[bool, Any]]:
        from gittrack.errors import RunLocked

        client = self.client
        results: list[tuple[bool, Any]] = []
        commit = journaled = False
        try:
            for op, batch in ops:
                journal, writer = self._journal_of(run_id) if batch is not None else (None, None)
                try:
                    if journal is None or writer is None or batch is None:
                        results.append((True, op(client)))
                        commit = True
                        continue
                    seq, mark = journal.next_mark()
                    with writer.journaled(mark, points_only=not (batch[1] or batch[2])):
                        value = op(client)
                except RunLocked:
                    raise  # only the first op can meet it: then nothing is applied yet
                except Exception as exc:  # noqa: BLE001 - answered to that request alone
                    results.append((False, exc))
                    continue
                results.append((True, value))
                try:
                    journal.append(seq, encode_batch(batch))
                    journaled = True
                except OSError as exc:  # applied but not journaled: commit the group instead
                    log.warning("journal of run %s failed (%s); committing instead", run_id, exc)
                    commit = True
            if commit and any(ok for ok, _ in results):
                client.flush(run_id)
                self._committed(run_id)
            elif journaled:
                self._sync_journal(run_id)
        finally:
            if self.shared:
                self._release(run_id)
        return results

    # -- the journal (repository thread) --------------------------------------------

    def _journal_of(self, run_id: str) -> tuple[RunJournal | None, Any]:
        """The run's journal and live writer, when its writes may be journaled: the
        journal is on and the run is open and RUNNING in this process (the first write
        to a run opens it, through a commit)."""
        if not self.journal or run_id in self._no_journal:
            return None, None
        from gittrack.core.entities import RunStatus
        from gittrack.core.journal import RunJournal
        from gittrack.core.live import get_open_writer

        client = self.client
        writer = get_open_writer(client.repo, run_id)
        if writer is None or writer.closed or writer.status != RunStatus.RUNNING:
            return None, None
        journal = self._journals.get(run_id)
        if journal is None:
            journal = self._journals[run_id] = RunJournal(client.repo.state_dir, run_id)
        if writer.checkpoints != journal.rotated_at:
            # the writer's thread committed since: new entries go to a new segment, and
            # the segments that commit holds wholly go
            journal.rotated_at = writer.checkpoints
            journal.rotate()
            self._discard(journal.committed(writer.committed_mark))
        return journal, writer

    def _sync_journal(self, run_id: str) -> None:
        """Make the group's journal entries durable (if that fails, commit them instead).

        Checkpoints are written by the writer's own thread every
        ``gittrack.checkpoint-seconds``, beside the requests
        (:meth:`gittrack.core.writer.RunWriter.journaled`); :meth:`_journal_of` retires
        the segments they hold."""
        journal = self._journals[run_id]
        try:
            journal.sync()
        except OSError as exc:
            log.warning("journal of run %s failed (%s); committing instead", run_id, exc)
            self.client.flush(run_id)
            self._committed(run_id)
            return
        self._uncommitted[run_id] = time.monotonic()

    def _committed(self, run_id: str) -> None:
        """Everything journaled for ``run_id`` is in a commit: retire its segments."""
        self._uncommitted.pop(run_id, None)
        journal = self._journals.get(run_id)
        if journal is not None:
            journal.rotate()
            self._discard([p for p, _ in journal.closed])
            journal.closed = []

    def _discard(self, paths: list[Path]) -> None:
        if paths:
            from gittrack.core.journal import discard

            self._discarder.submit(discard, paths)

    def _commit_journaled(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self.client.flush(run_id)
            self._committed(run_id)

    def _replay_all(self) -> None:
        """Replay the journals an earlier process left (see :mod:`gittrack.core.journal`)."""
        from gittrack.core.journal import segments

        for run_id, paths in segments(self.client.repo.state_dir).items():
            try:
                self._replay(run_id, paths)
            except Exception:  # noqa: BLE001 - the files stay for the next start
                self._no_journal.add(run_id)
                log.exception(
                    "replaying the journal of run %s failed; its files stay in %s",
                    run_id,
                    paths[0].parent,
                )

    def _replay(self, run_id: str, paths: list[Path]) -> None:
        from gittrack.core.entities import RunStatus
        from gittrack.core.journal import committed_seq, discard, mark, read_entries
        from gittrack.core.live import get_open_writer

        client = self.client
        w = get_open_writer(client.repo, run_id) or client.writer(run_id)
        try:
            ref = client.repo.git.references.get(w.ref)
            tip = str(ref.target) if ref is not None else None
            done: dict[str, int] = {}  # generation -> how far it is committed
            todo = []
            for e in read_entries(paths):
                if e.gen not in done:
                    done[e.gen] = committed_seq(client.repo.git, tip, e.gen)
                if e.seq > done[e.gen]:
                    todo.append(e)
            if todo and w.status != RunStatus.RUNNING:
                raise RuntimeError(
                    f"run {run_id} is {w.status}: {len(todo)} journaled writes cannot be "
                    "applied (resume the run and restart the server to apply them)"
                )
            for e in todo:
                with w.journaled(mark(e.gen, e.seq)):
                    apply_batch(client, run_id, decode_batch(e.payload))
            if todo:
                w.checkpoint()
                log.warning("replayed %d journaled writes into run %s", len(todo), run_id)
            discard(paths)
        finally:
            if self.shared or w.status != RunStatus.RUNNING:
                w.close()

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
                for run_id in list(self._journals):
                    self._committed(run_id)

        try:
            self._executor.submit(lambda: _flush_all(self._client)).result(timeout=60)
        except Exception:  # noqa: BLE001
            log.exception("flushing runs at shutdown failed")
        self._executor.shutdown(wait=True)
        self._discarder.shutdown(wait=True)
