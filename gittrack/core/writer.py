"""The writer of one live run: buffers points in memory, commits checkpoints.

A :class:`RunWriter` is the only thing that writes a run's ref. It holds the
run's lock for as long as it is open, buffers metric points in a list (a
``log_metric`` call is an append), and writes a checkpoint commit every
``gittrack.checkpoint-seconds`` (default 5), at :meth:`end`, at interpreter
exit and on SIGTERM. A checkpoint rewrites only the newest TSV chunk of each
metric that changed.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from gittrack.core import validation
from gittrack.core.entities import RunStatus
from gittrack.core.gittree import apply_changes, subtree_id
from gittrack.core.locks import FileLock, run_lock
from gittrack.core.records import chunkcache
from gittrack.core.records import formats as records
from gittrack.errors import InvalidParameter, ParamChanged, RunLocked, RunNotWritable
from gittrack.layout import ENVIRONMENT_FILE, RECORD_FILES, run_ref

if TYPE_CHECKING:
    import pygit2

    from gittrack.core.repo import Repo

DEFAULT_CHECKPOINT_SECONDS = 5.0
DEFAULT_HEARTBEAT_SECONDS = 60.0
_SYSTEM_NAME_TAG = "mlflow.runName"
_NOTE_TAG = "mlflow.note.content"

_time = time.time
_good_keys = validation._good_keys
_by_step_ts = itemgetter(2, 3)
_key_of = itemgetter(0)


def _fast_object_creation() -> None:
    """Skip libgit2's check that every object a new tree or commit names exists: the
    writer always writes those objects first, and the check costs a lookup per entry."""
    import pygit2

    pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0)


class _MetricState:
    """What a writer keeps per metric key: the summary and the newest chunk."""

    __slots__ = ("summary", "chunk_index", "tail", "points")

    def __init__(self, summary: dict[str, Any] | None, chunk_index: int, tail: list[str]):
        self.summary = summary
        self.chunk_index = chunk_index  # index of the chunk ``tail`` belongs in
        self.tail = tail  # encoded lines of the newest, not yet full chunk
        # the points of ``tail`` as logged, when this writer logged all of them (a chunk
        # it completes then goes to the decoded-chunk cache); None for a reopened tail
        self.points: list[tuple[str, float, int, int]] | None = None if tail else []


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
        gt_tree: pygit2.Oid | None,
        source_tree: pygit2.Oid | None,
        head: pygit2.Oid | None,
        source_commit: str | None,
        lock: FileLock,
    ) -> None:
        import pygit2

        _fast_object_creation()
        self.repo = repo
        # a private handle: libgit2 objects are not for concurrent use across threads, and
        # the checkpoint thread writes while the user's thread may read through repo.git
        self._git = pygit2.Repository(repo.git.path)
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
        self._gt_tree = gt_tree
        self._source_tree = source_tree
        self._head = head
        self._source_commit = source_commit
        self._lock = lock
        self._buf: list[tuple[str, float, int, int]] = []
        self._pending: dict[str, tuple[pygit2.Oid, int] | None] = {}
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

    # -- logging (hot path) ---------------------------------------------------

    def log_metric(self, key: str, value: Any, step: Any = None, timestamp: Any = None) -> None:
        """Buffer one point; it is committed at the next checkpoint."""
        if key not in _good_keys:
            validation.validate_key(key, "metric")
        if type(value) is not float:
            value = validation.metric_value(key, value)
        if step is None:
            step = 0
        elif type(step) is not int:
            step = validation.metric_step(key, step)
        if timestamp is None:
            timestamp = int(_time() * 1000)
        elif type(timestamp) is not int or timestamp < 0:
            timestamp = validation.metric_timestamp(key, timestamp)
        if self._frozen:
            self._refuse("log metrics to")
        self._buf.append((key, value, step, timestamp))

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

                raise NotFound(f"No tag with name: {key!r} in run with id {self.run_id}")

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
        import pygit2

        with self._mutex:
            if data is None:
                self._pending[relpath] = None
            else:
                oid = self._git.create_blob(data)
                self._pending[relpath] = (oid, pygit2.GIT_FILEMODE_BLOB)

    def put_record_blob(self, relpath: str, oid: pygit2.Oid, mode: int | None = None) -> None:
        import pygit2

        with self._mutex:
            self._pending[relpath] = (oid, mode or pygit2.GIT_FILEMODE_BLOB)

    def mark_dirty(self, what: str = "artifacts") -> None:
        with self._mutex:
            self._dirty.add(what)

    def _refuse(self, action: str) -> None:
        status = self.record.get("status")
        raise RunNotWritable(
            f"Cannot {action} run {self.run_id}: it is {status}"
            + (" and deleted" if self.record.get("lifecycle") == "deleted" else "")
            + ". Resume it with start_run(run_id=...) to log more."
        )

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def has_pending(self) -> bool:
        return bool(self._buf or self._dirty or self._pending)

    # -- checkpoints ------------------------------------------------------------

    def checkpoint(self, *, heartbeat: bool = False) -> str | None:
        """Commit everything buffered now. Returns the new commit id, or None if nothing
        was pending (and ``heartbeat`` is False)."""
        import pygit2

        with self._mutex:
            n = len(self._buf)
            points = self._buf[:n]
            del self._buf[:n]
            if not points and not self._dirty and not self._pending and not heartbeat:
                return None
            git = self._git
            changes: dict[str, tuple[pygit2.Oid, int] | None] = dict(self._pending)
            blob = pygit2.GIT_FILEMODE_BLOB
            if points:
                self._fold_points(points, changes)
                self._dirty.add("metrics")
            self.record["heartbeat"] = now_ms()
            self._dirty.add("run")
            self._note_commits()
            for name, path in RECORD_FILES.items():
                if name in self._dirty:
                    data = self._encode(name)
                    changes[path] = (git.create_blob(data), blob) if data is not None else None
            self._gt_tree = apply_changes(git, self._gt_tree, changes)
            root = apply_changes(
                git,
                self._source_tree,
                {records.RECORD_DIR: (self._gt_tree, pygit2.GIT_FILEMODE_TREE)},
            )
            sig = pygit2.Signature(self._sig_name, self._sig_email)
            status = self.record["status"]
            message = f"{status.lower()}: {self.record.get('name')} ({self.run_id[:8]})\n"
            if self._head is not None:
                parents = [self._head]
            elif self._source_commit:
                parents = [pygit2.Oid(hex=self._source_commit)]
            else:
                parents = []
            commit = git.create_commit(None, sig, sig, message, root, parents)
            git.references.create(self.ref, commit, force=True)
            self._head = commit
            self._dirty.clear()
            self._pending.clear()
            self.checkpoints += 1
            self._last_checkpoint = _time()
            return str(commit)

    def _note_commits(self) -> None:
        """Tag ``gittrack.commits``: commits made while this run was live (post-commit hook)."""
        from gittrack.hooks.runnotes import commits_tag

        try:
            value = commits_tag(self.repo.state_dir, self.run_id)
        except OSError:
            return
        if value and self.tags.get("gittrack.commits") != value:
            self.tags["gittrack.commits"] = value
            self._dirty.add("tags")

    def _encode(self, name: str) -> bytes | None:
        if name == "run":
            return records.dump_yaml(self.record)
        if name == "params":
            return records.dump_yaml(records.nest_params(self.params)) if self.params else None
        if name == "tags":
            return records.dump_yaml(self.tags) if self.tags else None
        if name == "metrics":
            summary = {k: s.summary for k, s in self._metrics.items() if s.summary}
            return records.dump_yaml(summary) if summary else None
        if name == "note":
            return self.note.encode("utf-8") if self.note else None
        if name == "artifacts":
            return records.dump_yaml(self.artifacts) if self.artifacts else None
        raise ValueError(name)

    def _fold_points(self, points: list[tuple[str, float, int, int]], changes: dict) -> None:
        import pygit2

        git = self._git
        groups: dict[str, list[tuple[str, float, int, int]]] = {}
        first = points[0][0]
        if all(map(first.__eq__, map(_key_of, points))):  # one key: no regrouping
            groups[first] = points
        else:
            for p in points:
                g = groups.get(p[0])
                if g is None:
                    g = groups[p[0]] = []
                g.append(p)
        blob = pygit2.GIT_FILEMODE_BLOB
        chunk = records.CHUNK_POINTS
        for key, pts in groups.items():
            st = self._metrics.get(key)
            if st is None:
                st = self._metrics[key] = _MetricState(None, 0, [])
            values = [p[1] for p in pts]
            finite = [v for v in values if v == v]
            latest = max(reversed(pts), key=_by_step_ts)
            s = st.summary
            if s is None:
                s = st.summary = {
                    "value": latest[1],
                    "step": latest[2],
                    "timestamp": latest[3],
                    "min": min(finite) if finite else math.nan,
                    "max": max(finite) if finite else math.nan,
                    "count": 0,
                }
            else:
                if (latest[2], latest[3]) >= (s["step"], s["timestamp"]):
                    s["value"], s["step"], s["timestamp"] = latest[1], latest[2], latest[3]
                if finite:
                    lo, hi = min(finite), max(finite)
                    s["min"] = lo if s["min"] != s["min"] else min(s["min"], lo)
                    s["max"] = hi if s["max"] != s["max"] else max(s["max"], hi)
            s["count"] += len(pts)
            lines = st.tail
            lines.extend(records.point_lines(pts))
            logged = st.points
            if logged is not None:
                logged.extend(pts)
            base = f"metrics/{records.key_to_filename(key)}/"
            while len(lines) >= chunk:
                data = "".join(lines[:chunk]).encode("ascii")
                oid = git.create_blob(data)
                changes[f"{base}{st.chunk_index:06d}.tsv"] = (oid, blob)
                del lines[:chunk]
                st.chunk_index += 1
                if logged is not None:
                    full = logged[:chunk]
                    del logged[:chunk]
                    chunkcache.store(
                        self.repo,
                        str(oid),
                        [p[2] for p in full],
                        [p[1] for p in full],
                        [p[3] for p in full],
                    )
                else:  # a reopened tail is complete: what is left was logged here
                    rest = len(lines)
                    st.points = logged = list(pts[len(pts) - rest :]) if rest else []
            if lines:
                data = "".join(lines).encode("ascii")
                changes[f"{base}{st.chunk_index:06d}.tsv"] = (git.create_blob(data), blob)

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
                self.checkpoint()
            self.closed = True
            self._frozen = True
            self._lock.release()
            _registry.remove(self)


# -- creating and opening writers ----------------------------------------------


def _flatten_config(params: Any) -> dict[str, Any]:
    """A flat ``{dotted.key: value}`` from a dict, a nested config (Hydra/OmegaConf)."""
    if hasattr(params, "_content") and hasattr(params, "items"):  # OmegaConf DictConfig
        try:
            from omegaconf import OmegaConf  # type: ignore[import-not-found]

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
    try:
        if snapshot:
            source = take_snapshot(repo)
        else:
            source = SourceInfo(None, None, None, False, None)
        command, source_name, source_type = _command_info() if snapshot else ("", "", "UNKNOWN")
        import pygit2

        base_gt = None
        source_tree = pygit2.Oid(hex=source.tree) if source.tree else None
        base_gt = subtree_id(repo.git, source_tree, records.RECORD_DIR)
        record: dict[str, Any] = {
            "format": records.FORMAT_VERSION,
            "run_id": run_id,
            "name": name,
            "experiment_id": experiment_id,
            "status": RunStatus.RUNNING,
            "start_time": start_time if start_time is not None else now_ms(),
            "end_time": None,
            "user": user or repo.user_name(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": command,
            "source_name": source_name,
            "source_type": source_type,
            "source": source.to_record(),
            "parent_run_id": parent_run_id,
            "lifecycle": "active",
            "heartbeat": now_ms(),
            "artifact_uri": f"runs:/{run_id}",
        }
        w = RunWriter(
            repo,
            run_id,
            record,
            params={},
            tags={},
            note=description or "",
            metrics={},
            artifacts={},
            gt_tree=base_gt,
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
    except BaseException:
        lock.release()
        raise
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
    from gittrack.core.reader import Store

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
    try:
        store = Store(repo)
        ref = repo.git.references.get(run_ref(run_id))
        if ref is None:
            from gittrack.errors import RunNotFound

            raise RunNotFound(run_id)
        head = ref.target
        rec = store.read_record(str(head))
        record = rec["run"]
        if record.get("lifecycle") == "deleted" and not allow_deleted:
            raise RunNotWritable(f"Run {run_id} is deleted; restore it first")
        commit = repo.git[head]
        root = commit.tree_id
        gt = subtree_id(repo.git, root, records.RECORD_DIR)
        source_tree = apply_changes(repo.git, root, {records.RECORD_DIR: None})
        # keep a source-owned .gittrack folder: the run's tree started from it
        metrics: dict[str, _MetricState] = {}
        mtree_id = subtree_id(repo.git, gt, "metrics")
        summaries = rec["metrics"]
        if mtree_id is not None:
            for entry in repo.git[mtree_id]:
                key = records.filename_to_key(entry.name)
                chunks = sorted(e.name for e in repo.git[entry.id])
                tail: list[str] = []
                index = 0
                if chunks:
                    index = len(chunks) - 1
                    last = repo.git[entry.id][chunks[-1]].data.decode("ascii")
                    tail = last.splitlines(keepends=True)
                    if len(tail) >= records.CHUNK_POINTS:
                        tail, index = [], len(chunks)
                metrics[key] = _MetricState(summaries.get(key), index, tail)
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
        if resume:
            w._dirty.add("run")
            w.checkpoint()
    except BaseException:
        lock.release()
        raise
    _registry.add(w)
    return w


# -- the process-wide registry and the checkpoint thread ------------------------


class _Registry:
    """Open writers of this process, and the thread that checkpoints them."""

    def __init__(self) -> None:
        self._writers: dict[tuple[str, str], RunWriter] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = os.getpid()

    def add(self, w: RunWriter) -> None:
        with self._lock:
            self._writers[(str(w.repo.common_dir), w.run_id)] = w
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="gittrack-checkpoints", daemon=True
                )
                self._thread.start()

    def remove(self, w: RunWriter) -> None:
        with self._lock:
            self._writers.pop((str(w.repo.common_dir), w.run_id), None)

    def get(self, repo: Repo, run_id: str) -> RunWriter | None:
        return self._writers.get((str(repo.common_dir), run_id))

    def all(self) -> list[RunWriter]:
        with self._lock:
            return list(self._writers.values())

    def _loop(self) -> None:
        while True:
            self._wake.wait(0.5)
            now = _time()
            for w in self.all():
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


def get_open_writer(repo: Repo, run_id: str) -> RunWriter | None:
    return _registry.get(repo, run_id)
