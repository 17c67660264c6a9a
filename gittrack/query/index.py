"""The derived SQLite index of run records that queries read: ``.git/gittrack/index.sqlite``.

The index maps each run ref to the commit it was built from. :meth:`Index.refresh`
(called before every read) lists the run refs, parses only the runs whose commit
changed, and drops runs whose ref is gone. Deleting the file loses nothing; an
index that is corrupt or of another format version is rebuilt on open.

Several processes may read and refresh at once: the database is in WAL mode
(readers never wait for a writer), writes wait on a busy timeout, and a refresh
takes an advisory file lock so two processes do not parse the same runs twice.

A run whose record cannot be parsed is listed in :attr:`Index.broken` (and in
the ``broken`` table), logged as a warning once per commit, and left out; the
rest are indexed.

Schema (format version :data:`FORMAT_VERSION`)::

    runs(id, run_id, commit_sha, experiment_id, run_name, status, user_id,
         start_time, end_time, artifact_uri, lifecycle, heartbeat, host, pid,
         source_commit, source_branch, source_dirty, parent_run_id,
         run_json (run.yaml less what the columns hold: rows.whole_record),
         metrics_json, params_json, tags_json)
    metrics(rid, key, value, is_nan, step, timestamp, min, max, count)
    params(rid, key, value)          tags(rid, key, value)
    datasets(rid, name, digest, context)   -- dataset inputs (filters datasets.*)
    broken(run_id, commit_sha, error)
    reach(tip, commit_sha, reachable)   -- branch ancestry cache (see gittrack.query.branches)
    meta(key, value)                 -- the epoch and generation (see Index.generation)
    changes(gen, old, new)           -- the runs row ids each generation removed/added
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import IndexUnavailable
from gittrack.layout import RUNS_PREFIX, index_path
from gittrack.query.grammar import ilike, like
from gittrack.query.rows import CACHE_KIB, RunRows, insert_rows, parse_and_insert, parse_chunk

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

log = logging.getLogger(__name__)

FORMAT_VERSION = 10  # 7: dataset inputs (datasets table); 8: the generation (meta, triggers);
# 9: run_json without the fields the columns hold (rows.whole_record); 10: the change log
CHANGES_KEPT = 65536  # generations the change log reaches back (see Index.changed_since)
PARALLEL_MIN = 1500  # changed runs from which a refresh parses in several processes
CHUNK = 1000  # runs a worker parses and commits at a time

_SCHEMA = """
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    commit_sha TEXT NOT NULL,
    experiment_id TEXT,
    run_name TEXT,
    status TEXT,
    user_id TEXT,
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    artifact_uri TEXT,
    lifecycle TEXT,
    heartbeat INTEGER,
    host TEXT,
    pid INTEGER,
    source_commit TEXT,
    source_branch TEXT,
    source_dirty INTEGER,
    parent_run_id TEXT,
    run_json TEXT,
    metrics_json TEXT,
    params_json TEXT,
    tags_json TEXT
);
-- the default order, and (covering) the narrow scan a sort by a metric or param needs
CREATE INDEX runs_order ON runs(start_time DESC, run_id, lifecycle, experiment_id);
CREATE INDEX runs_experiment ON runs(experiment_id, lifecycle);
CREATE INDEX runs_running ON runs(id) WHERE status = 'RUNNING';
CREATE TABLE metrics(
    rid INTEGER NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    is_nan INTEGER NOT NULL DEFAULT 0,
    step INTEGER,
    timestamp INTEGER,
    min REAL,
    max REAL,
    count INTEGER,
    PRIMARY KEY(rid, key)
) WITHOUT ROWID;
CREATE TABLE params(rid INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,
                    PRIMARY KEY(rid, key)) WITHOUT ROWID;
CREATE TABLE tags(rid INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,
                  PRIMARY KEY(rid, key)) WITHOUT ROWID;
CREATE TABLE datasets(rid INTEGER NOT NULL, name TEXT, digest TEXT, context TEXT);
CREATE INDEX datasets_rid ON datasets(rid);
CREATE TABLE broken(run_id TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, error TEXT NOT NULL);
CREATE TABLE reach(tip TEXT NOT NULL, commit_sha TEXT NOT NULL, reachable INTEGER NOT NULL,
                   PRIMARY KEY(tip, commit_sha)) WITHOUT ROWID;
CREATE TABLE format(version INTEGER NOT NULL);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
-- the generation: bumped by every change to a runs row, whoever writes it (derived caches
-- such as gittrack.query.columns are keyed by it); the epoch tells two index files apart.
-- Each bump logs the row ids it removed (old) and added (new) under the generation it
-- reached, so a cache of an older generation can catch up (Index.changed_since); the
-- writer trims the log to the last CHANGES_KEPT generations.
INSERT INTO meta VALUES ('generation', 0);
CREATE TABLE changes(gen INTEGER PRIMARY KEY, old INTEGER, new INTEGER);
CREATE TRIGGER runs_generation_insert AFTER INSERT ON runs
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    INSERT INTO changes SELECT value, NULL, NEW.id FROM meta WHERE key = 'generation';
END;
CREATE TRIGGER runs_generation_update AFTER UPDATE ON runs
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    INSERT INTO changes SELECT value, OLD.id, NEW.id FROM meta WHERE key = 'generation';
END;
CREATE TRIGGER runs_generation_delete AFTER DELETE ON runs
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    INSERT INTO changes SELECT value, OLD.id, NULL FROM meta WHERE key = 'generation';
END;
"""
WAIT_NOTICE_SECONDS = 1.0  # waiting longer on another process's refresh is told on stderr
WAIT_REPEAT_SECONDS = 15.0  # and told again this often, with its progress
QUIET_NS = 2_000_000_000  # refs untouched this long may be trusted by their directory's mtime


# --- the index ---------------------------------------------------------------------


def _sql_like(value: Any, pattern: Any) -> int:
    return int(like(value, pattern)) if isinstance(value, str) else 0


def _sql_ilike(value: Any, pattern: Any) -> int:
    return int(ilike(value, pattern)) if isinstance(value, str) else 0


class Index:
    """The run index of one repository. Use :func:`open_index` or ``with Index(repo) as ix``.

    Attributes:
        broken: ``{run_id: error}`` for runs whose record could not be parsed.
    """

    def __init__(self, repo: Repo, path: str | os.PathLike[str] | None = None) -> None:
        self.repo = repo
        self.path = Path(path) if path is not None else index_path(repo.state_dir)
        self.broken: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()
        self._writes = 0  # changes this object made (see version())
        self.memo: dict[tuple[Any, ...], Any] = {}  # results kept while version() holds
        self.pending = 0  # runs a background build has not indexed yet (see refresh)
        self.conn = self._open()

    # -- opening and rebuilding ------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.create_function("gt_like", 2, _sql_like, deterministic=True)
        conn.create_function("gt_ilike", 2, _sql_ilike, deterministic=True)
        return conn

    def _open_existing(self) -> sqlite3.Connection | None:
        """A connection to the index file when it holds this format, else None."""
        try:
            conn = self._connect()
            if self._format_ok(conn):
                conn.execute("PRAGMA synchronous = NORMAL")
                return conn
            conn.close()
        except sqlite3.DatabaseError:
            pass
        return None

    def _open(self) -> sqlite3.Connection:
        conn = self._open_existing()
        if conn is not None:
            return conn
        ready: list[sqlite3.Connection] = []

        def created() -> bool:  # by the process holding the lock: no need to wait longer
            got = self._open_existing()
            if got is not None:
                ready.append(got)
            return got is not None

        with self._lock(lambda: f"another process is creating the run index {self.path}", created):
            # another process may have rebuilt it while we waited for the lock
            return ready[0] if ready else self._open_existing() or self._create()

    @staticmethod
    def _format_ok(conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='format'"
        ).fetchone()
        if row is None:
            return False
        got = conn.execute("SELECT version FROM format").fetchone()
        return got is not None and got[0] == FORMAT_VERSION

    def _create(self) -> sqlite3.Connection:
        """Start a fresh index file (caller holds the lock)."""
        self._writes += 1
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")
        tmp = self.path.with_name(self.path.name + f".new-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            conn.execute("INSERT INTO format(version) VALUES (?)", (FORMAT_VERSION,))
            conn.execute("INSERT INTO meta VALUES ('epoch', ?)", (uuid.uuid4().hex,))
            conn.execute("PRAGMA journal_mode = WAL")
            conn.close()
            os.replace(tmp, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise IndexUnavailable(f"Cannot create the run index {self.path}: {exc}") from exc
        conn = self._connect()
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextlib.contextmanager
    def _lock(
        self,
        what: Callable[[], str] | None = None,
        done: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        """An advisory lock on ``index.lock`` (serialises rebuilds and refreshes), held
        inside the block. While another process holds it (building the index can take
        minutes at 100,000 runs), this waits, and after :data:`WAIT_NOTICE_SECONDS` says
        so on stderr (``what()``: what the other process does), again every
        :data:`WAIT_REPEAT_SECONDS`. ``done()``, asked while waiting, True: the wait is
        over without the lock (the block then runs unlocked)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _wait_for_lock(fd, what or (lambda: "another process is updating the run index"), done)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def rebuild(self) -> dict[str, int]:
        """Throw the index away and build it again from the refs. Returns refresh counts."""
        self.conn.close()
        with self._lock():
            self.conn = self._create()
        return self.refresh()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- refreshing ------------------------------------------------------------------
    def _indexed(self) -> dict[str, str]:
        shas = dict(self.conn.execute("SELECT run_id, commit_sha FROM runs"))
        shas.update(self.conn.execute("SELECT run_id, commit_sha FROM broken"))
        return shas

    def refresh(
        self, refs: dict[str, str] | None = None, *, background: bool = False
    ) -> dict[str, int]:
        """Bring the index up to date with the run refs.

        With ``background`` (the server and the UI), a big refresh (:data:`PARALLEL_MIN`
        runs or more) is left to a process of its own (:func:`build_in_background`) and,
        while that process runs, the index is read as it is: its workers commit the runs
        chunk by chunk, so searches answer from what is ready. :attr:`pending` then counts
        the runs not indexed yet (0 when the index is up to date).

        Returns:
            ``{"added": n, "updated": n, "deleted": n, "broken": n}`` for this call.

        Raises:
            IndexUnavailable: when the index cannot be written.
        """
        self.pending = 0
        try:
            return self._refresh(refs, background)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise IndexUnavailable(f"The run index {self.path} is locked: {exc}") from exc
            log.warning("run index %s is unreadable (%s); rebuilding it", self.path, exc)
            self.conn.close()
            with self._lock():
                self.conn = self._create()
            return self._refresh(refs, background)

    def _fingerprint(self) -> str | None:
        """A stamp of the run refs' storage that changes whenever a run ref does.

        Every ref update renames a lock file in ``refs/gittrack/runs`` (changing the
        directory's mtime) or rewrites ``packed-refs``. Only a stamp older than
        :data:`QUIET_NS` is returned, so an update in the same clock tick is never missed.
        None when the stamp cannot be trusted (reftable, or refs changed just now).
        """
        common = self.repo.common_dir
        if self.repo.config("extensions.refstorage", "files") != "files":
            return None
        parts = []
        now = time.time_ns()
        for path in (common / RUNS_PREFIX.rstrip("/"), common / "packed-refs"):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                parts.append("-")
                continue
            if now - st.st_mtime_ns < QUIET_NS or now - st.st_ctime_ns < QUIET_NS:
                return None
            parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}")
        return "|".join(parts)

    def _refresh(self, refs: dict[str, str] | None, background: bool = False) -> dict[str, int]:
        from gittrack.core.reader import Store

        stamp = None
        refs_arg = refs
        if background and refs is None:
            total = building(self.path)
            if total is not None:  # our build runs: read what is ready, list no refs
                (done,) = self.conn.execute(
                    "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM broken)"
                ).fetchone()
                self.pending = max(total - done, 1)
                self._load_broken()
                return {"added": 0, "updated": 0, "deleted": 0, "broken": len(self.broken)}
        if refs is None:
            stamp = self._fingerprint()
            if stamp is not None:
                row = self.conn.execute("SELECT value FROM meta WHERE key = 'refs'").fetchone()
                if row is not None and row[0] == stamp:
                    self._load_broken()
                    return {"added": 0, "updated": 0, "deleted": 0, "broken": len(self.broken)}
            refs = Store(self.repo).run_refs()
        indexed = self._indexed()
        if not self._needs_work(refs, indexed):
            self._load_broken()
            if stamp is not None:
                self._save_stamp(stamp)
            return {"added": 0, "updated": 0, "deleted": 0, "broken": len(self.broken)}
        if background:
            work = sum(1 for rid, sha in refs.items() if indexed.get(rid) != sha)
            work += sum(1 for rid in indexed if rid not in refs)
            if work >= PARALLEL_MIN and build_in_background(self, len(refs)):
                self.pending = work
                self._load_broken()
                return {"added": 0, "updated": 0, "deleted": 0, "broken": len(self.broken)}
        total = len(refs)
        with self._lock(lambda: self._progress(total)):
            before = indexed
            indexed = self._indexed()
            if indexed != before and refs_arg is None:
                # someone refreshed while we waited, perhaps from newer refs: list again
                stamp = self._fingerprint()
                refs = Store(self.repo).run_refs()
            changed = [(rid, sha) for rid, sha in refs.items() if indexed.get(rid) != sha]
            deleted = [rid for rid in indexed if rid not in refs]
            counts, bad = self._parse_and_write(changed, deleted, indexed, stamp)
        self._load_broken()
        for run_id, sha, err in bad:
            if (run_id, sha) not in self._warned:
                self._warned.add((run_id, sha))
                log.warning(
                    "run %s (commit %s) skipped: record unreadable: %s", run_id, sha[:12], err
                )
        counts["broken"] = len(self.broken)
        return counts

    def _progress(self, total: int) -> str:
        """What another process refreshing the index has done (told while waiting on it)."""
        (done,) = self.conn.execute(
            "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM broken)"
        ).fetchone()
        return (
            f"another process is indexing the runs ({min(done, total):,} of {total:,} "
            "indexed); waiting for it to finish, to answer from every run (Ctrl-C stops)"
        )

    @staticmethod
    def _needs_work(refs: dict[str, str], indexed: dict[str, str]) -> bool:
        if len(refs) != len(indexed):
            return True
        get = indexed.get
        return any(get(rid) != sha for rid, sha in refs.items())

    def _save_stamp(self, stamp: str) -> None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'refs'").fetchone()
        if row is None or row[0] != stamp:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('refs', ?)", (stamp,))

    def _load_broken(self) -> None:
        self.broken = dict(self.conn.execute("SELECT run_id, error FROM broken"))

    def _parse_and_write(
        self,
        changed: list[tuple[str, str]],
        deleted: list[str],
        indexed: dict[str, str],
        stamp: str | None,
    ) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
        """Parse the changed runs and write them; return (counts, broken runs).

        Small refreshes are one transaction. Big ones (:data:`PARALLEL_MIN` runs) drop the
        old rows first, then worker processes parse chunks and each writes its own chunk
        (ids allocated up front); readers meanwhile wait on the refresh lock.
        """
        gitdir = str(self.repo.gitdir)
        workers = min(os.cpu_count() or 1, 4)
        ctx = None
        if len(changed) >= PARALLEL_MIN and workers >= 2:
            import multiprocessing

            with contextlib.suppress(ValueError):  # no fork on this platform
                ctx = multiprocessing.get_context("fork")
        if ctx is None:
            good, bad = parse_chunk(gitdir, changed)
            return self._write(good, bad, deleted, indexed, stamp), bad
        from concurrent.futures import ProcessPoolExecutor

        conn = self.conn
        self._writes += 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._delete([rid for rid, _ in changed] + deleted)
            base = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        n_chunks = workers * 3  # more chunks than workers: one parses while another writes
        # at most CHUNK runs a chunk: each commits on its own, so the first runs show early
        size = min(-(-len(changed) // n_chunks), CHUNK)
        chunks = [changed[i : i + size] for i in range(0, len(changed), size)]
        firsts = [base + i * size for i in range(len(chunks))]
        self.conn.close()  # no connection crosses the fork
        bad = []
        good_ids: list[str] = []
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for g, b in pool.map(
                    parse_and_insert,
                    [gitdir] * len(chunks),
                    [str(self.path)] * len(chunks),
                    chunks,
                    firsts,
                ):
                    good_ids.extend(g)
                    bad.extend(b)
        finally:
            self.conn = self._connect()
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('refs', ?)", (stamp or "",))
        self._trim_changes()
        added = sum(1 for rid in good_ids if rid not in indexed)
        counts = {"added": added, "updated": len(good_ids) - added, "deleted": len(deleted)}
        return counts, bad

    def _write(
        self,
        good: list[tuple[str, str, RunRows]],
        bad: list[tuple[str, str, str]],
        deleted: list[str],
        indexed: dict[str, str],
        stamp: str | None = None,
    ) -> dict[str, int]:
        conn = self.conn
        gone = [rid for rid, _, _ in good] + [rid for rid, _, _ in bad] + deleted
        self._writes += 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            if gone:
                self._delete(gone)
            first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0]
            insert_rows(conn, first, good, bad)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('refs', ?)", (stamp if stamp else "",)
            )
            self._trim_changes()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        added = sum(1 for rid, _, _ in good if rid not in indexed)
        return {"added": added, "updated": len(good) - added, "deleted": len(deleted)}

    def _trim_changes(self) -> None:
        """Keep the change log to its last :data:`CHANGES_KEPT` generations."""
        self.conn.execute(
            "DELETE FROM changes WHERE gen <= "
            "(SELECT value FROM meta WHERE key = 'generation') - ?",
            (CHANGES_KEPT,),
        )

    def _delete(self, run_ids: list[str]) -> None:
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS gone(run_id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.gone")
        conn.executemany("INSERT OR IGNORE INTO temp.gone VALUES (?)", ((r,) for r in run_ids))
        for table in ("metrics", "params", "tags", "datasets"):
            conn.execute(
                f"DELETE FROM {table} WHERE rid IN "
                "(SELECT id FROM runs WHERE run_id IN (SELECT run_id FROM temp.gone))"
            )
        conn.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM temp.gone)")
        conn.execute("DELETE FROM broken WHERE run_id IN (SELECT run_id FROM temp.gone)")

    # -- reading ---------------------------------------------------------------------
    def version(self) -> tuple[int, int, int]:
        """A value that changes whenever the index's contents may have: this object's
        own writes are counted, other connections' commits show in SQLite's
        ``data_version`` (of this connection, hence its ``id``)."""
        (data_version,) = self.conn.execute("PRAGMA data_version").fetchone()
        return self._writes, id(self.conn), data_version

    def generation(self) -> str:
        """A value that changes whenever a run's row does, in any process, and differs
        between two index files (``<epoch>:<count>``): what derived caches are keyed by.
        Read it in the same transaction as the rows it stands for."""
        meta = dict(
            self.conn.execute("SELECT key, value FROM meta WHERE key IN ('epoch', 'generation')")
        )
        return f"{meta.get('epoch', '')}:{meta.get('generation', '')}"

    def changed_since(self, generation: str, limit: int) -> list[int] | None:
        """The ``runs`` row ids removed or added (a changed run is both: its old row goes,
        a new one comes) since ``generation``, an earlier :meth:`generation` of this index
        file, ascending; ``[]`` when it is the current one. None when the change log cannot
        tell: ``generation`` is of another index file, newer than this snapshot, further back
        than the log reaches (:data:`CHANGES_KEPT`) or more than ``limit`` generations back.
        Read it in the same transaction as the rows it names."""
        epoch, _, since = generation.rpartition(":")
        now_epoch, _, now = self.generation().rpartition(":")
        if epoch != now_epoch or not since.isdigit() or not now.isdigit():
            return None
        start, end = int(since), int(now)
        if start == end:
            return []
        if start > end or end - start > limit:
            return None
        (first,) = self.conn.execute("SELECT min(gen) FROM changes").fetchone()
        if first is None or first > start + 1:  # every generation logs one row: none missing
            return None
        rows = self.conn.execute("SELECT old, new FROM changes WHERE gen > ?", (start,))
        return sorted({rid for row in rows for rid in row if rid is not None})

    def memoized(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, kept in :attr:`memo` under ``key`` until :meth:`version` changes."""
        full = (self.version(), *key)
        hit = self.memo.get(full)
        if hit is None:
            if len(self.memo) > 64:
                self.memo.clear()
            hit = self.memo[full] = compute()
        return hit

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """Run a read query on the index."""
        return self.conn.execute(sql, tuple(params))


def _wait_for_lock(fd: int, what: Callable[[], str], done: Callable[[], bool] | None) -> None:
    """Take the exclusive flock on ``fd``, telling stderr while another process holds it
    (see :meth:`Index._lock`); return early when ``done()``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own locking suffices
        return
    started = time.monotonic()
    told = None
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if done is not None and done():
            return
        now = time.monotonic()
        due = started + WAIT_NOTICE_SECONDS if told is None else told + WAIT_REPEAT_SECONDS
        if now >= due:
            told = now
            print(f"gittrack: {what()}", file=sys.stderr, flush=True)
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


# index file -> (the process building it in the background, the run refs it indexes)
_builds: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
_failed: set[str] = set()  # index files whose background build failed: refresh in-line
_builds_lock = threading.Lock()


def building(path: Path) -> int | None:
    """The number of run refs a background build of ``path`` this process started is
    indexing, while it runs (None: no such build runs)."""
    with _builds_lock:
        got = _builds.get(str(path))
        if got is None:
            return None
        proc, total = got
        if proc.poll() is None:
            return total
        del _builds[str(path)]
        if proc.returncode != 0:
            log.warning("building the run index %s in the background failed", path)
            _failed.add(str(path))
        return None


def build_in_background(ix: Index, total: int) -> bool:
    """Start a process that refreshes ``ix``'s file (``python -m gittrack.query.index``)
    towards ``total`` run refs; False when a build of it failed before (the caller
    refreshes in-line and so reports the error)."""
    import gittrack

    key = str(ix.path)
    with _builds_lock:
        if key in _failed:
            return False
        if key in _builds:
            return True
        env = dict(os.environ)
        top = str(Path(gittrack.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (top, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gittrack.query.index", str(ix.repo.gitdir), key],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        _builds[key] = (proc, total)
        log.info("building the run index %s in the background", ix.path)
        return True


def open_index(repo: Repo, refresh: bool = True) -> Index:
    """Open (creating or rebuilding as needed) and, by default, refresh the index of ``repo``.

    Raises:
        IndexUnavailable: when the index file cannot be created or written.
    """
    ix = Index(repo)
    if refresh:
        ix.refresh()
    return ix


if __name__ == "__main__":  # the background build: python -m gittrack.query.index GITDIR PATH
    from gittrack.core.repo import Repo

    with Index(Repo(sys.argv[1]), sys.argv[2]) as _ix:
        _ix.refresh()
