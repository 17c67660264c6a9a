"""Logging artifacts into a run: small files inline in git, large ones to the store.

Every function here works on a run writer (``gittrack.core.writer.RunWriter``) and
follows *upload first, commit second*: bytes are stored (and their sha256
known) before the manifest entry is written, then the writer checkpoints. A
failed upload leaves the run exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.artifacts.cas import sha256_bytes
from gittrack.artifacts.localfile import open_source
from gittrack.artifacts.manifest import check_no_collision, make_entry
from gittrack.artifacts.paths import clean_artifact_path, join_artifact_path, parent_dirs
from gittrack.artifacts.storage import storage_for
from gittrack.errors import ArtifactChanged, InvalidArtifactPath
from gittrack.layout import artifact_blob_relpath

if TYPE_CHECKING:
    from gittrack.core.repo import Repo


def _is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def collect_dir(local_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every file under ``local_dir`` as ``(path to read, relative artifact path)``.

    Symlinks that stay inside the folder are followed (logged as their target's
    contents); a symlink leading outside it, a broken one, a cycle, or a
    socket/FIFO/device is refused before anything is stored.

    Raises:
        InvalidArtifactPath: ``local_dir`` is missing or not a folder, or one of the above.
    """
    top = os.fspath(local_dir)
    if not os.path.exists(top):
        raise InvalidArtifactPath(f"{top} does not exist")
    if not os.path.isdir(top):
        raise InvalidArtifactPath(f"{top} is not a directory; use log_artifact for one file")
    root_real = os.path.realpath(top)
    found: list[tuple[str, str]] = []

    def walk(dirpath: str, rel: str, seen: frozenset[str]) -> None:
        try:
            entries = sorted(os.scandir(dirpath), key=lambda e: e.name)
        except PermissionError as exc:
            raise InvalidArtifactPath(f"{dirpath} cannot be listed: permission denied") from exc
        for entry in entries:
            relname = join_artifact_path(rel, entry.name)
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _is_inside(target, root_real):
                    raise InvalidArtifactPath(
                        f"{entry.path} is a symlink to {target}, outside {top}; refusing to "
                        "follow it out of the folder being logged (log the target itself)"
                    )
                if os.path.isdir(target):
                    if target in seen:
                        raise InvalidArtifactPath(f"{entry.path} is a symlink loop")
                    walk(target, relname, seen | {target})
                elif os.path.isfile(target):
                    found.append((target, relname))
                else:
                    raise InvalidArtifactPath(f"{entry.path} is a broken symlink")
            elif entry.is_dir(follow_symlinks=False):
                walk(entry.path, relname, seen | {os.path.realpath(entry.path)})
            elif entry.is_file(follow_symlinks=False):
                found.append((entry.path, relname))
            else:
                raise InvalidArtifactPath(
                    f"{entry.path} is not a regular file (socket, FIFO or device)"
                )

    walk(top, "", frozenset({root_real}))
    return found


def _read_small(path: str) -> bytes:
    f, st0 = open_source(path)
    with f:
        try:
            data = f.read()
        except OSError as exc:
            raise InvalidArtifactPath(f"{path} cannot be read: {exc.strerror or exc}") from exc
        st1 = os.fstat(f.fileno())
    if len(data) != st1.st_size or (st0.st_size, st0.st_mtime_ns) != (
        st1.st_size,
        st1.st_mtime_ns,
    ):
        raise ArtifactChanged(path)
    return data


INLINE_FLUSH_BYTES = 64 << 20  # inline files held for the next checkpoint, at most


def _apply(
    writer: Any, entries: dict[str, tuple[dict[str, Any], bytes | None]], commit: bool
) -> None:
    """Write manifest entries (and the bytes of inline files) into the writer.

    Inline files go into the writer's next checkpoint pack with the records (never as
    loose objects: a loose write races ``git repack``'s prune-packed removing its folder).

    With ``commit`` (anything went to the store) the writer checkpoints now, so the
    run points at the uploaded objects at once. Inline-only changes are committed
    with the writer's next checkpoint (as metrics are; readers in this process
    flush the writer first), which keeps a small ``log_text`` at tens of µs.
    """
    with writer._mutex:
        manifest = writer.artifacts
        for path, (entry, data) in entries.items():
            old = manifest.get(path)
            if entry["where"] == "git":
                writer.put_record_file(artifact_blob_relpath(path), data)
            elif old is not None and old.get("where") == "git":
                writer.put_record_file(artifact_blob_relpath(path), None)
            manifest[path] = entry
        writer.mark_dirty("artifacts")
        if commit:
            writer.checkpoint()


def _check_batch(manifest: dict[str, Any], paths: Iterable[str]) -> None:
    """Refuse file/folder collisions among the manifest and the new paths (linear time)."""
    paths = list(paths)
    if len(paths) == 1:
        check_no_collision(manifest, paths[0])
        return
    files = set(manifest)
    dirs = {d for p in files for d in parent_dirs(p)}
    for p in paths:
        if p in dirs:
            check_no_collision({**{f: True for f in files if f.startswith(p + "/")}}, p)
        for parent in parent_dirs(p):
            if parent in files:
                check_no_collision({parent: True}, p)
        files.add(p)
        dirs.update(parent_dirs(p))


def log_files(writer: Any, repo: Repo, items: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Log local files under the given artifact paths; returns the new manifest entries.

    Files at or under the inline limit become git blobs in the run tree; larger
    ones are uploaded to the store, several at a time. Nothing is recorded
    unless every file was stored.

    Raises:
        InvalidArtifactPath: a bad path, a missing/unreadable file, a collision.
        ArtifactChanged: a file changed while it was read.
        ArtifactStoreError, ArtifactTransferError: the store failed.
    """
    _check_batch(writer.artifacts, [p for _, p in items])
    storage = storage_for(repo)
    limit = storage.config.inline_limit
    small: list[tuple[str, str]] = []
    large: list[tuple[str, str]] = []
    for local, path in items:
        try:
            size = os.stat(local).st_size
        except FileNotFoundError as exc:
            raise InvalidArtifactPath(f"{local} does not exist") from exc
        except OSError as exc:
            raise InvalidArtifactPath(f"{local} cannot be read: {exc.strerror or exc}") from exc
        if os.path.isdir(local):
            raise InvalidArtifactPath(f"{local} is a directory; use log_artifacts for folders")
        (small if size <= limit else large).append((local, path))

    done: dict[str, tuple[dict[str, Any], bytes | None]] = {}
    if large:
        store = storage.store
        workers = max(1, min(storage.config.parallel, len(large)))
        if workers == 1:
            results = [store.put_file(local, desc=path) for local, path in large]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="gittrack-upload") as pool:
                futures = [pool.submit(store.put_file, local, path) for local, path in large]
                results = [f.result() for f in futures]
        for (_, path), res in zip(large, results, strict=True):
            done[path] = (make_entry(res.sha256, res.size, "store"), None)
    inline = 0
    for local, path in small:
        data = _read_small(local)
        inline += len(data)
        done[path] = (make_entry(sha256_bytes(data), len(data), "git"), data)
    ordered = {path: done[path] for _, path in items}
    _apply(writer, ordered, commit=bool(large) or inline > INLINE_FLUSH_BYTES)
    return {p: e for p, (e, _) in ordered.items()}


def log_artifact(
    writer: Any, repo: Repo, local_path: str | os.PathLike[str], artifact_path: str | None = None
) -> str:
    """Log one local file as ``<artifact_path>/<its name>``; returns that artifact path.

    Raises:
        InvalidArtifactPath: missing file, a directory, bad ``artifact_path``.
        (and the errors of :func:`log_files`)
    """
    local = os.fspath(local_path)
    folder = clean_artifact_path(artifact_path)
    if os.path.isdir(local):
        raise InvalidArtifactPath(f"{local} is a directory; use log_artifacts for folders")
    if not os.path.lexists(local):
        raise InvalidArtifactPath(f"{local} does not exist")
    name = clean_artifact_path(Path(local).name, "file name")
    path = join_artifact_path(folder, name)
    log_files(writer, repo, [(local, path)])
    return path


def log_artifacts(
    writer: Any, repo: Repo, local_dir: str | os.PathLike[str], artifact_path: str | None = None
) -> list[str]:
    """Log every file under ``local_dir`` below ``artifact_path``; returns their paths.

    Raises:
        InvalidArtifactPath: see :func:`collect_dir` and :func:`log_files`.
    """
    folder = clean_artifact_path(artifact_path)
    items = [
        (local, join_artifact_path(folder, clean_artifact_path(rel, "file name")))
        for local, rel in collect_dir(local_dir)
    ]
    if items:
        log_files(writer, repo, items)
    return [p for _, p in items]


def log_bytes(writer: Any, repo: Repo, data: bytes, artifact_file: str) -> str:
    """Log in-memory bytes as the file ``artifact_file``; returns its clean path.

    Raises:
        InvalidArtifactPath: a bad or colliding ``artifact_file``.
        ArtifactStoreError, ArtifactTransferError: the store failed (large payloads).
    """
    path = clean_artifact_path(artifact_file, "artifact_file")
    if not path:
        raise InvalidArtifactPath("artifact_file must name a file, got an empty path")
    check_no_collision(writer.artifacts, path)
    storage = storage_for(repo)
    sha = sha256_bytes(data)
    if len(data) <= storage.config.inline_limit:
        _apply(writer, {path: (make_entry(sha, len(data), "git"), bytes(data))}, commit=False)
    else:
        res = storage.store.put_bytes(data)
        _apply(writer, {path: (make_entry(res.sha256, res.size, "store"), None)}, commit=True)
    return path
