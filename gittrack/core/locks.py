"""Inter-process locks on files under ``.git/gittrack/locks`` (POSIX flock).

A run's writer holds its run lock for the life of the run; the kernel releases
it when the process dies, which is how a reader on the same machine tells a
crashed run from a live one.
"""

from __future__ import annotations

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            self._fd = fd
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if fcntl is not None:
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


def is_held_elsewhere(path: Path) -> bool | None:
    """True if another process holds the lock at ``path``; None if there is no lock file."""
    if not path.exists():
        return None
    if fcntl is None:
        return True
    fd = os.open(path, os.O_RDWR)
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
