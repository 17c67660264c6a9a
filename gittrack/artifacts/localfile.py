"""Local files being stored: opening one with errors that name it, and the stat key
that tells whether it changed while it was read (size, mtime, inode)."""

from __future__ import annotations

import os
from typing import Any

from gittrack.artifacts.errors import InvalidArtifactPath


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """Return what changes when a file is rewritten: (size, mtime in ns, inode)."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def open_source(path: str | os.PathLike[str]) -> tuple[Any, os.stat_result]:
    """Open a local file for reading, with errors that name it.

    Raises:
        InvalidArtifactPath: missing, a directory, or unreadable.
    """
    p = os.fspath(path)
    try:
        f = open(p, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError as exc:
        raise InvalidArtifactPath(f"{p} does not exist") from exc
    except IsADirectoryError as exc:
        raise InvalidArtifactPath(f"{p} is a directory; use log_artifacts for folders") from exc
    except PermissionError as exc:
        raise InvalidArtifactPath(f"{p} cannot be read: permission denied") from exc
    except OSError as exc:
        raise InvalidArtifactPath(f"{p} cannot be read: {exc.strerror or exc}") from exc
    st = os.fstat(f.fileno())
    if not _is_regular(st):
        f.close()
        raise InvalidArtifactPath(f"{p} is not a regular file")
    return f, st


def _is_regular(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISREG(st.st_mode)
