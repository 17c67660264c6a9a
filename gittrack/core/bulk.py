"""Write many finished runs (and logged models) at once: one pack per batch, refs after.

A live run's writer makes one pack per checkpoint and moves its ref at once. Writing
thousands of runs that already ended (``gittrack import``) that way costs a pack, an
index and a ``.keep`` per run. A :class:`Batch` collects the new objects of many runs
in ONE :class:`~gittrack.core.pack.PackBuilder`; :meth:`Batch.commit` writes that pack
(kept, fsynced: the pack, its index and the folder entry are on disk), then moves every
staged ref, then releases the pack's ``.keep`` and the runs' locks. So:

* a crash (or an error) before the refs move leaves no ref naming a missing object:
  nothing of the batch is visible, and the orphaned kept pack is swept later
  (:func:`gittrack.core.pack.sweep`);
* each run's ref moves in one atomic rename, so a run is either as before or whole;
* the runs' locks are held from :func:`write_run` until their refs moved, so no other
  writer opens a run whose new commit is not yet on its ref.

Runs go through :class:`~gittrack.core.writer.RunWriter` (the same records, metric
chunks and summaries as a live run; artifact files through
:func:`gittrack.artifacts.log.log_files` given as ``also``); logged models through
:meth:`gittrack.core.logged_models.LoggedModelStore.write`.

Example::

    with Batch(repo) as batch:
        for run in runs:
            write_run(batch, run)
    # every run's ref has moved here (or, after an exception, none of them), and the
    # refs are packed (finish)

Writers that commit batches themselves (``gittrack import``'s workers) call
:func:`finish` once all of them are done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import RunHeader, RunStatus
from gittrack.core.gitwrite import auto_gc, consolidate, retry_write, write_ref
from gittrack.core.locks import FileLock, run_lock
from gittrack.core.pack import PackBuilder, Written
from gittrack.core.pack import release as pack_release
from gittrack.core.pack import repair as pack_repair
from gittrack.errors import RunLocked
from gittrack.layout import RECORD_FILES, run_ref

if TYPE_CHECKING:
    from collections.abc import Callable

    from gittrack.core.repo import Repo
    from gittrack.core.writer import RunWriter

MAX_BYTES = 256 << 20  # a batch holding more (uncompressed) is committed early


class Batch:
    """New objects of many runs and models in one pack; refs moved once it is on disk.

    Not thread-safe: one batch per thread (or process). Reusable: after :meth:`commit`
    it is empty and collects the next batch."""

    def __init__(self, repo: Repo, *, max_bytes: int = MAX_BYTES) -> None:
        self.repo = repo
        self.pack = PackBuilder()
        self.max_bytes = max_bytes
        self._refs: dict[str, str] = {}  # ref -> new target, moved in this order
        self._locks: dict[int, tuple[FileLock, bool]] = {}  # id -> (lock, keep its file)
        self._written: list[Written] = []
        self.packs = 0  # packs written so far

    def hold(self, lock: FileLock, *, keep: bool = False) -> None:
        """Keep ``lock`` (acquired by the caller) until this batch's refs moved or it aborts;
        then release it, removing its file unless ``keep`` (see
        :meth:`gittrack.core.locks.FileLock.release`). Holding it again updates ``keep``."""
        self._locks[id(lock)] = (lock, keep)

    def stage_ref(self, ref: str, target: str) -> None:
        """Move ``ref`` to ``target`` (40 hex) at :meth:`commit`, after the pack is on disk."""
        self._refs.pop(ref, None)  # a ref staged again moves in its latest place
        self._refs[ref] = target

    def staged(self, ref: str) -> str | None:
        """The target ``ref`` will move to, when staged."""
        return self._refs.get(ref)

    def unstage(self, ref: str, previous: str | None) -> None:
        """Put ``ref``'s staged target back to ``previous`` (None: not staged)."""
        self._refs.pop(ref, None)
        if previous is not None:
            self._refs[ref] = previous

    @property
    def full(self) -> bool:
        """Whether the batch holds :attr:`max_bytes` or more (commit it soon)."""
        return self.pack.nbytes >= self.max_bytes

    def __len__(self) -> int:
        return len(self._refs)

    def commit(self) -> int:
        """Write the pack (fsynced), then move every staged ref; returns how many moved.
        The runs' and models' locks are released afterwards, also when this raises.

        Raises:
            OSError: the pack or a ref could not be written. Refs moved before the
                failure stay moved (each names a whole run); the rest stay as they were.
        """
        common = self.repo.common_dir
        refs, self._refs = self._refs, {}
        try:
            written = None
            if len(self.pack):
                written = retry_write(lambda: self.pack.write(common / "objects", fsync=True))
            for ref, target in refs.items():
                write_ref(common, ref, target)
            if written is not None:
                self.packs += 1
                self._written.append(written)
                pack_release(written, ref_moved_at=time.time_ns(), common_dir=common)
        finally:
            self.pack = PackBuilder()
            self._release_locks()
        return len(refs)

    def abort(self) -> None:
        """Drop what was collected (no ref moves) and release the locks."""
        self.pack = PackBuilder()
        self._refs = {}
        self._release_locks()

    def repair(self) -> None:
        """Put back what a concurrent ``git gc`` took for garbage of this batch's packs
        (see :func:`gittrack.core.pack.repair`); call once the batch is done."""
        for w in self._written:
            pack_repair(w, kept=False)

    def _release_locks(self) -> None:
        locks, self._locks = self._locks, {}
        for lock, keep in locks.values():
            lock.release(keep=keep)

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
            self.repair()
            finish(self.repo)
        else:
            self.abort()


def finish(repo: Repo) -> None:
    """End a bulk write, once its last batch committed (in every process that wrote): roll
    its packs together and pack the runs' refs (the writer's one consolidation,
    :func:`gittrack.core.gitwrite.consolidate`), waiting for it, unless ``gittrack.auto-gc``
    is off. Else every run written leaves a loose ref file (4 KiB on disk each)."""
    if auto_gc(repo):
        consolidate(repo.common_dir, wait=True)


@dataclass
class FinishedRun(RunHeader):
    """A run written whole (e.g. imported from another tracker): its records as they
    end up, its metric points and its artifact files.

    ``source`` is run.yaml's source record (``{commit, branch, remote_url, dirty,
    skipped_files}``); its ``commit``, when set, must be a commit of this repository:
    the run's commit then sits on it, with that commit's tree as the run's source. Its first
    fields are :class:`~gittrack.core.entities.RunHeader`'s.
    """

    source: dict[str, Any]
    host: str = ""
    command: str = ""
    source_name: str = ""
    source_type: str = "UNKNOWN"
    parent_run_id: str | None = None
    lifecycle: str = "active"
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: list[tuple[str, float, int, int]] = field(default_factory=list)
    record_files: dict[str, bytes] = field(default_factory=dict)  # .gittrack/<path> -> bytes


def write_run(
    batch: Batch, run: FinishedRun, *, also: Callable[[RunWriter], object] | None = None
) -> str:
    """Write ``run`` into ``batch`` as one commit (on top of the run's ref when it exists:
    a fast-forward that replaces every record); returns the commit id. The ref moves at
    ``batch.commit()``; until then the run's lock is held. ``also(writer)`` is called
    before the run ends, to add what core does not make itself (artifact files, through
    :func:`gittrack.artifacts.log.log_files`).

    Raises:
        RunLocked: another process writes this run.
        GittrackError: a key, value or artifact path gittrack refuses (nothing of this
            run is staged).
    """
    import pygit2

    from gittrack.core.records.formats import new_run_record
    from gittrack.core.writer import new_run_writer

    repo = batch.repo
    ref_name = run_ref(run.run_id)
    lock = run_lock(repo, run.run_id)
    if not lock.acquire(block=False):
        raise RunLocked(f"Run {run.run_id} is being written by another process")
    batch.hold(lock)
    previous = batch.staged(ref_name)
    ref = repo.git.references.get(ref_name)
    head = previous or (str(ref.target) if ref is not None else None)
    commit = run.source.get("commit")
    source_tree = repo.git[commit].peel(pygit2.Commit).tree_id if commit else None
    record = new_run_record(
        run.run_id,
        experiment_id=run.experiment_id,
        name=run.name,
        start_time=run.start_time,
        user=run.user,
        source=run.source,
        host=run.host,
        command=run.command,
        source_name=run.source_name,
        source_type=run.source_type,
        parent_run_id=run.parent_run_id,
        heartbeat=run.end_time or run.start_time,
    )
    w = new_run_writer(
        repo,
        record,
        note=run.note,
        source_tree=source_tree,
        head=head,
        source_commit=commit,
        lock=lock,
        batch=batch,
    )
    try:
        for what in RECORD_FILES:  # every record anew, also on top of an earlier commit
            w.mark_dirty(what)
        for key, value in run.params.items():
            w.log_param(key, value)
        for key, value in run.tags.items():
            w.set_tag(key, value)
        w.log_points(run.points)
        for path, data in run.record_files.items():
            w.put_record_file(path, data)
        if also is not None:
            also(w)
        if run.status in RunStatus.TERMINAL:
            w.set_record(lifecycle=run.lifecycle)
            w.end(run.status, run.end_time if run.end_time is not None else run.start_time)
        else:
            w.set_record(status=run.status, lifecycle=run.lifecycle, end_time=run.end_time)
            w.close()
    except BaseException:
        batch.unstage(ref_name, previous)  # nothing of this run moves
        raise
    target = batch.staged(ref_name)
    assert target is not None  # the writer's last checkpoint staged it
    return target


def write_model(
    batch: Batch, model_id: str, record: dict[str, Any], manifest: dict[str, Any], message: str
) -> str:
    """Write a logged model's record (and artifact manifest) as a new commit on its ref,
    in ``batch``; returns the commit id. The model's lock is held until the batch commits.

    Raises:
        InvalidParameter: a malformed model id.
    """
    from gittrack.core.logged_models import LoggedModelStore, validate_model_id
    from gittrack.layout import model_ref

    validate_model_id(model_id)
    store = LoggedModelStore(batch.repo)
    lock = store.lock(model_id)
    lock.acquire()
    batch.hold(lock)
    ref = batch.repo.git.references.get(model_ref(model_id))
    parent = batch.staged(model_ref(model_id)) or (str(ref.target) if ref is not None else None)
    return store.write(model_id, parent, record, manifest, message, batch=batch)
