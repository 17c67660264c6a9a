"""``gittrack gc``: remove store objects that no run references.

References are collected from every commit of every run (``refs/gittrack/runs/*``,
following each run's checkpoint chain back to its source commit), so an object
an older checkpoint points at is kept. Objects younger than a grace period are
kept too: a run in another process uploads before it commits, and its fresh
objects must survive a concurrent ``gc``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.artifacts.cas import ContentStore
from gittrack.artifacts.read import commit_of, read_manifest
from gittrack.artifacts.storage import storage_for
from gittrack.layout import ARTIFACTS_FILE, RUN_FILE, RUNS_PREFIX, record_path

if TYPE_CHECKING:
    import pygit2

    from gittrack.core.repo import Repo

RUN_YAML = record_path(RUN_FILE)
MANIFEST = record_path(ARTIFACTS_FILE)
DEFAULT_GRACE = 3600.0


def run_tips(repo: Repo) -> dict[str, str]:
    """``run_id -> newest commit sha`` of every run ref."""
    tips: dict[str, str] = {}
    for name in repo.git.references:
        if name.startswith(RUNS_PREFIX):
            ref = repo.git.references[name]
            tips[name[len(RUNS_PREFIX) :]] = str(ref.resolve().target)
    return tips


def run_commits(
    repo: Repo, tip: str, seen: set[str], run_id: str | None = None
) -> Iterator[pygit2.Commit]:
    """The run's commits from ``tip`` back along first parents, skipping ``seen`` ones.

    Raises:
        CorruptRecord: ``tip`` is not a commit.
    """
    commit = commit_of(repo, tip, run_id)
    while str(commit.id) not in seen:
        seen.add(str(commit.id))
        if RUN_YAML not in commit.tree:
            return
        yield commit
        if not commit.parents:
            return
        commit = commit.parents[0]


def referenced_objects(repo: Repo) -> set[str]:
    """sha256 of every store object referenced by any commit of any run.

    Raises:
        CorruptRecord: a run ref or manifest that cannot be read (gc must not guess).
    """

    refs: set[str] = set()
    seen_commits: set[str] = set()
    seen_manifests: set[str] = set()
    for run_id, tip in run_tips(repo).items():
        for commit in run_commits(repo, tip, seen_commits, run_id):
            try:
                blob_id = str(commit.tree[MANIFEST].id)
            except KeyError:
                continue
            if blob_id in seen_manifests:
                continue
            seen_manifests.add(blob_id)
            for entry in read_manifest(repo, commit, run_id).values():
                if entry["where"] == "store":
                    refs.add(entry["sha256"])
    return refs


@dataclass
class GcReport:
    """What ``gc`` found and did."""

    store_url: str
    referenced: int = 0
    removed: list[tuple[str, int]] = field(default_factory=list)
    kept_recent: list[tuple[str, int]] = field(default_factory=list)
    cache_removed: int = 0
    dry_run: bool = False

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


def _age_seconds(store: ContentStore, sha: str, now: float) -> float:
    """Seconds since the object was written (``inf`` when the store cannot say).

    Remote stores answer through fsspec's ``modified()`` (S3, Azure, GCS), else
    through the time fields of ``info()`` that backends fill.
    """
    try:
        if store.local_root is not None:
            return now - os.stat(store.object_path(sha)).st_mtime
        path = store.object_path(sha)
        modified: Any = None
        try:
            modified = store.fs.modified(path)
        except (NotImplementedError, AttributeError, KeyError):
            info: dict[str, Any] = store.fs.info(path)
            for key in ("LastModified", "last_modified", "mtime", "updated", "created"):
                if info.get(key) is not None:
                    modified = info[key]
                    break
        if modified is None:
            return float("inf")
        if isinstance(modified, str):
            from datetime import datetime

            modified = datetime.fromisoformat(modified.replace("Z", "+00:00"))
        if hasattr(modified, "timestamp"):
            return now - modified.timestamp()
        return now - float(modified)
    except (OSError, ValueError, TypeError):
        return float("inf")


def collect_garbage(
    repo: Repo, dry_run: bool = False, grace_seconds: float = DEFAULT_GRACE
) -> GcReport:
    """Remove (or with ``dry_run`` only list) unreferenced objects of the store.

    Objects modified less than ``grace_seconds`` ago are kept and reported. A
    separate local cache (remote stores) is pruned of unreferenced objects too.

    Raises:
        ArtifactStoreError, ArtifactTransferError: the store failed.
        CorruptRecord: a run's manifest is unreadable (nothing is removed).
    """
    storage = storage_for(repo)
    store = storage.store
    keep = referenced_objects(repo)
    report = GcReport(store_url=store.url, referenced=len(keep), dry_run=dry_run)
    now = time.time()
    for sha, size in list(store.iter_objects()):
        if sha in keep:
            continue
        if grace_seconds > 0 and _age_seconds(store, sha, now) < grace_seconds:
            report.kept_recent.append((sha, size))
            continue
        report.removed.append((sha, size))
        if not dry_run:
            store.delete(sha)
    cache = storage.cache
    if cache is not None:
        for sha, _ in list(cache.iter_objects()):
            if sha not in keep:
                report.cache_removed += 1
                if not dry_run:
                    cache.delete(sha)
    if not dry_run and store.local_root is not None:
        _clean_tmp(store, now, grace_seconds)
    return report


def _clean_tmp(store: ContentStore, now: float, grace: float) -> None:
    tmp = store.local_root / "tmp"  # type: ignore[operator]
    if not tmp.is_dir():
        return
    for e in os.scandir(tmp):
        try:
            if now - e.stat().st_mtime >= max(grace, 60.0):
                os.unlink(e.path)
        except OSError:
            pass
