"""Runs being written by this process: the registry of open writers and its checkpoint thread.

Readers ask it whether a run is live here (a live run is RUNNING whatever its lock or
heartbeat say, and may have no commit yet); :mod:`gittrack.core.writer` adds and removes
its writers. It sits below both, so reading never imports the writer.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gittrack.core.repo import Repo
    from gittrack.core.writer import RunWriter

DEFAULT_HEARTBEAT_SECONDS = 60.0  # an idle live run commits a heartbeat this often


class _Registry:
    """Open writers of this process, and the thread that checkpoints them."""

    def __init__(self) -> None:
        self._writers: dict[tuple[str, str], RunWriter] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = os.getpid()

    def add(self, w: RunWriter) -> None:
        with self._lock:
            self._writers[(str(w.repo.common_dir), w.run_id)] = w
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="gittrack-checkpoints", daemon=True
                )
                self._thread.start()

    def remove(self, w: RunWriter) -> None:
        with self._lock:
            self._writers.pop((str(w.repo.common_dir), w.run_id), None)

    def get(self, repo: Repo, run_id: str) -> RunWriter | None:
        return self._writers.get((str(repo.common_dir), run_id))

    def all(self) -> list[RunWriter]:
        with self._lock:
            return list(self._writers.values())

    def _loop(self) -> None:
        while True:
            self._wake.wait(0.5)
            now = time.time()
            for w in self.all():
                try:
                    if w.closed or w._pid != os.getpid():
                        continue
                    if now - w._last_checkpoint >= w.interval and w.has_pending:
                        w.checkpoint()
                    elif now - w._last_checkpoint >= w.heartbeat_interval:
                        w.checkpoint(heartbeat=True)
                except Exception as exc:  # keep checkpointing the other runs
                    print(f"gittrack: checkpoint of run {w.run_id} failed: {exc}", file=sys.stderr)


registry = _Registry()


def open_writers() -> list[RunWriter]:
    """Return the writers open in this process (all repositories)."""
    return registry.all()


def get_open_writer(repo: Repo, run_id: str) -> RunWriter | None:
    """Return this process's open writer of ``run_id`` in ``repo``, or ``None``."""
    return registry.get(repo, run_id)
