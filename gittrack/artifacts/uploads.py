"""Uploads in parts that become visible only once their bytes hashed right.

:func:`upload_in_parts` sends a file's parts from worker threads, up to ``parallel``
times the backend's ``in_flight`` at once; a backend's :class:`PartUpload` says how a
part is sent and how the object is then made visible (or the upload dropped):

* S3 (``s3://``): a multipart upload, completed or aborted;
* Azure Blob (``az://``, ``abfs://``): blocks staged, then one block list committed;
  blocks never committed are dropped by the service;
* Google Cloud Storage (``gs://``) needs no class here: gcsfs writes a resumable
  upload that it finalises only on ``commit()`` (see ``ContentStore._upload_once``).

The file is read twice. :func:`hash_in_parts` reads it in order and computes the
object's name (the sha256 of the whole file) and, on a second thread, the sha256 (and
CRC32) of each part. :func:`upload_in_parts` then has each worker thread read its own
part and check that part's sha256 before its bytes leave (for S3 over plain http the
sha256 botocore signs the part with is that check: the bytes are hashed once). Parts
equal to the parts that were named make an object equal to the file that was named,
so the object is completed without hashing the whole file a second time.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import threading
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gittrack.artifacts.progress import progress_bar
from gittrack.errors import ArtifactChanged, InvalidArtifactPath

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ContentStore

MiB = 1024 * 1024
S3_PROTOCOLS = ("s3", "s3a")
AZURE_PROTOCOLS = ("az", "abfs", "abfss")
GCS_PROTOCOLS = ("gs", "gcs")


class LocalReadError(Exception):
    """Reading the user's file failed (not the store's fault: never retried)."""


class PartChanged(Exception):
    """A part read for sending is not the part that was hashed (the file changed)."""


@dataclass(frozen=True)
class PartSums:
    """What one part hashed to when the file was named."""

    sha256: bytes
    crc32: int


@dataclass(frozen=True)
class NamedParts:
    """A file as :func:`hash_in_parts` read it: its name, size, and its parts' sums."""

    sha256: str
    size: int
    part_size: int
    parts: list[PartSums]
    stat: os.stat_result  # of the file when it was opened


def read_part(fd: int, buf: bytearray, offset: int) -> int:
    """Fill ``buf`` from ``fd`` at ``offset`` (fewer bytes only at the end of the file);
    returns the count read."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = os.preadv(fd, [view[got:]], offset + got)
        if not n:
            break
        got += n
    return got


def hash_in_parts(path: str | os.PathLike[str], part_size: int) -> NamedParts:
    """Read ``path`` once: the sha256 of the whole (this thread), and each ``part_size``
    part's sha256 and CRC32 (two more threads, at the same time: hashlib and zlib let go
    of the GIL), so the file costs about one sha256 pass, through two buffers.

    Raises:
        InvalidArtifactPath: the file is missing or unreadable.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from gittrack.artifacts.localfile import open_source

    src, st = open_source(path)
    whole = hashlib.sha256()
    parts: list[PartSums] = []
    buffers = [bytearray(part_size), bytearray(part_size)]
    size = 0

    def sums(view: memoryview) -> tuple[Future[bytes], Future[int]]:
        return pool.submit(lambda: hashlib.sha256(view).digest()), pool.submit(zlib.crc32, view)

    with src, ThreadPoolExecutor(2, thread_name_prefix="gittrack-hash") as pool:
        pending: tuple[Future[bytes], Future[int]] | None = None  # the previous part's
        for index in itertools.count():
            buf = buffers[index % 2]  # part index - 2's buffer: its sums are in
            try:
                n = read_part(src.fileno(), buf, size)
            except OSError as exc:
                raise InvalidArtifactPath(f"{path} cannot be read: {exc}") from exc
            if not n:
                break
            view = memoryview(buf)[:n]
            these = sums(view)
            whole.update(view)
            size += n
            if pending is not None:
                parts.append(PartSums(pending[0].result(), pending[1].result()))
            pending = these
            if n < part_size:
                break
        if pending is not None:
            parts.append(PartSums(pending[0].result(), pending[1].result()))
    return NamedParts(whole.hexdigest(), size, part_size, parts, st)


def check_part(expected: PartSums, data: Any = None, signed_sha256: str | None = None) -> None:
    """Raise PartChanged unless the part about to be sent is the one that hashed to
    ``expected``: its bytes ``data``, or ``signed_sha256``, the hex sha256 of them the
    caller already has (botocore signs a part with it over plain http; not computed twice).
    """
    if signed_sha256 is not None:
        actual = bytes.fromhex(signed_sha256)
    else:
        actual = hashlib.sha256(data).digest()
    if actual != expected.sha256:
        raise PartChanged()


class PartUpload:
    """One object being uploaded in parts; subclasses talk to one backend."""

    min_part = 1
    in_flight = 1.0  # parts sent at once, per unit of the store's ``parallel``

    def send(self, number: int, data: bytearray, sums: PartSums) -> Any:
        """Send part ``number`` (1-based), checked against ``sums`` before its bytes
        leave (:func:`check_part`); returns what :meth:`complete` needs of it. ``data`` is
        the sending thread's buffer: used again for its next part once this returns."""
        raise NotImplementedError

    def complete(self, parts: list[Any]) -> None:
        """Make the object visible from its parts, in order."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop what was sent (best effort: the service drops it later anyway)."""


class S3Parts(PartUpload):
    """An S3 multipart upload (parts of at least 5 MiB, but the last).

    As boto3's own transfer manager (s3transfer) does when the client computes
    checksums (botocore's default ``request_checksum_calculation``), the upload
    declares CRC32 part checksums: each part carries its CRC32 and the completion
    lists them, so the service checks every part and combines the part checksums
    instead of re-reading the whole object (moto, without the declaration,
    re-reads and copies the assembled object to compute a full-object CRC: ~5 s
    of a 256 MiB upload).
    """

    min_part = 5 * MiB
    # A part upload mostly waits for the service to take the bytes: 2.5 × ``parallel``
    # parts at once, 10 by default, as boto3's transfer manager. Parts go through a
    # blocking botocore client in the worker threads (``s3client``), which sends a part's
    # bytes as they are: each part in flight costs about its size (10 parts of 8 MiB,
    # ~80 MiB of buffers; through s3fs's one event loop each cost twice its size, aiohttp
    # copying what the socket had not taken).
    in_flight = 2.5

    def __init__(self, fs: Any, target: str, threads: int) -> None:
        from gittrack.artifacts import s3client

        self.fs = fs
        self.target = target
        self.bucket, self.key, _ = fs.split_path(target)
        checksums = getattr(fs.s3.meta.config, "request_checksum_calculation", None)
        self.checksum: dict[str, str] = (
            {"ChecksumAlgorithm": "CRC32"} if checksums in (None, "when_supported") else {}
        )
        self.client = s3client.thread_client(fs, self.bucket, threads)
        self.sending = threading.local()  # the sums of the part this thread sends
        self.client.meta.events.register("before-send.s3.UploadPart", self._check_before_send)
        out = fs.call_s3(
            "create_multipart_upload", Bucket=self.bucket, Key=self.key, **self.checksum
        )
        self.upload_id = out["UploadId"]

    def _check_before_send(self, request: Any, **_: Any) -> None:
        """Check the part's bytes as botocore is about to send them (after signing, so
        its payload sha256, when it signs the body, is reused; again on its retries)."""
        from gittrack.artifacts import s3client

        signed = s3client.signed_payload_sha256(request)
        data = None if signed is not None else s3client.read_body(request.body)
        check_part(self.sending.sums, data, signed)

    def send(self, number: int, data: bytearray, sums: PartSums) -> Any:
        # a bytearray body goes as it is (botocore wraps ``bytes`` in a BytesIO, which
        # urllib3 then reads and sends 16 KiB at a time)
        from gittrack.artifacts import s3client

        crc = {"ChecksumCRC32": base64.b64encode(sums.crc32.to_bytes(4, "big")).decode()}
        self.sending.sums = sums
        out = s3client.call(
            self.fs,
            self.client,
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            **self.checksum,
            **(crc if self.checksum else {}),
        )
        part = {"PartNumber": number, "ETag": out["ETag"]}
        if self.checksum and "ChecksumCRC32" in out:
            part["ChecksumCRC32"] = out["ChecksumCRC32"]
        return part

    def complete(self, parts: list[Any]) -> None:
        self.fs.call_s3(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])},
        )
        self.fs.invalidate_cache(self.target)

    def abort(self) -> None:
        self.fs.call_s3(
            "abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
        )


class AzureBlocks(PartUpload):
    """An Azure block blob: each part a staged block, then the block list committed.

    Uses the async blob client of the adlfs filesystem (its credentials, from the
    usual Azure environment variables or options), on adlfs's own event loop.
    """

    def __init__(self, fs: Any, target: str) -> None:
        self.fs = fs
        self.target = target
        self.container, self.blob, _ = fs.split_path(target)
        self.prefix = os.urandom(6).hex()  # block ids of this upload only

    def _call(self, method: str, **kwargs: Any) -> Any:
        from fsspec.asyn import sync

        async def run() -> Any:
            client = self.fs.service_client.get_blob_client(self.container, self.blob)
            async with client as bc:
                return await getattr(bc, method)(**kwargs)

        return sync(self.fs.loop, run)

    def send(self, number: int, data: bytearray, sums: PartSums) -> Any:
        check_part(sums, data)
        # block ids: base64, all of one length within a blob
        block_id = base64.b64encode(f"{self.prefix}-{number:06d}".encode()).decode()
        # the blob client takes bytes (or streams, or iterables)
        self._call("stage_block", block_id=block_id, data=bytes(data), length=len(data))
        return (number, block_id)

    def complete(self, parts: list[Any]) -> None:
        from azure.storage.blob import BlobBlock

        blocks = [BlobBlock(block_id=b) for _, b in sorted(parts)]
        self._call("commit_block_list", block_list=blocks)
        self.fs.invalidate_cache(self.target)


def part_size_for(store: ContentStore, size: int) -> int | None:
    """The part size a ``size``-byte file is uploaded to ``store`` in, or None when it
    goes in one stream through fsspec (other backends; S3 files of one part)."""
    if store.protocol in AZURE_PROTOCOLS:
        return max(store.chunk_size, AzureBlocks.min_part)
    part = max(store.chunk_size, S3Parts.min_part)
    if store.protocol in S3_PROTOCOLS and size > part:
        return part
    return None


def _slots(store: ContentStore, upload: type[PartUpload]) -> int:
    return max(1, int(store.parallel * upload.in_flight))


def part_upload_for(store: ContentStore, target: str) -> PartUpload:
    """The part-wise upload for ``store``'s backend (one :func:`part_size_for` gave a size)."""
    if store.protocol in S3_PROTOCOLS:
        return S3Parts(store.fs, target, _slots(store, S3Parts))
    assert store.protocol in AZURE_PROTOCOLS
    return AzureBlocks(store.fs, target)


def upload_in_parts(
    store: ContentStore,
    upload: PartUpload,
    path: str | os.PathLike[str],
    named: NamedParts,
    desc: str,
) -> None:
    """Send ``path`` in the parts ``named`` lists, up to ``store.parallel`` times the
    backend's ``in_flight`` at once, each worker thread reading its own part.

    The object is completed only when every part sent is the part that was hashed
    (``check_part``: so the object hashes to ``named.sha256``) and the file did not
    change (size, mtime, inode) since it was opened for naming; otherwise the upload
    is aborted and nothing appears.

    Raises:
        ArtifactChanged: the file changed since it was named (the upload is dropped).
        LocalReadError: the file could not be read.
        (and the backend's errors, which the store's retry loop handles)
    """
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from gittrack.artifacts.localfile import open_source, stat_key

    slots = _slots(store, type(upload))
    try:
        src, _ = open_source(path)
    except InvalidArtifactPath as exc:
        upload.abort()
        raise LocalReadError(str(exc)) from exc
    bar = progress_bar(named.size, f"upload {os.path.basename(desc)}")
    fd = src.fileno()
    mine = threading.local()  # each thread's buffer, used again for its next part

    def send(index: int) -> Any:
        offset = index * named.part_size
        n = min(named.part_size, named.size - offset)
        buf = getattr(mine, "buf", None)
        if buf is None or len(buf) != n:
            buf = mine.buf = bytearray(n)
        try:
            got = read_part(fd, buf, offset)
        except OSError as exc:
            raise LocalReadError(f"{path} cannot be read: {exc}") from exc
        if got != n:
            raise PartChanged()
        out = upload.send(index + 1, buf, named.parts[index])
        bar.update(n)
        return out

    try:
        with src, ThreadPoolExecutor(slots, thread_name_prefix="gittrack-part") as pool:
            # each task reads its part when a thread takes it: ``slots`` parts in memory
            futures = [pool.submit(send, i) for i in range(len(named.parts))]
            done, waiting = wait(futures, return_when=FIRST_EXCEPTION)
            for f in waiting:
                f.cancel()
            for f in done:
                if f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            parts = [f.result() for f in futures]
            st1 = os.fstat(fd)
        if stat_key(st1) != stat_key(named.stat):
            raise ArtifactChanged(os.fspath(path))
        upload.complete(parts)
    except PartChanged as exc:
        _abort(upload)
        raise ArtifactChanged(os.fspath(path)) from exc
    except BaseException:
        _abort(upload)
        raise
    finally:
        bar.close()


def _abort(upload: PartUpload) -> None:
    try:
        upload.abort()
    except Exception:  # the server may be gone: the upload is dropped either way
        pass
