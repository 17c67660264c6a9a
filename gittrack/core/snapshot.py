"""The exact source a run executed: HEAD's tree plus the uncommitted changes.

The snapshot is a git tree: HEAD's tree, with tracked files as they are on disk
and untracked, not-ignored files under a size cap. Files skipped for size are
listed. The result is cached per process while HEAD and the status are
unchanged, so a sweep of many short runs pays for it once.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from gittrack.core.gitwrite import retry_write

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

DEFAULT_MAX_UNTRACKED_BYTES = 1024 * 1024
_CRED_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


@dataclass(frozen=True)
class SourceInfo:
    """Where a run's code came from."""

    commit: str | None  # HEAD commit id, None when the repository has no commits
    branch: str | None  # None when HEAD is detached
    remote_url: str | None
    dirty: bool
    tree: str | None  # the snapshot tree id (None: no source recorded, e.g. bare repo)
    skipped_files: tuple[str, ...] = field(default_factory=tuple)

    def to_record(self) -> dict:
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote_url": self.remote_url,
            "dirty": self.dirty,
            "skipped_files": list(self.skipped_files),
        }


def strip_credentials(url: str | None) -> str | None:
    """``https://user:token@host/x.git`` → ``https://host/x.git``."""
    if not url:
        return url
    return _CRED_RE.sub(r"\1", url)


def remote_url(repo: Repo) -> str | None:
    git = repo.git
    names = [n for n in git.remotes.names() if n is not None]
    if not names:
        return None
    name = "origin" if "origin" in names else names[0]
    try:
        return strip_credentials(git.remotes[name].url)
    except (KeyError, ValueError):
        return None


def head_info(repo: Repo) -> tuple[str | None, str | None]:
    """(HEAD commit id or None, branch name or None)."""
    git = repo.git
    branch = None
    try:
        ref = git.references.get("HEAD")
        target = ref.target if ref is not None else None
        if isinstance(target, str) and target.startswith("refs/heads/"):
            branch = target[len("refs/heads/") :]
    except Exception:
        branch = None
    if git.head_is_unborn:
        return None, branch
    commit = str(git.head.target)
    if git.head_is_detached:
        branch = None
    return commit, branch


_cache: dict[tuple, SourceInfo] = {}
_cache_lock = threading.Lock()


def take_snapshot(repo: Repo, max_untracked_bytes: int | None = None) -> SourceInfo:
    """Snapshot the working tree of ``repo`` as a git tree (written to the object store)."""
    import pygit2
    from pygit2.enums import FileMode

    commit, branch = head_info(repo)
    url = remote_url(repo)
    git = repo.git
    if git.is_bare or repo.workdir is None:
        tree = str(git.head.peel(pygit2.Commit).tree_id) if commit else None
        return SourceInfo(commit, branch, url, False, tree)
    if max_untracked_bytes is None:
        max_untracked_bytes = int(
            repo.config_float("gittrack.snapshot-max-file-bytes", DEFAULT_MAX_UNTRACKED_BYTES)
        )
    workdir = str(repo.workdir)
    status = git.status(untracked_files="all", ignored=False)
    changed = []
    for path, flags in status.items():
        if flags == pygit2.GIT_STATUS_CURRENT or flags & pygit2.GIT_STATUS_IGNORED:
            continue
        full = os.path.join(workdir, path)
        try:
            st = os.lstat(full)
            sig: tuple = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            sig = ()
        changed.append((path, flags, sig))
    changed.sort()
    key = (
        str(repo.common_dir),
        str(repo.gitdir),
        commit,
        branch,
        url,
        tuple(changed),
        max_untracked_bytes,
    )
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit

    index = pygit2.Index()
    if commit:
        index.read_tree(git.head.peel(pygit2.Commit).tree)
    skipped: list[str] = []
    dirty = False
    untracked_flag = pygit2.GIT_STATUS_WT_NEW
    for path, flags, sig in changed:
        full = os.path.join(workdir, path)
        if not sig:
            if path in index:
                index.remove(path)
                dirty = True
            continue
        mode = sig[0]
        if stat.S_ISDIR(mode):
            continue  # a submodule's gitlink: keep what HEAD has
        is_untracked = bool(flags & untracked_flag) and path not in index
        if is_untracked and sig[1] > max_untracked_bytes:
            skipped.append(f"{path} ({sig[1]} bytes)")
            continue
        try:
            if stat.S_ISLNK(mode):
                target = os.readlink(full).encode("utf-8", "surrogateescape")
                oid = retry_write(partial(git.create_blob, target))
                fmode = FileMode.LINK
            elif stat.S_ISREG(mode):
                oid = retry_write(partial(git.create_blob_fromdisk, full))
                fmode = FileMode.BLOB_EXECUTABLE if mode & stat.S_IXUSR else FileMode.BLOB
            else:
                skipped.append(f"{path} (not a regular file)")
                continue
        except (OSError, pygit2.GitError) as exc:
            skipped.append(f"{path} (unreadable: {exc.__class__.__name__})")
            continue
        existing = index[path] if path in index else None
        if existing is not None and existing.id == oid and existing.mode == fmode:
            continue
        index.add(pygit2.IndexEntry(path, oid, fmode))
        dirty = True
    tree = str(retry_write(partial(index.write_tree, git)))
    if commit and tree == str(git.head.peel(pygit2.Commit).tree_id):
        dirty = False
    elif not commit:
        dirty = bool(len(index))
    dirty = dirty or bool(skipped)
    info = SourceInfo(commit, branch, url, dirty, tree, tuple(skipped))
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = info
    return info
