"""Mirror a repository's runs into a SQL database: ``gittrack sync URL``.

::

    from gittrack.mirror.sync import sync_to
    report = sync_to("postgresql+psycopg://me@db/ml")   # or sqlite:///runs.db, mysql+pymysql://...
    print(report.summary())

The mirror holds experiments, runs, params, tags, latest metrics, full metric
histories and artifact manifests in the schema documented in
``docs/sql-schema.md``. A sync is one transaction under a lock: it copies only
the runs whose ref moved since the last sync (``sync_state`` remembers the
commit each run was mirrored at), marks runs whose ref is gone as deleted, and
brings them back when the ref returns. Running it twice changes nothing; two
syncs at once take turns; a failure leaves the mirror as it was.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.errors import (
    GittrackError,
    SchemaConflict,
    SyncBusy,
    SyncError,
    SyncTargetError,
)

if TYPE_CHECKING:
    from gittrack.core.repo import Repo
    from gittrack.mirror.source import RepoSource

__all__ = [
    "SyncReport",
    "exclude_sqlite_target",
    "sync_to",
]

SYNC_BATCH = 1000  # runs read and written per slice of a sync
STATE_COLUMNS = ("run_id", "commit_sha", "synced_at", "error")


@dataclass
class SyncReport:
    """What one sync did.

    Attributes:
        target: the URL synced into, password hidden.
        runs: run refs in the repository.
        added / updated / restored / removed: run ids newly mirrored, mirrored
            again (their commit moved), back after their ref had gone, and
            marked deleted because their ref is gone.
        skipped: (run id, reason) of runs whose record could not be read; the
            mirror keeps what it had for them.
        unchanged: runs already mirrored at their current commit.
        experiments: experiments mirrored in this sync (0 when unchanged).
        registered_models: live registered models mirrored in this sync (None when the
            registry did not change since the last sync).
        rows: table -> rows written.
        seconds: wall time.
        notes: things the user should know, e.g. that a SQLite target inside the
            working tree was added to ``.git/info/exclude``.
    """

    target: str
    runs: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    experiments: int = 0
    registered_models: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when this sync wrote anything."""
        return (
            bool(self.added or self.updated or self.restored or self.removed or self.experiments)
            or self.registered_models is not None
            or any(self.rows.values())
        )

    def summary(self) -> str:
        """One line: counts of added, updated, ... runs and the time taken."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.removed)} removed",
            f"{len(self.restored)} restored",
            f"{self.unchanged} unchanged",
        ]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.registered_models is not None:
            n = self.registered_models
            parts.append(f"{n} registered model{'s' if n != 1 else ''}")
        return (
            f"Synced {self.runs} runs into {self.target}: {', '.join(parts)} "
            f"({sum(self.rows.values())} rows, {self.seconds:.2f} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runs": self.runs,
            "added": self.added,
            "updated": self.updated,
            "restored": self.restored,
            "removed": self.removed,
            "skipped": [{"run_id": r, "reason": why} for r, why in self.skipped],
            "unchanged": self.unchanged,
            "experiments": self.experiments,
            "registered_models": self.registered_models,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
        }


def sync_to(
    url: str,
    repo: str | os.PathLike[str] | Repo | None = None,
    watch: float | None = None,
    *,
    on_report: Callable[[SyncReport], None] | None = None,
    on_error: Callable[[SyncError], None] | None = None,
    rounds: int | None = None,
    prune: bool = True,
) -> SyncReport:
    """Mirror ``repo``'s runs into the database at ``url``.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///runs.db``,
            ``postgresql+psycopg://user:pw@host/db``, ``mysql+pymysql://user:pw@host/db``.
        repo: the repository (path or :class:`~gittrack.core.repo.Repo`); default
            ``GITTRACK_REPO`` or the working directory.
        watch: sync again every ``watch`` seconds until interrupted
            (KeyboardInterrupt) or ``rounds`` syncs have run.
        on_report: called with each sync's report (useful with ``watch``).
        on_error: with ``watch``, called with a sync's error (unreachable
            database, lock held too long) instead of stopping; a
            :class:`SchemaConflict` always stops.
        rounds: with ``watch``, stop after this many syncs.
        prune: mark runs whose ref is gone from the repository as deleted
            (``in_repository`` false). False keeps them as they are, for a
            mirror that several clones sync into.

    A SQLite target inside the working tree is added to ``.git/info/exclude``
    (see :func:`exclude_sqlite_target`; the first report's ``notes`` say so).

    Returns:
        the (last) :class:`SyncReport`.

    Raises:
        SyncTargetError: bad URL, missing driver, wrong password, unreachable host.
        SchemaConflict: the target already holds tables of another schema.
        SyncBusy: another sync held the lock for more than 5 minutes.
        SyncError: the sync failed midway (rolled back: the mirror is unchanged).
        gittrack.errors.NoRepository: no repository at ``repo``.
    """
    from gittrack.mirror.source import RepoSource

    source = RepoSource(repo)
    mirror = _Mirror(url)
    notes = [n for n in [exclude_sqlite_target(source.repo, mirror.url)] if n]
    try:
        n = 0
        while True:
            try:
                report = mirror.sync(source, prune)
                report.notes, notes = notes, []
            except SchemaConflict:
                raise
            except SyncError as exc:
                if watch is None or on_error is None:
                    raise
                on_error(exc)
            else:
                if on_report is not None:
                    on_report(report)
            n += 1
            if watch is None or (rounds is not None and n >= rounds):
                return report
            time.sleep(max(0.0, float(watch)))
    finally:
        mirror.close()


def exclude_sqlite_target(repo: Repo, url: Any) -> str | None:
    """Keep a SQLite mirror file that lies inside the working tree out of git's sight.

    Such a file (``sqlite:///runs.db`` run at the top of a project) would otherwise be an
    untracked file: the next run would snapshot it and be marked dirty. Its path (and
    SQLite's ``-journal``/``-wal``/``-shm`` files) goes into ``.git/info/exclude``, which
    git status and the run snapshot honour, unless git already ignores it.

    Returns:
        a note saying what was excluded, or None when nothing had to be done.
    """
    database = getattr(url, "database", None)
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    workdir = repo.workdir
    if workdir is None:
        return None
    path = os.path.realpath(os.path.abspath(database))
    top = os.path.realpath(workdir)
    gitdir = os.path.realpath(repo.common_dir)
    inside = os.path.commonpath([path, top]) == top
    if not inside or os.path.commonpath([path, gitdir]) == gitdir:
        return None
    rel = os.path.relpath(path, top).replace(os.sep, "/")
    try:
        if repo.git.path_is_ignored(rel):
            return None
    except Exception:  # noqa: BLE001 - unsure: exclude it anyway
        pass
    exclude = os.path.join(gitdir, "info", "exclude")
    os.makedirs(os.path.dirname(exclude), exist_ok=True)
    patterns = [f"/{rel}", f"/{rel}-journal", f"/{rel}-wal", f"/{rel}-shm"]
    with open(exclude, "a", encoding="utf-8") as f:
        f.write("# the SQL mirror of gittrack sync (kept out of run snapshots)\n")
        f.write("".join(p + "\n" for p in patterns))
    return (
        f"{rel} is inside the working tree: added it to .git/info/exclude so runs do not "
        "snapshot it (keep the mirror under .git/ or outside the project to avoid this)"
    )


class _Mirror:
    """One target database: engine, tables, and the sync transaction."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        from gittrack.mirror.db import make_engine, normalize_url

        try:
            self.url = normalize_url(url)
        except sa.exc.ArgumentError as exc:
            raise SyncTargetError(
                f"Not a database URL: {url!r}; expected e.g. sqlite:///runs.db, "
                "postgresql+psycopg://user:password@host/db or mysql+pymysql://user@host/db"
            ) from exc
        self.shown = self.url.render_as_string(hide_password=True)
        try:
            self.engine = make_engine(self.url)
        except sa.exc.NoSuchModuleError as exc:
            raise SyncTargetError(
                f"Unknown database kind {self.url.drivername!r} in {self.shown}"
            ) from exc
        except ImportError as exc:
            extra = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(
                self.url.get_backend_name()
            )
            how = f"pip install 'gittrack[{extra}]'" if extra else "install its Python driver"
            raise SyncTargetError(
                f"The database driver for {self.shown} is not installed ({exc}); {how}"
            ) from exc
        except sa.exc.OperationalError as exc:
            raise self._cannot_connect(exc) from exc
        self.tables: Any = None
        self.cache: _StateCache | None = None

    def close(self) -> None:
        self.engine.dispose()

    def _cannot_connect(self, exc: BaseException) -> SyncTargetError:
        from gittrack.mirror.db import error_text

        return SyncTargetError(
            f"Cannot connect to {self.shown}: {error_text(exc)}. Nothing was written."
        )

    def _prepare(self) -> None:
        """Connect, check the target is empty or ours, create what is missing."""
        import sqlalchemy as sa

        from gittrack.core.retry import Backoff, call_with_retry
        from gittrack.mirror.schema import build_tables, check_target, create_schema

        tables: Any = None

        def prepare_once() -> None:
            nonlocal tables
            try:
                conn = self.engine.connect()
            except sa.exc.DBAPIError as exc:
                raise self._cannot_connect(exc) from exc
            if tables is None:  # the dialect knows MariaDB from MySQL once connected
                tables = build_tables(
                    mariadb=bool(getattr(self.engine.dialect, "is_mariadb", False))
                )
            try:
                with conn.begin():
                    complete = check_target(conn, tables)
                conn.close()
                if not complete:
                    create_schema(self.engine, tables)  # creates only what is missing
            finally:
                conn.close()

        try:
            # e.g. another sync created the schema at the same moment: look again
            call_with_retry(
                prepare_once,
                idempotent=True,
                retryable=lambda e: isinstance(e, sa.exc.DBAPIError),
                backoff=Backoff(retries=2, first=0.2, factor=1.5, jitter=0.0),
            )
        except sa.exc.DBAPIError as exc:
            raise self._failed(exc) from exc
        self.tables = tables

    def _failed(self, exc: BaseException) -> SyncError:
        from gittrack.mirror.db import error_text, is_lock_timeout

        if is_lock_timeout(exc):
            return SyncBusy(self.shown)
        return SyncError(
            f"Sync into {self.shown} failed: {error_text(exc)}. "
            "The transaction was rolled back; the mirror is unchanged."
        )

    def sync(self, source: RepoSource, prune: bool = True) -> SyncReport:
        """One sync round; see :func:`sync_to`."""
        import sqlalchemy as sa

        t0 = time.perf_counter()
        if self.tables is None:
            self._prepare()
        report = SyncReport(self.shown)
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise self._cannot_connect(exc) from exc
        try:
            from gittrack.mirror.db import begin_locked
            from gittrack.mirror.schema import META_LOCK

            begin_locked(conn, self.tables.meta, META_LOCK)
            cache = _sync_locked(conn, self.tables, source, report, prune, self.cache)
            conn.commit()
            self.cache = cache
        except (sa.exc.DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:
            # bulk writes use the driver directly, so its own errors arrive here too
            self.cache = None
            _quiet_rollback(conn)
            raise self._failed(exc) from exc
        except BaseException:
            self.cache = None
            _quiet_rollback(conn)
            raise
        finally:
            conn.close()
        report.seconds = time.perf_counter() - t0
        return report


def _quiet_rollback(conn: Any) -> None:
    """Roll back; a connection already lost rolls back by itself."""
    try:
        conn.rollback()
    except Exception:  # noqa: S110 - the original error is the one to report
        pass


@dataclass
class _StateCache:
    """``sync_state`` as a sync left it, valid while ``gittrack_meta.generation`` is unchanged."""

    generation: str
    state: dict[str, str | None]


def _sync_locked(
    conn: Any,
    t: Any,
    source: RepoSource,
    report: SyncReport,
    prune: bool = True,
    cache: _StateCache | None = None,
) -> _StateCache | None:
    """The body of the sync transaction (the lock is held).

    Returns:
        the sync state after this sync, for the next one (``--watch``) to skip
        reading ``sync_state`` when no other sync came in between.
    """
    import sqlalchemy as sa

    from gittrack.core.validation import is_run_id
    from gittrack.layout import run_ref
    from gittrack.mirror.db import batches, bulk_insert, delete_runs
    from gittrack.mirror.rows import CHILD_TABLES, COLUMNS
    from gittrack.mirror.schema import META_GENERATION
    from gittrack.mirror.source import read_slices

    now = int(time.time() * 1000)
    refs = source.run_refs()
    bad_refs = sorted(r for r in refs if not is_run_id(r))
    for rid in bad_refs:  # a column could not hold it; never written, reported every time
        del refs[rid]
    report.runs = len(refs)
    ss = t.sync_state
    generation = conn.execute(
        sa.select(t.meta.c.value).where(t.meta.c.name == META_GENERATION)
    ).scalar_one_or_none()
    if cache is not None and generation is not None and cache.generation == generation:
        state = cache.state  # nobody synced since our last sync: skip reading sync_state
    else:
        state = {r: sha for r, sha in conn.execute(sa.select(ss.c.run_id, ss.c.commit_sha))}
    for rid, sha in refs.items():
        if rid not in state:
            report.added.append(rid)
        elif state[rid] is None:
            report.restored.append(rid)
        elif state[rid] != sha:
            report.updated.append(rid)
    if prune:
        report.removed = sorted(r for r, sha in state.items() if sha is not None and r not in refs)
    again = set(report.updated + report.restored)
    report.unchanged = len(refs) - len(report.added) - len(again)

    done: list[str] = []
    failed: dict[str, str] = {}
    have = _history_counts(conn, t.metrics, sorted(again))
    items: list[tuple[str, str, Mapping[str, int] | None]] = [
        (rid, refs[rid], have.get(rid)) for rid in report.added + sorted(again)
    ]
    for chunk, ok, bad in read_slices(source, items, SYNC_BATCH):
        failed.update(bad)
        replaced = [r.run_id for r in ok if r.run_id in again]
        if replaced:
            for name in ("runs", *CHILD_TABLES):
                if name != "metrics":
                    delete_runs(conn, getattr(t, name), replaced)
            delete_runs(conn, t.metrics, [r.run_id for r in ok if r.reset_history])
        for name in ("runs", *CHILD_TABLES):
            rows = [row for r in ok for row in r.tables.get(name, ())]
            bulk_insert(conn, getattr(t, name), COLUMNS[name], rows)
            report.rows[name] = report.rows.get(name, 0) + len(rows)
        states: list[tuple[str, str, int, str | None]] = [
            (r.run_id, r.commit, now, None) for r in ok
        ]
        states += [(rid, refs[rid], now, failed[rid]) for rid in chunk if rid in failed]
        delete_runs(conn, ss, [r for r in chunk if r in state])
        bulk_insert(conn, ss, STATE_COLUMNS, states)
        done += chunk
    report.skipped = sorted(failed.items()) + [
        (rid, f"ref {run_ref(rid)} does not name a valid run id") for rid in bad_refs
    ]
    for lst in (report.added, report.updated, report.restored):
        lst[:] = sorted(r for r in lst if r not in failed)

    if report.removed:
        for removed in batches(report.removed):
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id.in_(list(removed)))
                .values(in_repository=False, lifecycle_stage="deleted")
            )
        delete_runs(conn, ss, report.removed)
        bulk_insert(conn, ss, STATE_COLUMNS, [(r, None, now, None) for r in report.removed])
        done += report.removed

    _refresh_running(conn, t, source, refs, set(done))
    _sync_experiments(conn, t, source, report)
    _sync_registry(conn, t, source, report)
    if done:
        state = dict(state)
        state.update((rid, refs.get(rid)) for rid in done)
        generation = uuid.uuid4().hex
        _set_meta(conn, t.meta, META_GENERATION, generation)
    if report.changed:
        _set_meta(conn, t.meta, "last_sync", str(now))
    return _StateCache(generation, state) if generation is not None else None


def _history_counts(conn: Any, metrics: Any, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """run_id -> metric key -> history points the mirror holds."""
    import sqlalchemy as sa

    from gittrack.mirror.db import batches

    out: dict[str, dict[str, int]] = {}
    for chunk in batches(run_ids):
        q = (
            sa.select(metrics.c.run_id, metrics.c.name, sa.func.max(metrics.c.seq))
            .where(metrics.c.run_id.in_(list(chunk)))
            .group_by(metrics.c.run_id, metrics.c.name)
        )
        for rid, name, top in conn.execute(q):
            out.setdefault(rid, {})[name] = int(top) + 1
    return out


def _refresh_running(
    conn: Any, t: Any, source: RepoSource, refs: Mapping[str, str], done: set[str]
) -> None:
    """Mark RUNNING runs whose writer is gone as CRASHED (no new commit tells us)."""
    import sqlalchemy as sa

    q = sa.select(t.runs.c.run_id, t.runs.c.commit_sha).where(
        t.runs.c.status == "RUNNING", t.runs.c.in_repository == sa.true()
    )
    for rid, sha in conn.execute(q).all():
        if rid in done or refs.get(rid) != sha:
            continue
        try:
            status = source.status(sha)
        except Exception:  # unreadable now: leave it for the next real change
            continue
        if status != "RUNNING":
            conn.execute(t.runs.update().where(t.runs.c.run_id == rid).values(status=status))


def _sync_experiments(conn: Any, t: Any, source: RepoSource, report: SyncReport) -> None:
    """Replace the experiments tables when ``refs/gittrack/experiments`` moved."""
    import sqlalchemy as sa

    from gittrack.mirror.db import bulk_insert
    from gittrack.mirror.rows import COLUMNS, experiment_rows
    from gittrack.mirror.schema import META_EXPERIMENTS

    marker = source.experiments_commit() or "-"  # "-": no ref, only the implicit Default
    old = conn.execute(
        sa.select(t.meta.c.value).where(t.meta.c.name == META_EXPERIMENTS)
    ).scalar_one_or_none()
    if marker == old:
        return
    try:
        rows = experiment_rows(source.experiments())
    except GittrackError as exc:
        report.skipped.append(("experiments", f"experiments are unreadable: {exc}"))
        return
    conn.execute(t.experiment_tags.delete())
    conn.execute(t.experiments.delete())
    for name in ("experiments", "experiment_tags"):
        bulk_insert(conn, getattr(t, name), COLUMNS[name], rows.get(name, []))
        report.rows[name] = len(rows.get(name, []))
    report.experiments = len(rows.get("experiments", []))
    _set_meta(conn, t.meta, META_EXPERIMENTS, marker)


def _sync_registry(conn: Any, t: Any, source: RepoSource, report: SyncReport) -> None:
    """Replace the five registry tables when any ``refs/gittrack/registry/*`` moved.

    A registry is small (a model per name, a few versions each), so it is rewritten as a
    whole, like the experiments. A model whose records cannot be read (or hold a value the
    database cannot) is reported in ``skipped`` and left out.
    """
    import hashlib

    import sqlalchemy as sa

    from gittrack.errors import BadRecord
    from gittrack.mirror.db import bulk_insert
    from gittrack.mirror.rows import COLUMNS, REGISTRY_TABLES, registry_rows
    from gittrack.mirror.schema import META_REGISTRY

    commits = source.registry_commits()
    marker = "-"  # no registry: the tables stay empty
    if commits:
        marker = hashlib.sha256(
            "".join(f"{ref} {sha}\n" for ref, sha in sorted(commits.items())).encode()
        ).hexdigest()
    old = conn.execute(
        sa.select(t.meta.c.value).where(t.meta.c.name == META_REGISTRY)
    ).scalar_one_or_none()
    if marker == (old or "-"):
        return
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in REGISTRY_TABLES}
    models = 0
    for ref, sha, model, versions in source.registered_models(commits):
        if versions is None:
            report.skipped.append((ref, f"registered model unreadable at {sha[:12]}: {model}"))
            continue
        try:
            got = registry_rows(model, versions, sha)
        except BadRecord as exc:
            report.skipped.append((ref, f"registered model {model.name!r}: {exc}"))
            continue
        for name in REGISTRY_TABLES:
            rows[name].extend(got[name])
        models += 1
    for name in reversed(REGISTRY_TABLES):
        conn.execute(getattr(t, name).delete())
    for name in REGISTRY_TABLES:
        bulk_insert(conn, getattr(t, name), COLUMNS[name], rows[name])
        report.rows[name] = len(rows[name])
    report.registered_models = models
    _set_meta(conn, t.meta, META_REGISTRY, marker)


def _set_meta(conn: Any, meta: Any, name: str, value: str) -> None:
    res = conn.execute(meta.update().where(meta.c.name == name).values(value=value))
    if res.rowcount == 0:
        conn.execute(meta.insert().values(name=name, value=value))
