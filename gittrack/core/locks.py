"""Inter-process locks on files under ``.git/gittrack/locks`` (POSIX flock).

A run's writer holds its run lock for the life of the run; the kernel releases
it when the process dies, which is how a reader on the same machine tells a
crashed run from a live one.

A lock file is removed by the process that holds it, when it releases it (unless asked to
keep it): one empty file per run ever written would pile up in ``locks/`` (100,000 at
100,000 runs). Removing is safe for mutual exclusion because every holder checks, once it
has the lock, that the file it locked is still the one at the path (same device and
inode); if the path was removed or replaced meanwhile, it opens the path again and waits
on that. Only a holder removes a path, and while it holds it the path names the file it
locked, so two processes never both hold "the" lock. What stays: the files of processes
that died holding their lock, and of runs left RUNNING (see ``release(keep=True)``),
which is what tells a reader the run's writer is gone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.layout import EXPERIMENTS_LOCK, lock_path, model_lock_path, registry_lock_path

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FileLock:
    """An exclusive lock on ``path``; ``acquire(block=False)`` returns False when held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, block: bool = True) -> bool:
        if self._fd is not None:
            return True
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # no locks folder yet
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            if fcntl is None:
                self._fd = fd
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            if _still_at(fd, self.path):
                self._fd = fd
                return True
            os.close(fd)  # its holder removed it while we waited: lock the path anew

    def release(self, *, keep: bool = False) -> None:
        """Release the lock and remove its file (while still holding it; see the module
        docstring), or, with ``keep``, leave the file for readers to probe."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if fcntl is not None:
            if not keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _still_at(fd: int, path: Path) -> bool:
    """Whether the file open as ``fd`` is still the one at ``path``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def is_held_elsewhere(path: Path) -> bool | None:
    """True if another process holds the lock at ``path``; None if there is no lock file
    (never written, or removed by its last holder)."""
    if fcntl is None:
        return True if path.exists() else None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


def run_lock(repo: Repo, run_id: str) -> FileLock:
    """The lock a run's writer holds for the life of the run (not acquired here)."""
    return FileLock(lock_path(repo.state_dir, run_id))


def experiments_lock(repo: Repo) -> FileLock:
    """The lock that serialises writes of ``refs/gittrack/experiments`` (not acquired here)."""
    return FileLock(lock_path(repo.state_dir, EXPERIMENTS_LOCK))


def model_lock(repo: Repo, model_id: str) -> FileLock:
    """The lock that serialises writers of one logged model's ref (not acquired here)."""
    return FileLock(model_lock_path(repo.state_dir, model_id))


def registry_lock(repo: Repo, name: str) -> FileLock:
    """The lock that serialises writers of one registered model's ref (not acquired here)."""
    return FileLock(registry_lock_path(repo.state_dir, name))
