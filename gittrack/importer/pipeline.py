"""``import_mlflow``: read an MLflow store, write what is new or changed, keep the mapping.

One import at a time per repository (``.git/gittrack/locks/import.lock``). Runs are
read and written in batches (:data:`BATCH` runs): a batch's runs and models go into
ONE pack (:class:`gittrack.core.bulk.Batch`), their refs move once it is on disk, then
the mapping is committed. An interrupted import (an error, a source that went away, a
kill) leaves the batches before it whole and nothing of the batch it stopped in, and
resumes there. Artifact files of a batch are fetched by a thread pool while its runs
are written.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import layout
from gittrack.core.locks import FileLock
from gittrack.core.reader import Store
from gittrack.errors import GittrackError, ImportLocked, ImportRefused, ImportSourceLost
from gittrack.importer.mapping import Entry, Mapping
from gittrack.importer.model import SourceExperiment, SourceRun
from gittrack.importer.sources import Source, store_host
from gittrack.importer.sources.opener import open_source

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

BATCH = 500  # runs per batch (metric query, artifact prefetch, one pack, mapping commit)
PROCESSES = min(4, os.cpu_count() or 1)  # writer processes for SQL and mlruns sources


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    dry_run: bool = False
    experiments: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    points: int = 0
    bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # mlflow run id -> error
    missing: dict[str, list[str]] = field(default_factory=dict)  # mlflow run id -> problems
    seconds: float = 0.0


def lock_path(repo: Repo) -> Path:
    """The lock one ``gittrack import`` holds while it writes (``.git/gittrack/locks/import.lock``)."""
    return layout.lock_path(repo.state_dir, layout.IMPORT_LOCK)


def parse_since(text: str | None) -> int | None:
    """``--since`` (ISO date or date-time; UTC when no zone) in ms since the epoch.

    Raises:
        ImportRefused: not a date.
    """
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ImportRefused(f"--since {text!r} is not a date (use YYYY-MM-DD[THH:MM])") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def select(
    source: Source, experiment_names: list[str] | None, since: str | None
) -> tuple[list[SourceExperiment], list[SourceRun]]:
    """The experiments and runs of ``source`` to import.

    Raises:
        ImportRefused: a named experiment is not in the source.
    """
    exps = source.experiments()
    if experiment_names:
        by_name = {e.name: e for e in exps}
        unknown = [n for n in experiment_names if n not in by_name]
        if unknown:
            raise ImportRefused(
                f"No experiment named {', '.join(map(repr, unknown))} in {source.uri} "
                f"(it has: {', '.join(sorted(by_name)) or 'none'})"
            )
        exps = [by_name[n] for n in experiment_names]
    since_ms = parse_since(since)
    runs = source.runs([e.experiment_id for e in exps])
    if since_ms is not None:
        runs = [r for r in runs if r.start_time >= since_ms]
    runs.sort(key=lambda r: (r.start_time, r.run_id))
    return exps, runs


def _experiment_ids(repo: Repo, exps: list[SourceExperiment]) -> dict[str, str]:
    """Create or update the gittrack experiment of each MLflow experiment (matched by
    name); returns MLflow experiment id → gittrack experiment id."""
    from gittrack.core.experiments import Experiments

    store = Experiments(repo)
    out: dict[str, str] = {}
    for e in exps:
        mine = store.get_by_name(e.name)
        if mine is None:
            exp_id = store.create(e.name, None, e.tags)
        else:
            exp_id = mine.experiment_id
            for key, value in e.tags.items():
                if mine.tags.get(key) != value:
                    store.set_tag(exp_id, key, value)
            if mine.lifecycle_stage == "deleted" and e.lifecycle != "deleted":
                store.restore(exp_id)
        out[e.experiment_id] = exp_id
    return out


def _progress(total: int, quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return None
    return tqdm(total=total, desc="import mlflow", unit="run", leave=False)


def import_mlflow(
    repo: Repo,
    uri: str,
    *,
    experiments: list[str] | None = None,
    since: str | None = None,
    dry_run: bool = False,
    quiet: bool = False,
    workers: int = 4,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import the MLflow store at ``uri`` into ``repo``; returns the report.

    Runs already imported and unchanged at the source are skipped; changed ones are
    re-written (a new commit on top). A run that fails is reported and skipped.

    Raises:
        ImportRefused: the source is missing, not an MLflow store, of an unsupported
            schema, or a named experiment is not in it (nothing is written).
        ImportLocked: another import into this repository is running.
    """
    started = time.monotonic()
    source = open_source(uri)
    lock = FileLock(lock_path(repo))
    try:
        if not dry_run and not lock.acquire(block=False):
            raise ImportLocked(
                f"Another `gittrack import` is writing into this repository (lock "
                f"{lock_path(repo)}); wait for it to finish, then run this again"
            )
        report = ImportReport(source.uri, dry_run)
        exps, runs = select(source, experiments, since)
        report.experiments = len(exps)
        mapping = Mapping(repo, source.uri)
        have = Store(repo).run_refs()  # one pass over the refs, not one lookup per run
        todo: list[SourceRun] = []
        for run in runs:
            entry = mapping.entries.get(run.run_id)
            if entry is None or entry.run_id not in have:
                report.new += 1
                todo.append(run)
            elif entry.fingerprint != run.fingerprint():
                report.changed += 1
                todo.append(run)
            else:
                report.unchanged += 1
        if dry_run:
            report.seconds = time.monotonic() - started
            return report
        exp_ids = _experiment_ids(repo, exps)
        if todo:
            size = max(1, batch_size)
            _write_all(repo, source, uri, exp_ids, todo, mapping, report, quiet, workers, size)
        _apply_lifecycles(repo, exps, exp_ids)
        if todo:
            from gittrack.core.bulk import finish

            finish(repo)  # the batches' packs rolled together, the new runs' refs packed
        report.seconds = time.monotonic() - started
        return report
    finally:
        lock.release()
        source.close()


@dataclass
class RunResult:
    """What writing one run gave (sent back from a worker process)."""

    mlflow_id: str
    run_id: str
    fingerprint: str
    points: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    error: str = ""


def write_batch(
    repo: Repo,
    source: Source,
    batch: list[SourceRun],
    ids: dict[str, str],
    exp_ids: dict[str, str],
    scratch: Path,
    pool: ThreadPoolExecutor | None = None,
) -> list[RunResult]:
    """Write the runs of ``batch`` into one pack (their refs moved when it is on disk):
    their histories in one read, their artifact files fetched by ``pool`` (when given)
    while earlier runs are written.

    Raises:
        OSError: the batch's pack or refs could not be written.
        Exception: the source failed (nothing of this batch is visible).
    """
    from gittrack.core.bulk import Batch
    from gittrack.importer.writer import write_run

    host = store_host(source.uri)
    if pool is not None:
        fetches = [pool.submit(source.artifact_files, r, scratch / r.run_id) for r in batch]
    histories = source.histories(batch)
    out = []
    pack = Batch(repo)
    for i, run in enumerate(batch):
        res = RunResult(run.run_id, ids[run.run_id], run.fingerprint())
        points = histories.get(run.run_id, [])
        try:
            if pool is not None:
                files, problems = fetches[i].result()
            else:
                files, problems = source.artifact_files(run, scratch / run.run_id)
            parent = run.tags.get("mlflow.parentRunId")
            write_run(
                pack,
                run,
                run_id=res.run_id,
                experiment_id=exp_ids[run.experiment_id],
                parent_run_id=ids.get(parent, parent) if parent else None,
                points=points,
                files=files,
                problems=problems,
                host=host,
            )
        except ImportSourceLost:
            pack.abort()  # nothing of this batch moves
            raise
        except (GittrackError, OSError) as exc:
            res.error = str(exc) or type(exc).__name__
        except BaseException:
            pack.abort()  # the source went away, an interrupt: nothing of this batch moves
            raise
        else:
            res.points, res.problems = len(points), problems
            res.bytes = sum(_size(p) for p, _ in files)
        out.append(res)
        if pack.full:
            pack.commit()  # bound memory; the mapping follows with the whole batch
    pack.commit()
    pack.repair()
    return out


_worker: dict[str, Any] = {}


def _worker_init(repo_path: str, uri: str) -> None:
    from gittrack.core.repo import Repo

    _worker["repo"] = Repo(repo_path)
    _worker["source"] = open_source(uri)


def _worker_batch(
    batch: list[SourceRun], ids: dict[str, str], exp_ids: dict[str, str], scratch: str
) -> list[RunResult]:
    return write_batch(_worker["repo"], _worker["source"], batch, ids, exp_ids, Path(scratch))


def _write_all(
    repo: Repo,
    source: Source,
    uri: str,
    exp_ids: dict[str, str],
    todo: list[SourceRun],
    mapping: Mapping,
    report: ImportReport,
    quiet: bool,
    workers: int,
    batch_size: int,
) -> None:
    from gittrack.importer.writer import choose_run_id

    # gittrack ids of every run first: children name their parent by it
    taken = mapping.gittrack_ids()
    ids: dict[str, str] = {r: e.run_id for r, e in mapping.entries.items()}
    for run in todo:
        if run.run_id not in ids:
            ids[run.run_id] = choose_run_id(repo, run.run_id, taken)
            taken.add(ids[run.run_id])
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    bar = _progress(len(todo), quiet)

    def done(results: list[RunResult]) -> None:
        for res in results:
            if res.error:
                report.failed[res.mlflow_id] = res.error
                continue
            if res.problems:
                report.missing[res.mlflow_id] = res.problems
            report.points += res.points
            report.bytes += res.bytes
            mapping.set(res.mlflow_id, Entry(res.run_id, res.fingerprint, len(res.problems)))
        mapping.save()  # after every batch: an interrupted import resumes from here
        if bar is not None:
            bar.update(len(results))
            bar.set_postfix(points=report.points, bytes=report.bytes)

    processes = min(PROCESSES, len(batches)) if getattr(source, "parallel", False) else 1
    try:
        _run_batches(repo, source, uri, batches, ids, exp_ids, done, processes, workers)
    except ImportSourceLost as exc:
        raise ImportSourceLost(
            f"{exc}. {len(mapping.entries)} run(s) are imported and kept (the batch being "
            "written was dropped whole); run the same import again to resume"
        ) from exc
    except (GittrackError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the source went away (a database down, a connection lost)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImportSourceLost(
            f"Reading {source.uri} failed after {len(mapping.entries)} imported run(s): {msg}. "
            "What was imported is kept; run the same import again to resume"
        ) from exc
    finally:
        if bar is not None:
            bar.close()


def _run_batches(
    repo: Repo,
    source: Source,
    uri: str,
    batches: list[list[SourceRun]],
    ids: dict[str, str],
    exp_ids: dict[str, str],
    done: Any,
    processes: int,
    workers: int,
) -> None:
    """Write every batch (in worker processes when ``processes`` > 1), calling ``done``
    with each batch's results, in order."""
    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as scratch:
        if processes > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                processes, ctx, initializer=_worker_init, initargs=(str(repo.git.path), uri)
            ) as procs:
                futures = [procs.submit(_worker_batch, b, ids, exp_ids, scratch) for b in batches]
                for fut in futures:
                    done(fut.result())
        else:
            with ThreadPoolExecutor(max(1, workers), thread_name_prefix="gittrack-import") as pool:
                for b in batches:
                    done(write_batch(repo, source, b, ids, exp_ids, Path(scratch), pool))


def _size(path: str) -> int:
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _apply_lifecycles(repo: Repo, exps: list[SourceExperiment], exp_ids: dict[str, str]) -> None:
    """Experiments deleted at the source are deleted here too (after their runs went in)."""
    from gittrack.core.experiments import Experiments

    store = Experiments(repo)
    for e in exps:
        if e.lifecycle == "deleted":
            if store.get(exp_ids[e.experiment_id]).lifecycle_stage != "deleted":
                store.delete(exp_ids[e.experiment_id])
