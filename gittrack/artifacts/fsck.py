"""``gittrack fsck``: every artifact of every run resolves and matches its sha256."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gittrack.artifacts.gc import run_tips
from gittrack.artifacts.read import commit_of, read_manifest
from gittrack.artifacts.storage import storage_for
from gittrack.errors import GittrackError
from gittrack.layout import ARTIFACTS_DIR, ARTIFACTS_FILE, record_path

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

BLOBS = record_path(ARTIFACTS_DIR)


@dataclass(frozen=True)
class Problem:
    """One artifact that does not check out."""

    run_id: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.run_id} {self.path}: {self.problem}"


@dataclass
class FsckReport:
    runs: int = 0
    artifacts: int = 0
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def fsck(repo: Repo, verify: bool = True) -> FsckReport:
    """Check the newest commit of every run: inline blobs and store objects.

    With ``verify`` (the default) every byte is hashed; without it, store
    objects are only checked for presence and size.

    Raises:
        ArtifactStoreError: the store cannot be opened at all.
    """
    import pygit2

    storage = storage_for(repo)
    report = FsckReport()
    wanted: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    for run_id, tip in sorted(run_tips(repo).items()):
        report.runs += 1
        try:
            commit = commit_of(repo, tip, run_id)
            manifest = read_manifest(repo, commit, run_id)
        except GittrackError as exc:
            report.problems.append(Problem(run_id, ARTIFACTS_FILE, exc.message))
            continue
        for path, entry in manifest.items():  # paths and sha256s checked by read_manifest
            report.artifacts += 1
            if entry["where"] == "git":
                try:
                    data = commit.tree[f"{BLOBS}/{path}"].peel(pygit2.Blob).data
                except KeyError:
                    report.problems.append(Problem(run_id, path, "inline blob is missing"))
                    continue
                if (
                    len(data) != entry["size"]
                    or hashlib.sha256(data).hexdigest() != entry["sha256"]
                ):
                    report.problems.append(
                        Problem(run_id, path, "inline blob does not match its sha256")
                    )
            else:
                size, users = wanted.setdefault(entry["sha256"], (entry["size"], []))
                users.append((run_id, path))

    store = storage.store

    def check(item: tuple[str, tuple[int, list[tuple[str, str]]]]) -> list[Problem]:
        sha, (size, users) = item
        try:
            found = store.size_of(sha)
            if found is None:
                what = f"object {sha[:12]} is missing from {store.url}"
            elif found != size:
                what = f"object {sha[:12]} has {found} bytes, expected {size}"
            elif verify and store.verify(sha) != sha:
                what = f"object {sha[:12]} in {store.url} does not match its sha256"
            else:
                return []
        except GittrackError as exc:
            what = f"object {sha[:12]}: {exc.message}"
        return [Problem(run_id, path, what) for run_id, path in users]

    report.objects = len(wanted)
    workers = 1 if store.is_local else max(1, storage.config.parallel)
    with ThreadPoolExecutor(workers) as pool:
        for found in pool.map(check, sorted(wanted.items())):
            report.problems.extend(found)
    return report
