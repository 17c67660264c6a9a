"""Write a set of new git objects as one packfile (+ index) instead of loose objects.

A checkpoint makes ~5–30 new objects (history chunks, records, trees, a commit). As
loose objects each is a file in a fan-out folder, written through a temporary file and
a rename that races ``git gc``/``git prune`` removing the (momentarily empty) folder;
thousands of runs leave hundreds of thousands of files. :class:`PackBuilder` collects
the objects in memory and :meth:`PackBuilder.write` puts them into ``objects/pack`` as
one ``pack-<sha>.pack`` + ``.idx`` (pack version 2, index version 2, no deltas), with a
``.keep`` file written *before* the pack becomes visible:

* ``git gc`` and ``git repack`` never delete or repack a kept pack, and ``git prune``
  only deletes loose objects — so ``git gc --prune=now`` running beside a checkpoint
  cannot remove its objects while they are not yet reachable from a ref;
* once the ref points at the new commit, :func:`release` removes the ``.keep`` (when
  no ``git gc`` that started before the ref moved is still running — ``gc.pid`` says),
  so ``git gc --auto`` counts and consolidates these small packs as usual.

A ``.keep`` left by a process that died between writing a pack and releasing it is
removed by :func:`sweep` once it is an hour old (its objects were either made
reachable or are garbage git may collect).

Example::

    pb = PackBuilder()
    blob = pb.add("blob", b"hello\\n")
    written = pb.write(Path(".git/objects"))   # -> Written(pack=..., keep=...)
    ...  # move a ref to something that reaches ``blob``
    release(written, ref_moved_at=time.time_ns(), common_dir=Path(".git"))
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

TYPES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
KEEP_MARK = b"gittrack checkpoint\n"
STALE_KEEP_SECONDS = 3600.0
_LEVEL = 1  # zlib level: history chunks are text; speed matters more than 10 % of bytes
_PROBE = 512  # bytes of an object tried first: when they do not shrink, the object is stored


def object_id(kind: str, data: bytes) -> bytes:
    """The 20-byte SHA-1 git names ``data`` of type ``kind`` by."""
    h = hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)))
    h.update(data)
    return h.digest()


@dataclass(frozen=True)
class Written:
    """A pack on disk: its ``.pack`` path and its ``.keep`` path (None when not kept)."""

    pack: Path
    keep: Path | None
    count: int
    at: float = 0.0  # when it was written (time.time())
    idx: bytes = b""  # the index, to put back if `git gc` takes it for garbage (see repair)


class PackBuilder:
    """Collects objects; :meth:`write` stores them as one pack. Not thread-safe."""

    def __init__(self) -> None:
        self._objects: dict[bytes, tuple[int, bytes]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._objects)

    @property
    def nbytes(self) -> int:
        """The uncompressed size of the queued objects (what holding them costs in memory)."""
        return self._bytes

    def add(self, kind: str, data: bytes) -> str:
        """Queue one object; returns its id (40 hex). Adding the same object twice keeps one."""
        oid = object_id(kind, data)
        if oid not in self._objects:
            self._objects[oid] = (TYPES[kind], data)
            self._bytes += len(data)
        return oid.hex()

    def get(self, oid: str) -> bytes | None:
        """The content of a queued object (None when it is not queued here)."""
        got = self._objects.get(bytes.fromhex(oid))
        return None if got is None else got[1]

    def write(self, objects_dir: Path, *, keep: bool = True, fsync: bool = False) -> Written | None:
        """Write the queued objects as one pack under ``objects_dir/pack``; returns where,
        or None when nothing was queued. The builder is empty afterwards (and unchanged
        when this raises, so the write can be tried again). With ``fsync``, the pack,
        its index and the folder are on disk before this returns (a bulk writer moves
        many refs to one pack: a power cut must not leave them naming lost objects).

        Raises:
            OSError: the pack could not be written (nothing is left behind but
                temporary files named ``tmp_gittrack_*``, removed on the way out).
        """
        if not self._objects:
            return None
        names = sorted(self._objects)
        body = bytearray(b"PACK" + struct.pack(">II", 2, len(names)))
        offsets: list[int] = []
        crcs: list[int] = []
        for oid in names:
            kind, data = self._objects[oid]
            start = len(body)
            entry = _entry_header(kind, len(data)) + deflate(data)
            body += entry
            offsets.append(start)
            crcs.append(zlib.crc32(entry))
        if len(body) >= 1 << 31:
            raise OSError("checkpoint pack over 2 GiB: not supported by this writer")
        pack_sum = hashlib.sha1(body).digest()
        body += pack_sum
        idx = _index(names, crcs, offsets, pack_sum)
        pack_dir = objects_dir / "pack"
        if not os.path.isdir(pack_dir):  # a stat, not a mkdir per checkpoint
            pack_dir.mkdir(parents=True, exist_ok=True)
        base = pack_dir / f"pack-{pack_sum.hex()}"
        keep_path = base.with_suffix(".keep") if keep else None
        # temporary names git does not take for packs (it reads every ``*.idx`` here)
        tmp_pack = pack_dir / f"tmp_gittrack_pack_{os.getpid()}_{pack_sum.hex()[:12]}"
        tmp_idx = pack_dir / f"tmp_gittrack_idx_{os.getpid()}_{pack_sum.hex()[:12]}"
        try:
            if keep_path is not None:
                keep_path.write_bytes(KEEP_MARK)
            _write_file(tmp_pack, body, fsync)
            _write_file(tmp_idx, idx, fsync)
            os.replace(tmp_pack, base.with_suffix(".pack"))
            os.replace(tmp_idx, base.with_suffix(".idx"))  # the pack is visible from here on
            if fsync:
                fsync_dir(pack_dir)
        except BaseException:
            for p in (tmp_pack, tmp_idx):
                p.unlink(missing_ok=True)
            raise
        self._objects = {}
        self._bytes = 0
        return Written(base.with_suffix(".pack"), keep_path, len(names), time.time(), idx)


def deflate(data: bytes) -> bytes:
    """``data`` as one zlib stream (what a pack entry or a loose object holds), with
    deflate's window and hash table sized to ``data``: ``zlib.compress`` sets up (and
    clears) a 32 KiB window and a 128 KiB hash table per call, ~5x the cost of
    compressing a record of a few hundred bytes; the output is as small within 0.1 %
    and any zlib reader (git's) inflates it."""
    n = len(data)
    if n > 2 * _PROBE and len(zlib.compress(data[:_PROBE], _LEVEL)) >= _PROBE:
        # random or already-compressed bytes (images, weights, archives): stored (level
        # 0), as deflating them costs most of a small-artifact batch's CPU for nothing
        return zlib.compress(data, 0)
    bits = n.bit_length()
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, min(15, max(9, bits + 1)), min(8, max(1, bits - 7)))
    return c.compress(data) + c.flush()


def _entry_header(kind: int, size: int) -> bytes:
    """A pack entry's type-and-size header: 3 type bits, then the size 4 + 7n bits."""
    first = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first = size & 0x7F
        size >>= 7
    out.append(first)
    return bytes(out)


def _index(names: list[bytes], crcs: list[int], offsets: list[int], pack_sum: bytes) -> bytes:
    """A version-2 pack index for sorted ``names``."""
    fanout = [0] * 256
    for oid in names:
        fanout[oid[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    idx = bytearray(b"\xfftOc" + struct.pack(">I", 2))
    idx += struct.pack(">256I", *fanout)
    idx += b"".join(names)
    idx += struct.pack(f">{len(crcs)}I", *crcs)
    idx += struct.pack(f">{len(offsets)}I", *offsets)
    idx += pack_sum
    idx += hashlib.sha1(idx).digest()
    return bytes(idx)


def _write_file(path: Path, data: bytes | bytearray, fsync: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the names just renamed into ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def gc_running_since(common_dir: Path) -> int | None:
    """When (ns) the ``git gc`` running in this repository started, or None if none is
    (``gc.pid`` exists while one runs; one older than 12 hours is stale, as git says)."""
    try:
        st = (common_dir / "gc.pid").stat()
    except OSError:
        return None
    if time.time() - st.st_mtime > 12 * 3600:
        return None
    return st.st_mtime_ns


def release(written: Written, *, ref_moved_at: int, common_dir: Path) -> bool:
    """Remove the ``.keep`` of ``written`` now that a ref (moved at ``ref_moved_at``,
    ns) reaches its objects, unless a ``git gc`` that started before then still runs
    (its walk may have missed the ref). Returns whether the pack is released."""
    if written.keep is None:
        return True
    started = gc_running_since(common_dir)
    if started is not None and started <= ref_moved_at:
        return False
    written.keep.unlink(missing_ok=True)
    return True


def sweep(objects_dir: Path, *, older_than: float = STALE_KEEP_SECONDS) -> int:
    """Remove gittrack ``.keep`` files older than ``older_than`` seconds (left by a
    process that died mid-checkpoint), and give a ``.pack`` that lost its ``.idx`` to a
    ``git gc`` garbage sweep (see :func:`repair`) its index back with
    ``git index-pack``; returns how many keeps were removed. Errors are ignored."""
    import subprocess

    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(objects_dir / "pack"))
    except OSError:
        return 0
    names = {e.name for e in entries}
    for e in entries:
        if e.name.startswith("pack-") and e.name.endswith(".pack"):
            if e.name[:-5] + ".idx" not in names:
                try:
                    if now - e.stat().st_mtime > 60:  # not a write in flight
                        subprocess.run(
                            ["git", "index-pack", e.path], capture_output=True, timeout=600
                        )
                except (OSError, subprocess.SubprocessError):
                    pass
            continue
        if not e.name.endswith(".keep"):
            continue
        try:
            if now - e.stat().st_mtime < older_than:
                continue
            with open(e.path, "rb") as fh:
                if fh.read(len(KEEP_MARK) + 1) != KEEP_MARK:
                    continue  # somebody else's keep: never ours to remove
            os.unlink(e.path)
            removed += 1
        except OSError:
            continue
    return removed


def repair(written: Written, *, kept: bool) -> bool:
    """Put back the ``.idx`` (and, if ``kept``, the ``.keep``) of ``written`` if they
    vanished while its ``.pack`` is there; returns whether anything was put back.

    ``git gc`` lists ``objects/pack`` while packs are being renamed into it; a listing
    that misses a new ``.pack`` but sees its ``.idx`` (and ``.keep``) takes them for the
    leftovers of a deleted pack and removes them, leaving the pack's objects unreadable.
    git's own pack writers share this race; a writer checks its recent packs and repairs
    them (the ``.pack`` is never removed that way)."""
    idx_path = written.pack.with_suffix(".idx")
    if not written.pack.exists():
        return False
    fixed = False
    if kept and written.keep is not None and not written.keep.exists():
        written.keep.write_bytes(KEEP_MARK)
        fixed = True
    if written.idx and not idx_path.exists():
        tmp = written.pack.parent / f"tmp_gittrack_idx_{os.getpid()}_{written.pack.stem[5:17]}"
        try:
            _write_file(tmp, written.idx)
            os.replace(tmp, idx_path)
        finally:
            tmp.unlink(missing_ok=True)
        fixed = True
    return fixed
