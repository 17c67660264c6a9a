"""Reading a run's artifacts: listing, verified downloads, in-memory reads.

A run's manifest is read from its newest commit (``.gittrack/artifacts.yaml``);
inline files come from the same tree, stored files from the store through the
local cache. Every byte handed out has been checked against its sha256.
Manifest paths are validated again before anything is written to disk, so a
run fetched from someone else cannot write outside the destination folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.artifacts.manifest import FileInfo, list_children, select
from gittrack.artifacts.storage import storage_for
from gittrack.core.validation import artifact_manifest, clean_artifact_path
from gittrack.errors import ArtifactNotFound, CorruptArtifact, CorruptRecord, InvalidArtifactPath
from gittrack.layout import ARTIFACTS_DIR, ARTIFACTS_FILE, record_path

if TYPE_CHECKING:
    import pygit2

    from gittrack.core.repo import Repo

MANIFEST = record_path(ARTIFACTS_FILE)
BLOBS = record_path(ARTIFACTS_DIR)


def commit_of(repo: Repo, sha: str, run_id: str | None = None) -> pygit2.Commit:
    """The commit object ``sha`` (peeling tags) that run ``run_id``'s ref names.

    Raises:
        CorruptRecord: ``sha`` is missing or not a commit.
    """
    import pygit2

    try:
        return repo.git[sha].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise CorruptRecord(run_id or sha[:12], f"its ref names {sha[:12]}, not a commit") from exc


def flush_live_writers(repo: Repo, run_id: str) -> None:
    """Checkpoint this process's open writers of runs matching ``run_id`` (a prefix works),
    so what this process logged is visible to what it reads."""
    from gittrack.core.live import open_writers

    common = str(repo.common_dir)
    for w in open_writers():
        if (
            isinstance(run_id, str)
            and w.run_id.startswith(run_id)
            and not w.closed
            and w.has_pending
            and str(w.repo.common_dir) == common
        ):
            w.checkpoint()


def resolve_run(repo: Repo, run_id: str) -> tuple[str, pygit2.Commit]:
    """The full run id and newest commit of run ``run_id`` (a unique prefix works).

    Raises:
        RunNotFound, AmbiguousRunId: as the core store.
    """
    from gittrack.core.reader import Store

    flush_live_writers(repo, run_id)
    store = Store(repo)
    full = store.resolve_run_id(run_id)
    sha = store.run_refs()[full]
    return full, commit_of(repo, sha, full)


def read_manifest(repo: Repo, commit: pygit2.Commit, run_id: str = "?") -> dict[str, Any]:
    """The manifest of a run commit ({} when it has no artifacts).

    Raises:
        CorruptRecord: unreadable YAML.
        BadArtifactEntry: an entry with an unsafe path or sha256, or a bad size/where.
    """
    import pygit2

    from gittrack.core.records.formats import load_yaml

    try:
        entry = commit.tree[MANIFEST]
    except KeyError:
        return {}
    try:
        data = load_yaml(entry.peel(pygit2.Blob).data) or {}
    except Exception as exc:
        raise CorruptRecord(run_id, f"artifacts.yaml: {exc}") from exc
    return artifact_manifest(run_id, data)


def run_manifest(repo: Repo, run_id: str) -> tuple[str, pygit2.Commit, dict[str, Any]]:
    full, commit = resolve_run(repo, run_id)
    return full, commit, read_manifest(repo, commit, full)


def list_artifacts(repo: Repo, run_id: str, path: str | None = None) -> list[FileInfo]:
    """Files and folders directly under ``path`` of the run's artifacts.

    Raises:
        RunNotFound, InvalidArtifactPath, CorruptRecord.
    """
    folder = clean_artifact_path(path)
    _, _, manifest = run_manifest(repo, run_id)
    return list_children(manifest, folder)


def _inline_bytes(repo: Repo, commit: pygit2.Commit, path: str, entry: dict[str, Any]) -> bytes:
    import pygit2

    try:
        data = commit.tree[f"{BLOBS}/{path}"].peel(pygit2.Blob).data
    except KeyError as exc:
        raise ArtifactNotFound(
            f"artifact {path!r} is listed in artifacts.yaml but its blob is missing "
            f"from run commit {commit.id}"
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry["sha256"]:
        raise CorruptArtifact(f"artifact {path!r}", entry["sha256"], actual)
    return data


def read_bytes(repo: Repo, run_id: str, path: str) -> bytes:
    """The verified bytes of one artifact file.

    Raises:
        ArtifactNotFound: no such file in the run (a folder is not a file).
        CorruptArtifact: stored bytes do not match their sha256.
    """
    clean = clean_artifact_path(path)
    full, commit, manifest = run_manifest(repo, run_id)
    entry = manifest.get(clean)
    if entry is None:
        raise ArtifactNotFound(f"run {full} has no artifact file {clean!r}")
    if entry["where"] == "git":
        return _inline_bytes(repo, commit, clean, entry)
    return storage_for(repo).fetch_bytes(entry["sha256"])


def _write_verified(dst: Path, data: bytes) -> None:
    """Write bytes already checked against their hash (a new inode: a previous download
    may be a hard link into the cache, which must not be written through)."""
    try:
        os.unlink(dst)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise
    with open(dst, "xb") as out:
        out.write(data)


def download_artifacts(
    repo: Repo, run_id: str, path: str | None = None, dst_path: str | os.PathLike[str] | None = None
) -> str:
    """Download a file or folder of a run's artifacts; returns the local path.

    The result is ``<dst_path>/<path>`` (a new temporary folder when ``dst_path``
    is None), as MLflow. Stored files are fetched in parallel through the local
    cache and every file is verified against its sha256.

    Raises:
        ArtifactNotFound: nothing at ``path``.
        InvalidArtifactPath: ``dst_path`` cannot be made a folder.
        CorruptArtifact: a file's bytes do not match its recorded hash (that file is not written).
        ArtifactTransferError: the store kept failing.
    """
    clean = clean_artifact_path(path)
    _, commit, manifest = run_manifest(repo, run_id)
    chosen = select(manifest, clean)  # paths already checked by read_manifest
    dst = _destination(dst_path)
    remote: list[tuple[str, Path]] = []
    made: set[Path] = set()
    with _Writers(len(chosen)) as writers:
        for p, entry in chosen.items():
            target = dst / p
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            if entry["where"] == "git":
                writers.write(target, _inline_bytes(repo, commit, p, entry))
            else:
                remote.append((entry["sha256"], target))
    _fetch_all(repo, remote)
    return str(dst / clean) if clean else str(dst)


class _Writers:
    """Writes verified inline files: in this thread for a few, by a few threads for many
    (creating a file is a wait on the filesystem, not CPU: 1,000 small files written one
    after another spend most of their time waiting). At most ``WINDOW`` files (each at
    most the inline limit) wait in memory; the first failure is raised on exit."""

    THREADS = 4
    WINDOW = 64

    def __init__(self, count: int) -> None:
        self.pool: ThreadPoolExecutor | None = None
        if count > 8:
            self.pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="gittrack-write")
        self.pending: set[Any] = set()

    def write(self, dst: Path, data: bytes) -> None:
        if self.pool is None:
            _write_verified(dst, data)
            return
        from concurrent.futures import FIRST_COMPLETED, wait

        if len(self.pending) >= self.WINDOW:
            done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()
        self.pending.add(self.pool.submit(_write_verified, dst, data))

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is None:
            return
        self.pool.shutdown(wait=True)
        for f in self.pending:
            if exc[0] is None:
                f.result()


def _destination(dst_path: str | os.PathLike[str] | None) -> Path:
    """The folder a download goes to (made; a new temporary one when None).

    Raises:
        InvalidArtifactPath: it cannot be made a folder.
    """
    dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="gittrack-"))
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArtifactPath(f"Cannot download into {dst}: {exc.strerror or exc}") from exc
    return dst


def _fetch_all(repo: Repo, remote: list[tuple[str, Path]]) -> None:
    """Fetch stored objects ``(sha256, target)`` through the cache, verified, in parallel."""
    if not remote:
        return
    storage = storage_for(repo)
    workers = max(1, min(storage.config.parallel, len(remote)))
    if workers == 1:
        for sha, target in remote:
            storage.fetch(sha, target, target.name)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="gittrack-download") as pool:
        futures = [pool.submit(storage.fetch, sha, t, t.name) for sha, t in remote]
        for f in futures:
            f.result()


def download_logged_model(
    repo: Repo, model_id: str, dst_path: str | os.PathLike[str] | None = None
) -> str:
    """Download every file of logged model ``model_id`` (``models:/m-<id>``) into
    ``dst_path`` (a new temporary folder when None), each verified; returns the folder.

    Raises:
        LoggedModelNotFound: no such model. InvalidArtifactPath, BadArtifactEntry: its
            manifest breaks the rules. CorruptArtifact, ArtifactTransferError.
    """
    from gittrack.core.logged_models import LoggedModelStore

    manifest = LoggedModelStore(repo).get(model_id)["artifacts"]  # checked entries
    dst = _destination(dst_path)
    remote = []
    for p, entry in sorted(manifest.items()):
        target = dst / p
        target.parent.mkdir(parents=True, exist_ok=True)
        remote.append((entry["sha256"], target))
    _fetch_all(repo, remote)
    return str(dst)
