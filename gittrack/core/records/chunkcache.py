"""A local cache of decoded metric history chunks, so reading a long history does
not parse its TSV again.

A full TSV chunk (``records.CHUNK_POINTS`` points) never changes once written:
its blob id names its content. This cache keeps, per blob id, the chunk's
steps, values and timestamps as machine arrays under
``.git/gittrack/cache/chunks/<id[:2]>/<id[2:]>`` (derived local state like the
locks: safe to delete, never pushed). The writer fills it as it writes full
chunks; a reader fills it on a miss. Reading a cached chunk costs a file read
and three ``array.tolist()`` calls instead of 30,000 number parses.

File layout: ``GTC1``, then little-endian ``<QI`` (point count, CRC-32 of the
body), then the body: steps (int64), values (float64), timestamps (int64), each
in native byte order (the file never leaves this machine). A file that does not
check out (wrong magic, size or CRC) is ignored and rewritten on the next miss.
Every cache error is swallowed: the TSV in git is the record, this only speeds
reading it.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.layout import chunk_cache_path

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

MAGIC = b"GTC1"
_HEADER = struct.Struct("<QI")
MIN_POINTS = 1000  # smaller chunks parse fast enough; don't litter the cache with them


def chunk_path(repo: Repo, oid: str) -> Path:
    """Where the cache file of blob ``oid`` lives."""
    return chunk_cache_path(repo.state_dir, oid)


def load(repo: Repo, oid: str) -> tuple[list[int], list[float], list[int]] | None:
    """(steps, values, timestamps) of blob ``oid`` from the cache, or None on a miss
    (absent, unreadable or damaged file)."""
    found = load_arrays(repo, oid)
    if found is None:
        return None
    steps, values, stamps = found
    return steps.tolist(), values.tolist(), stamps.tolist()


def load_arrays(repo: Repo, oid: str) -> tuple[array, array, array] | None:
    """As :func:`load`, as ``array`` objects (int64, float64, int64)."""
    try:
        data = chunk_path(repo, oid).read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + _HEADER.size
    if len(data) < head or data[: len(MAGIC)] != MAGIC:
        return None
    n, crc = _HEADER.unpack_from(data, len(MAGIC))
    body = memoryview(data)[head:]
    if len(body) != 24 * n or zlib.crc32(body) != crc:
        return None
    steps, values, stamps = array("q"), array("d"), array("q")
    steps.frombytes(body[: 8 * n])
    values.frombytes(body[8 * n : 16 * n])
    stamps.frombytes(body[16 * n :])
    return steps, values, stamps


def store(
    repo: Repo, oid: str, steps: Sequence[int], values: Sequence[float], stamps: Sequence[int]
) -> bool:
    """Cache the decoded points of blob ``oid``; returns whether a file was written.

    Chunks under ``MIN_POINTS`` points, steps or timestamps outside int64, and any
    filesystem error are skipped silently.
    """
    n = len(steps)
    if n < MIN_POINTS or len(values) != n or len(stamps) != n:
        return False
    try:
        body = array("q", steps).tobytes() + array("d", values).tobytes()
        body += array("q", stamps).tobytes()
    except (OverflowError, TypeError):
        return False
    tmp = None
    try:
        path = chunk_path(repo, oid)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(MAGIC + _HEADER.pack(n, zlib.crc32(body)) + body)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
        return False
    return True
