"""The writer of one live run: buffers points in memory, commits checkpoints.

A :class:`RunWriter` is the only thing that writes a run's ref. It holds the
run's lock for as long as it is open, buffers metric points in a list (a
``log_metric`` call is an append), and writes a checkpoint commit every
``gittrack.checkpoint-seconds`` (default 5), at :meth:`end`, and at interpreter
exit and on SIGTERM (:mod:`gittrack.core.shutdown`, for every API). Points are
encoded on the logging thread, 8,192 at a time; a checkpoint appends them to the
newest TSV chunk of each metric, writes its new objects as one kept pack
(:mod:`gittrack.core.pack`), moves the ref, and only then drops them from memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.core import live, shutdown, validation
from gittrack.core.entities import RunStatus
from gittrack.core.gittree import PackedTrees, commit_bytes, subtree_id
from gittrack.core.gitwrite import auto_gc, consolidate, retry_write, write_ref
from gittrack.core.journal import trailer as journal_trailer
from gittrack.core.live import DEFAULT_HEARTBEAT_SECONDS
from gittrack.core.locks import FileLock, run_lock
from gittrack.core.pack import PackBuilder, Written, gc_running_since
from gittrack.core.pack import release as pack_release
from gittrack.core.pack import repair as pack_repair
from gittrack.core.pack import sweep as sweep_packs
from gittrack.core.reader import Store
from gittrack.core.records import chunkcache
from gittrack.core.records import formats as records
from gittrack.core.records import summary as run_summary
from gittrack.errors import (
    InvalidParameter,
    ParamChanged,
    RunLocked,
    RunNotWritable,
    inactive_run_message,
)
from gittrack.layout import ENVIRONMENT_FILE, RECORD_FILES, run_ref

if TYPE_CHECKING:
    import pygit2

    from gittrack.core.bulk import Batch
    from gittrack.core.repo import Repo

DEFAULT_CHECKPOINT_SECONDS = 5.0
STAGE_POINTS = 8192  # buffered points encoded at once on the logging thread
REPAIR_SECONDS = 120.0  # how long a writer watches its packs (see _repair_packs)
CLOSE_WAIT_SECONDS = 5.0  # at exit, how long to wait for a running `git gc` to end
KEEP_LIVE_SECONDS = 300.0  # a live run's packs stay kept this long (see _release_packs)
CONSOLIDATE_EVERY = 64  # checkpoint packs between two background consolidations
_SYSTEM_NAME_TAG = "mlflow.runName"
_NOTE_TAG = "mlflow.note.content"

_time = time.time
_BLOB = 0o100644
_TREE = 0o040000
_good_keys = validation._good_keys
_MIN_INT64, _MAX_INT64 = validation.MIN_INT64, validation.MAX_INT64  # the range metric_point checks
_by_step_ts = itemgetter(2, 3)
_key_of = itemgetter(0)
_value_of = itemgetter(1)
_step_of = itemgetter(2)
_stamp_of = itemgetter(3)


class _Handles:
    """Private ``pygit2.Repository`` handles of this process, per git directory, each
    used by one open writer at a time. A sweep of many short runs then opens the
    repository (and the pack indexes its lookups map) once, not once per run."""

    MAX_IDLE = 4  # idle handles kept per repository

    def __init__(self) -> None:
        self._idle: dict[tuple[int, str], list[pygit2.Repository]] = {}
        self._lock = threading.Lock()

    def take(self, path: str) -> pygit2.Repository:
        with self._lock:
            idle = self._idle.get((os.getpid(), path))
            if idle:
                return idle.pop()
        import pygit2

        return pygit2.Repository(path)

    def give_back(self, git: pygit2.Repository) -> None:
        with self._lock:
            idle = self._idle.setdefault((os.getpid(), git.path), [])
            if len(idle) < self.MAX_IDLE and all(h is not git for h in idle):
                idle.append(git)


_handles = _Handles()


def _fast_object_creation() -> None:
    """Skip libgit2's check that every object a new tree or commit names exists: the
    writer always writes those objects first, and the check costs a lookup per entry."""
    import pygit2

    # the stubs accept only pygit2.enums.Option here; the GIT_OPT_ constant works with
    # every pygit2 this package supports
    pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, False)  # type: ignore[call-overload]


class _MetricState:
    """What a writer keeps per metric key: the summary and the newest, not yet full chunk.

    A checkpoint never changes a state in place: it folds new points into a copy and
    the copy replaces the state once the commit is on the ref."""

    __slots__ = ("summary", "chunk_index", "tail", "tail_n", "points")

    def __init__(
        self,
        summary: dict[str, Any] | None,
        chunk_index: int,
        tail: bytes,
        tail_n: int,
        points: list[tuple[str, float, int, int]] | None,
    ) -> None:
        self.summary = summary
        self.chunk_index = chunk_index  # index of the chunk ``tail`` belongs in
        self.tail = tail  # the encoded lines of that chunk (appended to, never re-encoded)
        self.tail_n = tail_n  # how many lines ``tail`` holds
        # the points of ``tail`` as logged, when this writer logged all of them (a chunk
        # it completes then goes to the decoded-chunk cache); None for a reopened tail
        self.points = points


class _Staged:
    """Points of one metric encoded but not yet committed: segments of (TSV lines, the
    points as logged — for the decoded-chunk cache), min/max of the finite values (NaN
    when none) and the latest point by (step, timestamp)."""

    __slots__ = ("segments", "count", "lo", "hi", "latest")

    def __init__(
        self,
        segments: tuple[tuple[list[str], list[tuple[str, float, int, int]]], ...],
        count: int,
        lo: float,
        hi: float,
        latest: tuple[str, float, int, int],
    ) -> None:
        self.segments, self.count = segments, count
        self.lo, self.hi, self.latest = lo, hi, latest

    def then(self, other: _Staged) -> _Staged:
        """This followed by ``other`` (a new object; neither is changed)."""
        if self.lo != self.lo:
            lo, hi = other.lo, other.hi
        elif other.lo != other.lo:
            lo, hi = self.lo, self.hi
        else:
            lo, hi = min(self.lo, other.lo), max(self.hi, other.hi)
        a, b = self.latest, other.latest
        latest = b if (b[2], b[3]) >= (a[2], a[3]) else a
        return _Staged(self.segments + other.segments, self.count + other.count, lo, hi, latest)


def _stage_points(
    points: list[tuple[str, float, int, int]], staged: dict[str, _Staged]
) -> dict[str, _Staged]:
    """``staged`` followed by ``points`` (a new dict; ``staged`` is not changed)."""
    groups: dict[str, list[tuple[str, float, int, int]]] = {}
    keys = list(map(_key_of, points))
    first = keys[0]
    period = len(dict.fromkeys(keys))
    if period == 1:  # one key: no regrouping
        groups[first] = points
    elif keys[period:] == keys[:-period]:
        # every step logs the same keys in the same order (the usual loop): each key's
        # points are one slice, taken in C
        for j in range(period):
            groups[keys[j]] = points[j::period]
    else:
        for p in points:
            g = groups.get(p[0])
            if g is None:
                g = groups[p[0]] = []
            g.append(p)
    out = dict(staged)
    for key, pts in groups.items():
        values = list(map(_value_of, pts))
        total = sum(values)
        finite = values if total == total else [v for v in values if v == v]
        top = max(map(_step_of, pts))
        if pts[-1][2] == top and (len(pts) == 1 or pts[-2][2] < top):
            latest = pts[-1]  # the usual case: steps grow, the last point is the latest
        else:
            latest = max(reversed(pts), key=_by_step_ts)
        lo = min(finite) if finite else math.nan
        hi = max(finite) if finite else math.nan
        new = _Staged(((records.point_lines(pts), pts),), len(pts), lo, hi, latest)
        old = out.get(key)
        out[key] = old.then(new) if old is not None else new
    return out


def _merge_staged(first: dict[str, _Staged], then: dict[str, _Staged]) -> dict[str, _Staged]:
    """``first`` followed by ``then``, per metric."""
    out = dict(first)
    for key, st in then.items():
        out[key] = out[key].then(st) if key in out else st
    return out


def now_ms() -> int:
    return int(_time() * 1000)


class RunWriter:
    """Writes one run. Create with :func:`create_run_writer` or :func:`open_run_writer`."""

    def __init__(
        self,
        repo: Repo,
        run_id: str,
        record: dict[str, Any],
        *,
        params: dict[str, Any],
        tags: dict[str, str],
        note: str,
        metrics: dict[str, _MetricState],
        artifacts: dict[str, Any],
        gt_tree: pygit2.Oid | str | None,
        source_tree: pygit2.Oid | str | None,
        head: pygit2.Oid | str | None,
        source_commit: str | None,
        lock: FileLock,
        batch: Batch | None = None,
    ) -> None:
        """With ``batch`` (:class:`gittrack.core.bulk.Batch`), checkpoints add their objects
        to the batch's one pack and leave the ref move to the batch, which also holds
        ``lock`` until the ref has moved."""

        _fast_object_creation()
        self.repo = repo
        # a private handle: libgit2 objects are not for concurrent use across threads, and
        # the checkpoint thread writes while the user's thread may read through repo.git;
        # taken from this process's pool (one writer at a time uses it), returned at close
        self._git = _handles.take(repo.git.path)
        sig = repo.signature()
        self._sig_name, self._sig_email = sig.name, sig.email
        self.run_id = run_id
        self.ref = run_ref(run_id)
        self.record = record
        self.params = params
        self.tags = tags
        self.note = note
        self.artifacts = artifacts
        self._metrics = metrics
        # commits and trees by hex id: checkpoints write them into packs themselves
        self._gt_tree = str(gt_tree) if gt_tree is not None else None
        self._source_tree = str(source_tree) if source_tree is not None else None
        self._head = str(head) if head is not None else None
        self._source_commit = source_commit
        self._trees = PackedTrees(self._git)
        self._objects_dir = repo.common_dir / "objects"
        self._auto_gc = auto_gc(repo)
        self._kept: list[Written] = []  # packs whose .keep waits for a running gc to end
        self._recent: list[Written] = []  # packs checked for a gc's garbage sweep
        self._lock = lock
        self._batch = batch
        self._buf: list[tuple[str, float, int, int]] = []
        # points encoded but not yet committed, per metric (see _stage)
        self._staged: dict[str, _Staged] = {}
        self._stage_lock = threading.Lock()
        self._idle = threading.Event()  # set while no checkpoint is being written
        self._idle.set()
        # path -> (blob content or blob id, filemode), or None to remove the path
        self._pending: dict[str, tuple[bytes | str, int] | None] = {}
        self._dirty = (
            {"run", "params", "tags", "metrics", "note", "artifacts"} if head is None else set()
        )
        self._mutex = threading.RLock()
        self.closed = False
        self._pid = os.getpid()
        self._frozen = self._is_frozen()
        self.checkpoints = 0
        self.interval = repo.config_float("gittrack.checkpoint-seconds", DEFAULT_CHECKPOINT_SECONDS)
        self.heartbeat_interval = repo.config_float(
            "gittrack.heartbeat-seconds", DEFAULT_HEARTBEAT_SECONDS
        )
        self._last_checkpoint = _time()
        # the journal entry the buffered changes reach (gittrack.core.journal): every
        # commit carries the mark its points reach as a trailer, so the ref says what is
        # committed; committed_mark is the mark of the commit on the ref now
        self.journal_mark: str | None = None
        self.committed_mark: str | None = None
        self._mark_lock = threading.Lock()

    @contextmanager
    def journaled(self, mark: str, *, points_only: bool = False) -> Iterator[None]:
        """Changes made inside belong to journal entry ``mark``: a checkpoint takes them
        and the mark together or neither, so a commit holds exactly the entries up to the
        mark it carries. If the body raises, the mark stays where it was.

        ``points_only``: the body only logs metric points; then it runs beside a
        checkpoint being written (the ref keeps moving while requests are applied).
        Anything else (params, tags, the record) waits for the checkpoint in flight."""
        with contextlib.nullcontext() if points_only else self._mutex, self._mark_lock:
            yield
            self.journal_mark = mark

    # -- logging (hot path) ---------------------------------------------------

    def log_metric(self, key: str, value: Any, step: Any = None, timestamp: Any = None) -> None:
        """Buffer one point; it is committed at the next checkpoint."""
        if step is None:
            step = 0
        if (
            key not in _good_keys
            or type(value) is not float
            or type(step) is not int
            or not _MIN_INT64 <= step <= _MAX_INT64
            or (
                timestamp is not None
                and (type(timestamp) is not int or not 0 <= timestamp <= _MAX_INT64)
            )
        ):  # the fast checks do not vouch for it: the one builder of a point does
            key, value, timestamp, step = validation.metric_point(key, value, timestamp, step)
        elif timestamp is None:
            timestamp = int(_time() * 1000)
        if self._frozen:
            self._refuse("log metrics to")
        buf = self._buf
        buf.append((key, value, step, timestamp))
        if len(buf) >= STAGE_POINTS:
            self._stage()

    def log_points(self, points: list[tuple[str, float, int, int]]) -> None:
        """Buffer many ``(key, value, step, timestamp)`` points at once (a whole history,
        as :func:`gittrack.core.bulk.write_run` has it), checked as :meth:`log_metric`
        checks each: a batch of plain floats and ints is taken whole, anything else point
        by point."""
        if self._frozen:
            self._refuse("log metrics to")
        for key in {p[0] for p in points} - _good_keys:
            validation.validate_key(key, "metric")
        plain = all(
            type(v) is float
            and type(s) is int
            and _MIN_INT64 <= s <= _MAX_INT64
            and type(t) is int
            and 0 <= t <= _MAX_INT64
            for _k, v, s, t in points
        )
        if not plain:
            for key, value, step, ts in points:
                self.log_metric(key, value, step, ts)
            return
        self._buf.extend(points)
        if len(self._buf) >= STAGE_POINTS:
            self._stage()

    def _stage(self) -> None:
        """Encode the buffered points into per-metric staged lines and summaries, here on
        the logging thread, STAGE_POINTS at a time: a checkpoint then only joins,
        compresses and writes (C work, mostly without the GIL), so it costs far less
        than logging and the ref keeps moving every interval at any logging rate."""
        if not self._idle.is_set() and _time() - self._last_checkpoint > 1.5 * self.interval:
            # the checkpoint in flight is overdue (the machine is loaded or points come
            # faster than it can write): wait for it, so a crash still loses at most about
            # two intervals — logging pauses rather than the loss growing without bound
            self._idle.wait(self.interval)
        with self._stage_lock, shutdown.critical():
            buf = self._buf
            n = len(buf)
            if not n:
                return
            staged = _stage_points(buf[:n], self._staged)
            self._staged = staged
            del buf[:n]

    def log_param(self, key: str, value: Any) -> None:
        validation.validate_key(key, "param")
        text = validation.validate_param_value(key, value)
        with self._mutex:
            if self._frozen:
                self._refuse("log params to")
            if key in self.params:
                old = records.param_str(self.params[key])
                if old != text:
                    raise ParamChanged(self.run_id, key, old, text)
                return
            self.params[key] = records.yaml_scalar(value)
            self._dirty.add("params")

    def log_params(self, params: Mapping[str, Any]) -> None:
        flat = _flatten_config(params)
        for key, value in flat.items():
            validation.validate_key(key, "param")
            validation.validate_param_value(key, value)
        with self._mutex:
            for key, value in flat.items():
                self.log_param(key, value)

    def set_tag(self, key: str, value: Any) -> None:
        validation.validate_key(key, "tag")
        text = validation.validate_tag_value(key, value)
        with self._mutex:
            if self.record.get("lifecycle") == "deleted":
                self._refuse("set tags on")
            if key == _SYSTEM_NAME_TAG:
                self.record["name"] = text
                self._dirty.add("run")
            elif key == _NOTE_TAG:
                self.note = text
                self._dirty.add("note")
            else:
                self.tags[key] = text
                self._dirty.add("tags")

    def delete_tag(self, key: str) -> None:
        with self._mutex:
            if self.record.get("lifecycle") == "deleted":
                self._refuse("delete tags of")
            if key in self.tags:
                del self.tags[key]
                self._dirty.add("tags")
            elif key == _NOTE_TAG and self.note:
                self.note = ""
                self._dirty.add("note")
            else:
                from gittrack.errors import NotFound

                raise NotFound(f"No tag with name: {key} in run with id {self.run_id}")

    def set_record(self, **fields: Any) -> None:
        """Change fields of run.yaml (name, status, lifecycle, ...)."""
        with self._mutex:
            self.record.update(fields)
            self._dirty.add("run")
            self._frozen = self._is_frozen()

    def _is_frozen(self) -> bool:
        """No more metrics or params: the run ended, is deleted, or the writer closed."""
        return (
            self.closed
            or self.record.get("status") != RunStatus.RUNNING
            or self.record.get("lifecycle") == "deleted"
        )

    def put_record_file(self, relpath: str, data: bytes | None) -> None:
        """Write (or with None, remove) ``.gittrack/<relpath>`` at the next checkpoint."""
        with self._mutex:
            self._pending[relpath] = None if data is None else (bytes(data), _BLOB)

    def mark_dirty(self, what: str = "artifacts") -> None:
        with self._mutex:
            self._dirty.add(what)

    def _refuse(self, action: str) -> None:
        if self.record.get("lifecycle") == "deleted":
            raise RunNotWritable(inactive_run_message(self.run_id))
        status = self.record.get("status")
        raise RunNotWritable(
            f"Cannot {action} run {self.run_id}: it is {status}. "
            "Resume it with start_run(run_id=...) to log more."
        )

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def has_pending(self) -> bool:
        return bool(self._buf or self._staged or self._dirty or self._pending)

    # -- checkpoints ------------------------------------------------------------

    def checkpoint(self, *, heartbeat: bool = False) -> str | None:
        """Commit everything buffered now. Returns the new commit id, or None if nothing
        was pending (and ``heartbeat`` is False).

        The new objects go into one kept pack (:mod:`gittrack.core.pack`), then the ref
        moves; only then are the committed points dropped from the buffer. If anything
        fails on the way (a full disk, an interrupt), the buffer and the writer's state
        are as before and the next checkpoint tries again.

        Raises:
            OSError / pygit2.GitError: the pack or the ref could not be written (after
                retrying the races concurrent ``git gc`` causes).
        """
        with self._mutex, shutdown.critical():
            if self.closed:
                return None  # ended or detached while this call waited for the mutex
            started = _time()
            with self._mark_lock:  # the points and the journal mark they reach, together
                self._stage()
                with self._stage_lock:
                    staged, self._staged = self._staged, {}
                mark = self.journal_mark
            self._idle.clear()
            try:
                commit = self._commit(staged, heartbeat, mark)
                if commit is not None:
                    # the next checkpoint is due an interval after this one took its points
                    # (not after it finished): what a crash can lose stays within
                    # interval + one checkpoint's duration
                    self._last_checkpoint = started
                return commit
            except BaseException:
                with self._stage_lock:  # nothing was committed: the points stay first in line
                    self._staged = _merge_staged(staged, self._staged)
                raise
            finally:
                self._idle.set()

    def _commit(
        self, staged: dict[str, _Staged], heartbeat: bool, mark: str | None = None
    ) -> str | None:
        """Write one checkpoint commit of ``staged`` and what else is dirty (the caller
        holds the mutex and puts ``staged`` back if this raises)."""
        if not staged and not self._dirty and not self._pending and not heartbeat:
            return None
        batch = self._batch
        pack = batch.pack if batch is not None else PackBuilder()
        changes: dict[str, tuple[str, int] | None] = {}
        for path, entry in self._pending.items():
            if entry is None:
                changes[path] = None
            else:
                what, mode = entry
                oid = pack.add("blob", what) if isinstance(what, bytes) else what
                changes[path] = (oid, mode)
        dirty = set(self._dirty)
        folded: dict[str, _MetricState] = {}
        completed: list[tuple[str, list[tuple[str, float, int, int]]]] = []
        if staged:
            self._fold_points(staged, changes, pack, folded, completed)
            dirty.add("metrics")
        self.record["heartbeat"] = now_ms()
        dirty.add("run")
        if self._note_commits():
            dirty.add("tags")
        for name, path in RECORD_FILES.items():
            if name in dirty:
                data = self._encode(name, folded)
                changes[path] = (pack.add("blob", data), _BLOB) if data is not None else None
        if self.record["status"] in RunStatus.TERMINAL:  # the one blob the index reads
            run_summary.add(pack, changes, lambda name: self._encode(name, folded))
        trees = self._trees
        gt_tree = trees.apply(pack, self._gt_tree, changes)
        root = trees.apply(pack, self._source_tree, {records.RECORD_DIR: (gt_tree, _TREE)})
        status = self.record["status"]
        message = f"{status.lower()}: {self.record.get('name')} ({self.run_id[:8]})\n"
        if mark is not None:
            message += f"\n{journal_trailer(mark)}\n"
        if self._head is not None:
            parents = [self._head]
        elif self._source_commit:
            parents = [self._source_commit]
        else:
            parents = []
        commit = pack.add("commit", self._commit_bytes(root, parents, message))
        if batch is not None:
            batch.stage_ref(self.ref, commit)  # moved once the batch's pack is on disk
            written = None
        else:
            written = retry_write(lambda: pack.write(self._objects_dir))
            write_ref(self.repo.common_dir, self.ref, commit)
        moved_at = time.time_ns()
        # the commit is on the ref: from here on, nothing can fail
        self._head = commit
        self.committed_mark = mark
        self._gt_tree = gt_tree
        self._metrics.update(folded)
        self._dirty.clear()
        self._pending.clear()
        self.checkpoints += 1
        trees.forget_all_but(root, self._source_tree)
        if written is not None:
            self._kept.append(written)
            self._recent.append(written)
            _registry.wrote_pack(self)
        self._release_packs(moved_at)
        self._repair_packs()
        for oid, full in completed:
            chunkcache.store(
                self.repo,
                oid,
                list(map(_step_of, full)),
                list(map(_value_of, full)),
                list(map(_stamp_of, full)),
            )
        return commit

    def _commit_bytes(self, tree: str, parents: list[str], message: str) -> bytes:
        """A commit object's content, signed by the repository's user, now."""
        return commit_bytes(tree, parents, message, self._sig_name, self._sig_email)

    def _repair_packs(self) -> None:
        """Put back index/keep files a concurrent ``git gc`` took for garbage (see
        :func:`gittrack.core.pack.repair`) in the packs of the last REPAIR_SECONDS."""
        recent_enough = _time() - REPAIR_SECONDS
        self._recent = [w for w in self._recent if w.at >= recent_enough]
        kept = {id(w) for w in self._kept}
        for w in self._recent:
            try:
                pack_repair(w, kept=id(w) in kept)
            except OSError as exc:
                print(f"gittrack: could not repair pack {w.pack.name}: {exc}", file=sys.stderr)

    def _release_packs(self, moved_at: int, *, final: bool = False) -> None:
        """Drop the ``.keep`` of the packs the ref now reaches (see :func:`pack.release`):
        at the writer's close, all of them; while the run is live, only packs older than
        KEEP_LIVE_SECONDS, so a live run's recent history stays out of reach of a `git gc`
        racing its ref moves, and a long run still leaves few kept packs behind."""
        old_enough = _time() - KEEP_LIVE_SECONDS
        self._kept = [
            w
            for w in self._kept
            if not (final or w.at <= old_enough)
            or not pack_release(w, ref_moved_at=moved_at, common_dir=self.repo.common_dir)
        ]

    def _note_commits(self) -> bool:
        """Tag ``gittrack.commits``: commits made while this run was live (post-commit hook).
        Returns whether the tag changed."""
        from gittrack.hooks.runnotes import commits_tag

        try:
            value = commits_tag(self.repo.state_dir, self.run_id)
        except OSError:
            return False
        if value and self.tags.get("gittrack.commits") != value:
            self.tags["gittrack.commits"] = value
            return True
        return False

    def _encode(self, name: str, folded: dict[str, _MetricState]) -> bytes | None:
        if name == "run":
            return records.dump_yaml(self.record)
        if name == "params":
            return records.dump_yaml(records.nest_params(self.params)) if self.params else None
        if name == "tags":
            return records.dump_yaml(self.tags) if self.tags else None
        if name == "metrics":
            states = {**self._metrics, **folded}
            summary = {k: s.summary for k, s in states.items() if s.summary}
            return records.dump_yaml(summary) if summary else None
        if name == "note":
            return self.note.encode("utf-8") if self.note else None
        if name == "artifacts":
            return records.dump_yaml(self.artifacts) if self.artifacts else None
        raise ValueError(name)

    def _fold_points(
        self,
        staged: dict[str, _Staged],
        changes: dict[str, tuple[str, int] | None],
        pack: PackBuilder,
        folded: dict[str, _MetricState],
        completed: list[tuple[str, list[tuple[str, float, int, int]]]],
    ) -> None:
        """Fold the ``staged`` points into new metric states (into ``folded``), adding the
        chunks they change to ``pack``/``changes``; ``completed`` gets each chunk this
        writer filled with points it logged (for the decoded-chunk cache)."""
        chunk = records.CHUNK_POINTS
        for key, new in staged.items():
            old = self._metrics.get(key)
            if old is None:
                old = _MetricState(None, 0, b"", 0, [])
            latest = new.latest
            if old.summary is None:
                s = {
                    "value": latest[1],
                    "step": latest[2],
                    "timestamp": latest[3],
                    "min": new.lo,
                    "max": new.hi,
                    "count": 0,
                }
            else:
                s = dict(old.summary)
                if (latest[2], latest[3]) >= (s["step"], s["timestamp"]):
                    s["value"], s["step"], s["timestamp"] = latest[1], latest[2], latest[3]
                if new.lo == new.lo:
                    s["min"] = new.lo if s["min"] != s["min"] else min(s["min"], new.lo)
                    s["max"] = new.hi if s["max"] != s["max"] else max(s["max"], new.hi)
            s["count"] += new.count
            tail, tail_n, index = old.tail, old.tail_n, old.chunk_index
            logged = list(old.points) if old.points is not None else None
            base = f"metrics/{records.key_to_filename(key)}/"
            lines = list(chain.from_iterable(seg[0] for seg in new.segments))
            pts = list(chain.from_iterable(seg[1] for seg in new.segments))
            i = 0
            while i < len(lines):
                take = min(chunk - tail_n, len(lines) - i)
                tail += "".join(lines[i : i + take]).encode("ascii")
                tail_n += take
                if logged is not None:
                    logged.extend(pts[i : i + take])
                i += take
                if tail_n >= chunk:  # the chunk is full: it never changes again
                    oid = pack.add("blob", tail)
                    changes[f"{base}{index:06d}.tsv"] = (oid, _BLOB)
                    if logged is not None:
                        completed.append((oid, logged))
                    tail, tail_n, index, logged = b"", 0, index + 1, []
            if tail_n:
                changes[f"{base}{index:06d}.tsv"] = (pack.add("blob", tail), _BLOB)
            folded[key] = _MetricState(s, index, tail, tail_n, logged)

    # -- lifecycle --------------------------------------------------------------

    def end(self, status: str = RunStatus.FINISHED, end_time: int | None = None) -> None:
        """Write the final checkpoint with ``status`` and release the run."""
        if status not in RunStatus.TERMINAL:
            raise InvalidParameter(
                f"Invalid end status {status!r}: must be one of {', '.join(RunStatus.TERMINAL)}"
            )
        with self._mutex:
            if self.closed:
                return
            self.set_record(status=status, end_time=end_time if end_time is not None else now_ms())
            try:
                self.checkpoint()
            finally:
                self.close()

    def detach(self) -> FileLock:
        """Commit what is pending and stop writing, but keep holding the run's lock;
        return it (``gittrack run`` lends the run to a child process this way)."""
        with self._mutex:
            if self.has_pending:
                self.checkpoint()
            self.closed = True
            self._frozen = True
            _registry.remove(self)
            return self._lock

    def close(self) -> None:
        """Stop writing (pending points are committed first) and release the lock."""
        with self._mutex:
            if self.closed:
                return
            if self.has_pending:
                self.checkpoint()  # raises: the writer stays open; the exit flush tries again
            self.closed = True
            self._frozen = True
            self._repair_packs()
            self._release_packs(time.time_ns(), final=True)
            _registry.closed_packs(self)
            # a run left RUNNING keeps its lock file: unheld, it tells readers on this
            # machine that the run's writer is gone (CRASHED); an ended run's is removed
            keep = self.status == RunStatus.RUNNING
            if self._batch is None:
                self._lock.release(keep=keep)
            else:  # a batch releases the lock once the ref has moved
                self._batch.hold(self._lock, keep=keep)
            _registry.remove(self)
            _handles.give_back(self._git)


# -- creating and opening writers ----------------------------------------------


def _flatten_config(params: Any) -> dict[str, Any]:
    """A flat ``{dotted.key: value}`` from a dict, a nested config (Hydra/OmegaConf)."""
    if hasattr(params, "_content") and hasattr(params, "items"):  # OmegaConf DictConfig
        try:
            from omegaconf import OmegaConf

            params = OmegaConf.to_container(params, resolve=True)
        except ImportError:
            pass
    if not isinstance(params, Mapping):
        raise InvalidParameter(f"log_params expects a dict, got {type(params).__name__}")
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, Mapping) and v:
                walk(v, key + ".")
            else:
                out[key] = v

    walk(params, "")
    return out


def _command_info() -> tuple[str, str, str]:
    """(command line, source name, source type) of this process."""
    import shlex

    argv = list(sys.argv) if sys.argv else [""]
    ipython = sys.modules.get("IPython")
    # IPython merely imported (MLflow and others import it) is no notebook: ask for a shell
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    if "ipykernel" in sys.modules or shell is not None and not argv[0].endswith(".py"):
        return "", "<notebook>", "NOTEBOOK"
    if not argv[0] or argv[0] in ("-c", "-"):
        return " ".join(shlex.quote(a) for a in argv), "<interactive>", "LOCAL"
    source_name = os.path.abspath(argv[0]) if os.path.exists(argv[0]) else argv[0]
    return " ".join(shlex.quote(a) for a in argv), source_name, "LOCAL"


@contextmanager
def _released_on_error(lock: FileLock) -> Iterator[None]:
    """Release ``lock`` when the block raises: a run writer that could not be set up
    must not keep its run locked."""
    try:
        yield
    except BaseException:
        lock.release()
        raise


def new_run_writer(
    repo: Repo,
    record: dict[str, Any],
    *,
    note: str,
    source_tree: pygit2.Oid | None,
    head: pygit2.Oid | str | None,
    source_commit: str | None,
    lock: FileLock,
    batch: Batch | None = None,
) -> RunWriter:
    """The writer of a run with no params, tags, metrics or artifacts yet (``record``
    from :func:`~gittrack.core.records.formats.new_run_record`), its tree started from
    ``source_tree``; nothing is written before its first checkpoint. With ``batch``, in
    bulk mode (see :class:`RunWriter`)."""
    return RunWriter(
        repo,
        record["run_id"],
        record,
        params={},
        tags={},
        note=note,
        metrics={},
        artifacts={},
        gt_tree=subtree_id(repo.git, source_tree, records.RECORD_DIR),
        source_tree=source_tree,
        head=head,
        source_commit=source_commit,
        lock=lock,
        batch=batch,
    )


def create_run_writer(
    repo: Repo,
    *,
    run_id: str,
    experiment_id: str,
    name: str,
    start_time: int | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    description: str | None = None,
    snapshot: bool = True,
    user: str | None = None,
    commit: bool = True,
) -> RunWriter:
    """Start a new run: snapshot the source and write its first commit.

    With ``commit=False`` the first commit waits for the first checkpoint (the
    fluent API's choice: a run shorter than the checkpoint interval then costs one
    commit, not two)."""
    from gittrack.core.snapshot import SourceInfo, take_snapshot

    lock = run_lock(repo, run_id)
    if not lock.acquire(block=False):
        raise RunLocked(f"Run {run_id} is being written by another process")
    with _released_on_error(lock):
        if snapshot:
            source = take_snapshot(repo)
        else:
            source = SourceInfo(None, None, None, False, None)
        command, source_name, source_type = _command_info() if snapshot else ("", "", "UNKNOWN")
        import pygit2

        record = records.new_run_record(
            run_id,
            name=name,
            experiment_id=experiment_id,
            start_time=start_time if start_time is not None else now_ms(),
            user=user or repo.user_name(),
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            source_name=source_name,
            source_type=source_type,
            source=source.to_record(),
            parent_run_id=parent_run_id,
            heartbeat=now_ms(),
        )
        source_tree = pygit2.Oid(hex=source.tree) if source.tree else None
        w = new_run_writer(
            repo,
            record,
            note=description or "",
            source_tree=source_tree,
            head=None,
            source_commit=source.commit,
            lock=lock,
        )
        for k, v in (tags or {}).items():
            w.set_tag(k, v)
        if snapshot:
            env = _environment_yaml(repo)
            if env is not None:
                w.put_record_file(ENVIRONMENT_FILE, env)
        if commit:
            w.checkpoint()
    _registry.add(w)
    return w


def _environment_yaml(repo: Repo) -> bytes | None:
    """The environment snapshot of this process, when the environment module is present."""
    from gittrack.env import environment

    try:
        return environment.capture_yaml(str(repo.workdir) if repo.workdir else None)
    except Exception as exc:  # a broken environment must never stop a run
        print(f"gittrack: environment snapshot skipped: {exc}", file=sys.stderr)
        return None


def open_run_writer_any(repo: Repo, run_id: str) -> RunWriter:
    """Open a run for writing whatever its state (for lifecycle changes)."""
    return open_run_writer(repo, run_id, allow_deleted=True)


def open_run_writer(
    repo: Repo,
    run_id: str,
    *,
    resume: bool = False,
    allow_deleted: bool = False,
    held_lock: FileLock | None = None,
) -> RunWriter:
    """Open an existing run for writing. With ``resume``, a finished run is set RUNNING again.

    Raises:
        RunLocked: another live process writes this run.
        RunNotWritable: the run is deleted.
    """
    import pygit2

    existing = _registry.get(repo, run_id)
    if existing is not None:
        if resume and existing.status != RunStatus.RUNNING:
            existing.set_record(status=RunStatus.RUNNING, end_time=None)
        return existing
    lock = held_lock or run_lock(repo, run_id)
    inherited = held_lock is not None or os.environ.get("GITTRACK_RUN_LOCK_HELD") == run_id
    if not inherited and not lock.acquire(block=False):
        raise RunLocked(
            f"Run {run_id} is being written by another process; one run is written by one "
            "process at a time"
        )
    with _released_on_error(lock):
        store = Store(repo)
        ref = repo.git.references.get(run_ref(run_id))
        if ref is None:
            from gittrack.errors import RunNotFound

            raise RunNotFound(run_id)
        commit = ref.peel(pygit2.Commit)
        head = commit.id
        rec = store.read_record(str(head))
        record = rec["run"]
        if record.get("lifecycle") == "deleted" and not allow_deleted:
            raise RunNotWritable(inactive_run_message(run_id))
        root = commit.tree_id
        gt = subtree_id(repo.git, root, records.RECORD_DIR)
        source_tree = None  # the root less .gittrack: derived in memory below
        # keep a source-owned .gittrack folder: the run's tree started from it
        metrics: dict[str, _MetricState] = {}
        mtree_id = subtree_id(repo.git, gt, "metrics")
        summaries = rec["metrics"]
        if mtree_id is not None:
            for entry in repo.git[mtree_id].peel(pygit2.Tree):
                key = records.filename_to_key(str(entry.name))
                chunk_dir = entry.peel(pygit2.Tree)
                chunks = sorted(str(e.name) for e in chunk_dir)
                tail, tail_n, index = b"", 0, 0
                if chunks:
                    index = len(chunks) - 1
                    tail = chunk_dir[chunks[-1]].peel(pygit2.Blob).data
                    tail_n = tail.count(b"\n")
                    if tail_n >= records.CHUNK_POINTS:
                        tail, tail_n, index = b"", 0, len(chunks)
                logged: list[tuple[str, float, int, int]] | None = None if tail_n else []
                metrics[key] = _MetricState(summaries.get(key), index, tail, tail_n, logged)
        if resume:
            record["status"] = RunStatus.RUNNING
            record["end_time"] = None
        record["pid"] = os.getpid()
        record["host"] = socket.gethostname()
        w = RunWriter(
            repo,
            run_id,
            record,
            params=dict(rec["params"]),
            tags=dict(rec["tags"]),
            note=rec["note"],
            metrics=metrics,
            artifacts=dict(rec["artifacts"]),
            gt_tree=gt,
            source_tree=source_tree,
            head=head,
            source_commit=None,
            lock=lock,
        )
        w._source_tree = w._trees.without(str(root), records.RECORD_DIR)
        if resume:
            w._dirty.add("run")
            w.checkpoint()
    _registry.add(w)
    return w


# -- the process-wide registry and the checkpoint thread ------------------------


class _Registry:
    """Open writers of this process, and the thread that checkpoints them."""

    def __init__(self) -> None:
        self._writers = live.OPEN  # the table readers consult (gittrack.core.live)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = os.getpid()
        self._packs: dict[str, int] = {}  # packs written, per repository
        self._repacks: dict[str, Any] = {}  # the consolidating `git repack`, per repository
        self._swept: set[str] = set()
        self._closed: list[tuple[Any, Written, bool]] = []  # (repo dir, pack, kept)

    def add(self, w: RunWriter) -> None:
        shutdown.wrote_to(w.repo.common_dir, w._auto_gc)
        shutdown.on_exit("writers", close_all, order=20)
        shutdown.on_exit("packs", self.repair_at_exit, order=25)
        d = str(w.repo.common_dir)
        if d not in self._swept:  # once per process: .keep files left by killed writers
            self._swept.add(d)
            sweep_packs(w._objects_dir)
        with self._lock:
            self._writers[(str(w.repo.common_dir), w.run_id)] = w
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="gittrack-checkpoints", daemon=True
                )
                self._thread.start()

    def wrote_pack(self, w: RunWriter) -> None:
        """Count a checkpoint pack; every CONSOLIDATE_EVERY packs in a repository, start
        the consolidation there in the background, one at a time
        (:func:`gittrack.core.gitwrite.consolidate`: ``git repack -d --geometric=2``, which
        rolls the small packs into bigger ones, then ``git pack-refs --all``); a
        long-lived process then keeps a few dozen packs, not one per checkpoint, and
        few loose refs."""
        d = str(w.repo.common_dir)
        with self._lock:
            n = self._packs[d] = self._packs.get(d, 0) + 1
            if n % CONSOLIDATE_EVERY or not w._auto_gc:
                return
            self._release_closed(d)
            running = self._repacks.get(d)
            if running is not None and running.poll() is None:
                return
            if gc_running_since(w.repo.common_dir) is not None:
                return  # a `git gc` is consolidating already; don't churn packs beside it
            proc = consolidate(d)  # None: no git executable, packs stay as they are
            if proc is not None:
                self._repacks[d] = proc

    def closed_packs(self, w: RunWriter) -> None:
        """Remember a closed writer's recent packs for the check at exit."""
        kept = {id(p) for p in w._kept}
        with self._lock:
            self._closed.extend((w.repo.common_dir, p, id(p) in kept) for p in w._recent)
            self._closed = self._closed[-10_000:]

    def repair_at_exit(self, _status: str = RunStatus.FINISHED) -> None:
        """At exit: a `git gc` that listed objects/pack while the last packs were renamed in
        may still be running — let it end (up to CLOSE_WAIT_SECONDS), then put back what
        it took for garbage (:func:`gittrack.core.pack.repair`)."""
        with self._lock:
            closed, self._closed = self._closed, []
        deadline = _time() + CLOSE_WAIT_SECONDS
        for d in {d for d, _p, _k in closed}:
            while gc_running_since(d) is not None and _time() < deadline:
                time.sleep(0.05)
        for d, p, kept in closed:
            try:
                pack_repair(p, kept=kept)
                if kept:  # kept only while a `git gc` ran: once it ended, git may pack it
                    pack_release(p, ref_moved_at=time.time_ns(), common_dir=Path(d))
            except OSError as exc:
                print(f"gittrack: could not repair pack {p.pack.name}: {exc}", file=sys.stderr)

    def _release_closed(self, common_dir: str) -> None:
        """Drop the ``.keep`` of closed writers' packs that stayed kept because a ``git gc``
        ran when their run closed, now that none runs (else they would stay kept, out of
        every consolidation, until this process exits)."""
        if gc_running_since(Path(common_dir)) is not None:
            return
        still: list[tuple[Any, Written, bool]] = []
        for d, p, kept in self._closed:
            if kept and str(d) == common_dir:
                try:
                    if pack_release(p, ref_moved_at=time.time_ns(), common_dir=Path(d)):
                        kept = False
                except OSError:
                    pass
            still.append((d, p, kept))
        self._closed = still

    def remove(self, w: RunWriter) -> None:
        with self._lock:
            self._writers.pop((str(w.repo.common_dir), w.run_id), None)

    def get(self, repo: Repo, run_id: str) -> RunWriter | None:
        return self._writers.get((str(repo.common_dir), run_id))

    def all(self) -> list[RunWriter]:
        with self._lock:
            return list(self._writers.values())

    def _loop(self) -> None:
        pause = 0.5
        while True:
            self._wake.wait(pause)
            now = _time()
            pause = 0.5  # sleep until the next checkpoint is due (at most 0.5 s)
            for w in self.all():
                if w.has_pending:
                    due = w._last_checkpoint + w.interval - now
                    pause = max(0.02, min(pause, due if due > 0 else w.interval))
                try:
                    if w.closed or w._pid != os.getpid():
                        continue
                    if now - w._last_checkpoint >= w.interval and w.has_pending:
                        w.checkpoint()
                    elif now - w._last_checkpoint >= w.heartbeat_interval:
                        w.checkpoint(heartbeat=True)
                except Exception as exc:  # keep checkpointing the other runs
                    print(f"gittrack: checkpoint of run {w.run_id} failed: {exc}", file=sys.stderr)


_registry = _Registry()


def open_writers() -> list[RunWriter]:
    return _registry.all()


def close_all(_status: str = RunStatus.FINISHED) -> None:
    """Commit and close every writer this process opened (runs stay in their status: only
    the API that started a run ends it). Called at exit and on SIGTERM through
    :mod:`gittrack.core.shutdown`; errors are reported per run on stderr."""
    for w in open_writers():
        if w._pid != os.getpid():
            continue  # inherited through fork: the parent owns it
        try:
            w.close()
        except Exception as exc:
            print(f"gittrack: could not commit run {w.run_id}: {exc}", file=sys.stderr)


def get_open_writer(repo: Repo, run_id: str) -> RunWriter | None:
    return _registry.get(repo, run_id)
