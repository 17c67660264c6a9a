"""The server's write-ahead journal: acknowledged writes that are not yet in a commit.

``gittrack server`` (one worker) acknowledges a logging request once the request is
applied to the run's writer *and* appended to the run's journal and ``fdatasync``-ed;
the checkpoint commit follows on an interval. A crash (SIGKILL, OOM, power cut) after
the acknowledgement loses nothing: at the next start the journal is replayed into the
run.

Layout: ``.git/gittrack/journal/<run_id>-<gen>-<first seq>.journal``
(:func:`gittrack.layout.journal_dir`), a *segment* per checkpoint interval. ``gen`` is
random per server process and run; ``seq`` numbers the entries of a generation from 1.
An entry on disk is ``<payload length u32><crc32 u32><seq u64><payload>`` (little
endian; the CRC covers seq and payload); a torn or corrupt tail — a write the crash cut
off, never acknowledged — ends the segment.

Which entries a commit holds: the writer stamps every checkpoint with the trailer
``Gittrack-Journal: <gen>:<seq>`` of the last entry applied before it
(:meth:`gittrack.core.writer.RunWriter.journaled` applies an entry and moves the mark
atomically with respect to checkpoints), so the ref itself says how far the journal is
committed — there is no second file to keep in step. Replay skips the entries at or
below the newest mark of the same generation on the run's first-parent history and
applies the rest (:func:`committed_seq`). Segments wholly committed are deleted only after the file system is
synced (``syncfs``), so a power cut cannot leave a commit lost and its journal gone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.core.pack import fsync_dir
from gittrack.layout import JOURNAL_SUFFIX, JOURNAL_TRAILER, journal_dir, journal_segment_path

if TYPE_CHECKING:
    import pygit2

_HEAD = struct.Struct("<IIQ")  # payload length, crc32(seq + payload), seq
MAX_PAYLOAD = 256 << 20  # a length above this is a corrupt header, not an entry
HISTORY_LIMIT = 100_000  # commits walked back looking for the last journal mark


@dataclass(frozen=True)
class Entry:
    """One journaled write: its generation, sequence number and payload."""

    gen: str
    seq: int
    payload: bytes


def mark(gen: str, seq: int) -> str:
    """The trailer value naming entry ``seq`` of generation ``gen``."""
    return f"{gen}:{seq}"


def trailer(value: str) -> str:
    """The commit-message trailer line for a journal mark."""
    return f"{JOURNAL_TRAILER}: {value}"


def parse_mark(message: str) -> tuple[str, int] | None:
    """The journal mark a commit message carries, or None."""
    prefix = f"{JOURNAL_TRAILER}: "
    for line in reversed(message.splitlines()):
        if line.startswith(prefix):
            gen, _, seq = line[len(prefix) :].strip().partition(":")
            if gen and seq.isdigit():
                return gen, int(seq)
    return None


def committed_seq(git: pygit2.Repository, tip: str | None, gen: str) -> int:
    """How far generation ``gen`` of a journal is committed: the sequence number in the
    newest ``gen`` mark on the first-parent history of commit ``tip`` (0 when none is).
    Marks of other generations are passed over: commits by an earlier or later server
    process say nothing about this generation's entries."""
    import pygit2

    oid: str | pygit2.Oid | None = tip
    for _ in range(HISTORY_LIMIT):
        commit = git.get(oid) if oid is not None else None
        if not isinstance(commit, pygit2.Commit):
            return 0
        found = parse_mark(commit.message)
        if found is not None and found[0] == gen:
            return found[1]
        parents = commit.parent_ids
        oid = parents[0] if parents else None
    return 0


def _parse_name(path: Path) -> tuple[str, str, int] | None:
    name = path.name
    if not name.endswith(JOURNAL_SUFFIX):
        return None
    parts = name[: -len(JOURNAL_SUFFIX)].split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def segments(state: Path) -> dict[str, list[Path]]:
    """Journal segments on disk, per run id, oldest generation's first entry first."""
    folder = journal_dir(state)
    found: dict[str, list[tuple[float, int, Path]]] = {}
    try:
        names = list(folder.iterdir())
    except FileNotFoundError:
        return {}
    for path in names:
        parsed = _parse_name(path)
        if parsed is None:
            continue
        try:
            born = path.stat().st_mtime
        except FileNotFoundError:
            continue
        run_id, _gen, first = parsed
        found.setdefault(run_id, []).append((born, first, path))
    return {run: [p for _b, _f, p in sorted(items)] for run, items in found.items()}


def read_entries(paths: list[Path]) -> Iterator[Entry]:
    """The entries of ``paths`` in order; each segment ends at a torn or corrupt entry."""
    for path in paths:
        parsed = _parse_name(path)
        if parsed is None:
            continue
        gen = parsed[1]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # replayed and removed by another worker meanwhile
        pos = 0
        while pos + _HEAD.size <= len(data):
            length, crc, seq = _HEAD.unpack_from(data, pos)
            start = pos + _HEAD.size
            end = start + length
            if length > MAX_PAYLOAD or end > len(data):
                break
            body = data[start:end]
            if zlib.crc32(body, zlib.crc32(data[pos + 8 : start])) != crc:
                break
            yield Entry(gen, seq, body)
            pos = end


class RunJournal:
    """The appending side of one run's journal in this process (one generation).

    Not thread-safe: the server calls it from its one repository thread."""

    def __init__(self, state: Path, run_id: str) -> None:
        self.state = Path(state)
        self.run_id = run_id
        self.gen = secrets.token_hex(6)
        self.seq = 0  # the last sequence number handed out
        self._fd: int | None = None
        self._path: Path | None = None
        self._unsynced = False
        self._new_file = False
        self.closed: list[tuple[Path, int]] = []  # closed segments and their last seq
        self.rotated_at = 0  # the writer's checkpoint count when the last segment closed

    def next_mark(self) -> tuple[int, str]:
        """The next sequence number and its trailer value (not consumed until append)."""
        return self.seq + 1, mark(self.gen, self.seq + 1)

    def append(self, seq: int, payload: bytes) -> None:
        """Write entry ``seq`` (not yet durable: call :meth:`sync` before acknowledging).

        Raises:
            OSError: the entry could not be written.
        """
        if seq != self.seq + 1:
            raise ValueError(f"journal entry {seq} out of order (last {self.seq})")
        if self._fd is None:
            self._path = journal_segment_path(self.state, self.run_id, self.gen, seq)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._new_file = True
        seq_bytes = struct.pack("<Q", seq)
        crc = zlib.crc32(payload, zlib.crc32(seq_bytes))
        data = struct.pack("<II", len(payload), crc) + seq_bytes + payload
        written = os.write(self._fd, data)
        if written != len(data):  # a short write (disk full): the entry must not count
            raise OSError(f"short write to journal {self._path}")
        self.seq = seq
        self._unsynced = True

    def sync(self) -> None:
        """Make every appended entry durable (``fdatasync``; the folder too, once)."""
        if self._fd is None or not self._unsynced:
            return
        os.fdatasync(self._fd)
        if self._new_file:
            fsync_dir(journal_dir(self.state))
            self._new_file = False
        self._unsynced = False

    def rotate(self) -> None:
        """Close the current segment; the next append starts a new one. Closed segments
        wait in :attr:`closed` until a commit holds their last entry (:meth:`committed`)."""
        path, fd = self._path, self._fd
        self._path, self._fd = None, None
        self._new_file = False
        if fd is not None:
            if self._unsynced:
                os.fdatasync(fd)
                self._unsynced = False
            os.close(fd)
        if path is not None:
            self.closed.append((path, self.seq))

    def committed(self, commit_mark: str | None) -> list[Path]:
        """The closed segments wholly held by the commit whose mark is ``commit_mark``
        (taken off :attr:`closed`; pass them to :func:`discard`)."""
        found = parse_mark(f"{JOURNAL_TRAILER}: {commit_mark}") if commit_mark else None
        if found is None or found[0] != self.gen:
            return []
        done = [p for p, last in self.closed if last <= found[1]]
        self.closed = [(p, last) for p, last in self.closed if last > found[1]]
        return done


def discard(paths: list[Path]) -> None:
    """Delete committed segments, after syncing the file system so that the commits that
    hold their entries are on disk first (checkpoint packs are written without fsync)."""
    if not paths:
        return
    _syncfs(paths[0].parent)
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _syncfs(folder: Path) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()
