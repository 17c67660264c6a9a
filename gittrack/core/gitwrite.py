"""Git writes that survive concurrent git maintenance, as git's own writers do.

``git gc``, ``git prune`` and ``git pack-refs`` running beside a writer remove empty
fan-out folders (``objects/78/``, ``refs/gittrack/runs/``) and hold ``*.lock`` files
for a moment. libgit2 creates the folder, then renames its temporary file into it: if
the folder vanished in between, the write fails with ``failed to rename lockfile to
'.git/objects/78/…': No such file or directory``; a ref whose lock git holds fails with
``failed to lock file``. git's own object writer recreates the folder and tries again
(``create_tmpfile``/``finalize_object_file``); :func:`retry_write` does the same for
any object or ref write: writes are idempotent (objects are named by their content, a
ref update sets a value), so trying again is always safe. :func:`write_ref` moves a ref the way git's files
backend does (``<ref>.lock`` created exclusively, then renamed over the ref).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gittrack.core.retry import Backoff, call_with_retry

if TYPE_CHECKING:
    import subprocess

    from gittrack.core.repo import Repo

T = TypeVar("T")

ATTEMPTS = 40
_MARKERS = (
    "no such file or directory",
    "failed to rename",
    "failed to lock",
    "failed to create locked file",
    "failed to make directory",
    "failed to write reference",
    "the given reference has been modified",
    "could not open",
    "file exists",
)


def is_race(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the transient errors concurrent maintenance causes."""
    text = str(exc).lower()
    return any(m in text for m in _MARKERS)


def _retryable(exc: BaseException) -> bool:
    """An OSError or pygit2.GitError (not imported here: lazy) that is a maintenance race."""
    git_error = isinstance(exc, OSError) or type(exc).__name__ == "GitError"
    return git_error and is_race(exc)


def retry_write(fn: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """``fn()``, tried again (up to ``attempts`` times over ~2 s, through the one retry
    loop :func:`gittrack.core.retry.call_with_retry`) while it fails with a maintenance
    race; returns its result. Git writes are idempotent (objects are named by their
    content, a ref update sets a value), so trying again is always safe.

    Raises:
        OSError / pygit2.GitError: the last error, when it is not a race or the
            attempts are used up.
    """
    backoff = Backoff(retries=attempts - 1, first=0.001, factor=2.0, cap=0.1, jitter=0.5)
    return call_with_retry(fn, idempotent=True, retryable=_retryable, backoff=backoff)


def write_ref(common_dir: Path, ref: str, target: str) -> None:
    """Point ``ref`` (e.g. ``refs/gittrack/runs/<id>``) at ``target`` (40 hex) in the
    repository whose common git dir is ``common_dir``, as ``git update-ref`` does without
    an old-value check: take ``<ref>.lock`` (exclusive create), write, rename over the
    ref. A lock held by ``git pack-refs``/``gc`` or a folder removed under us is
    retried by :func:`retry_write`.

    Raises:
        OSError: the ref could not be written (a lock held for over ~2 s, a read-only
            repository, a full disk).
    """
    path = common_dir / ref
    lock = path.with_name(path.name + ".lock")
    data = (target + "\n").encode("ascii")

    def attempt() -> None:
        # EEXIST: git (pack-refs, another updater) holds the lock — never remove theirs
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:  # the folder is new, or `git pack-refs` removed it
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(lock, path)
        except BaseException:
            lock.unlink(missing_ok=True)  # ours: we created it above
            raise

    retry_write(attempt)


# the consolidation ($1: the git common dir): roll small packs into bigger ones (whole packs,
# kept ones skipped: safe beside live writers), then pack the refs, as `git gc` would
_CONSOLIDATE = (
    'git --git-dir="$1" repack -d -q --geometric=2; exec git --git-dir="$1" pack-refs --all'
)


def auto_gc(repo: Repo) -> bool:
    """Whether gittrack tidies ``repo`` with git's maintenance itself (:func:`consolidate`,
    ``git gc --auto`` at exit): ``git config gittrack.auto-gc false`` turns it off."""
    value = str(repo.config("gittrack.auto-gc", "true")).lower()
    return value not in ("false", "0", "no", "off")


def consolidate(common_dir: Path | str, *, wait: bool = False) -> subprocess.Popen[bytes] | None:
    """Start ``git repack -d --geometric=2`` then ``git pack-refs --all`` in the repository
    whose common git dir is ``common_dir``, in a session of its own; with ``wait``, wait
    for both to end. Returns the process (None: no ``git``/``sh`` to run it).

    Packing refs matters as much as packing objects: one loose ref file per run is 4 KiB
    on disk, most of ``.git`` at 10,000 runs, and ``git gc --auto`` never comes to it
    while the packs stay few. Both commands take git's own locks; a ref move of ours that
    meets one retries (:func:`write_ref`).
    """
    import subprocess

    try:
        proc = subprocess.Popen(
            ["sh", "-c", _CONSOLIDATE, "gittrack-consolidate", str(common_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    if wait:
        proc.wait()
    return proc
