"""Runs being written by this process: the table of open writers, read by the reader.

Readers ask it whether a run is live here (a live run is RUNNING whatever its lock or
heartbeat say, and may have no commit yet). :mod:`gittrack.core.writer` fills the table
(its registry adds and removes writers and runs the checkpoint thread); the table sits
below both, so reading never imports the writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gittrack.core.repo import Repo
    from gittrack.core.writer import RunWriter

DEFAULT_HEARTBEAT_SECONDS = 60.0  # an idle live run commits a heartbeat this often

# (common dir, run id) -> the open writer; changed only by the writer's registry
OPEN: dict[tuple[str, str], RunWriter] = {}


def open_writers() -> list[RunWriter]:
    """Return the writers open in this process (all repositories)."""
    return list(OPEN.values())


def get_open_writer(repo: Repo, run_id: str) -> RunWriter | None:
    """Return this process's open writer of ``run_id`` in ``repo``, or ``None``."""
    return OPEN.get((str(repo.common_dir), run_id))
