"""Uploads in parts that become visible only once their bytes hashed right.

One loop (:func:`upload_in_parts`) reads the file in order, hashes it, and sends
up to ``parallel`` parts at once; a backend's :class:`PartUpload` says how a part
is sent and how the object is then made visible (or the upload dropped):

* S3 (``s3://``): a multipart upload, completed or aborted;
* Azure Blob (``az://``, ``abfs://``): blocks staged, then one block list committed;
  blocks never committed are dropped by the service;
* Google Cloud Storage (``gs://``) needs no class here: gcsfs writes a resumable
  upload that it finalises only on ``commit()`` (see ``ContentStore._upload_once``).
"""

from __future__ import annotations

import base64
import hashlib
import os
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


class PartUpload:
    """One object being uploaded in parts; subclasses talk to one backend."""

    min_part = 1
    in_flight = 1.0  # parts sent at once, per unit of the store's ``parallel``

    def send(self, number: int, data: bytes) -> Any:
        """Send part ``number`` (1-based); returns what :meth:`complete` needs of it."""
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
    # A part upload mostly waits for the service to take the bytes (boto3 keeps 10 in
    # flight): 1.25 × ``parallel`` parts at once, 5 by default. Each costs about twice its
    # size in memory while the service is slow (the HTTP transport copies what the socket
    # did not take yet): 5 parts of 8 MiB keep a transfer near 80 MiB of buffers (6 reached
    # 187 MiB of peak RSS against a cold moto, near the 200 MiB streaming bound).
    in_flight = 1.25

    def __init__(self, fs: Any, target: str) -> None:
        self.fs = fs
        self.target = target
        self.bucket, self.key, _ = fs.split_path(target)
        checksums = getattr(fs.s3.meta.config, "request_checksum_calculation", None)
        self.checksum: dict[str, str] = (
            {"ChecksumAlgorithm": "CRC32"} if checksums in (None, "when_supported") else {}
        )
        out = fs.call_s3(
            "create_multipart_upload", Bucket=self.bucket, Key=self.key, **self.checksum
        )
        self.upload_id = out["UploadId"]

    def send(self, number: int, data: bytes) -> Any:
        out = self.fs.call_s3(
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            **self.checksum,
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

    def send(self, number: int, data: bytes) -> Any:
        # block ids: base64, all of one length within a blob
        block_id = base64.b64encode(f"{self.prefix}-{number:06d}".encode()).decode()
        self._call("stage_block", block_id=block_id, data=data, length=len(data))
        return (number, block_id)

    def complete(self, parts: list[Any]) -> None:
        from azure.storage.blob import BlobBlock

        blocks = [BlobBlock(block_id=b) for _, b in sorted(parts)]
        self._call("commit_block_list", block_list=blocks)
        self.fs.invalidate_cache(self.target)


def part_upload_for(store: ContentStore, target: str) -> PartUpload | None:
    """The part-wise upload for ``store``'s backend, or None to stream through fsspec."""
    if store.protocol in S3_PROTOCOLS:
        return S3Parts(store.fs, target)
    if store.protocol in AZURE_PROTOCOLS:
        return AzureBlocks(store.fs, target)
    return None


def upload_in_parts(
    store: ContentStore,
    upload: PartUpload,
    path: str | os.PathLike[str],
    sha: str,
    st0: os.stat_result,
    desc: str,
) -> None:
    """Send ``path`` in parts of ``store.chunk_size``, up to ``store.parallel`` times the
    backend's ``in_flight`` at once.

    The object is completed only when the bytes sent hash to ``sha`` and the file
    did not change while it was read; otherwise the upload is aborted and nothing
    appears.

    Raises:
        ArtifactChanged: the file changed while it was read (the upload is dropped).
        LocalReadError: the file could not be read.
        (and the backend's errors, which the store's retry loop handles)
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from gittrack.artifacts.localfile import open_source, stat_key

    part_size = max(store.chunk_size, upload.min_part)
    slots = max(1, int(store.parallel * upload.in_flight))
    try:
        src, _ = open_source(path)
    except InvalidArtifactPath as exc:
        upload.abort()
        raise LocalReadError(str(exc)) from exc
    bar = progress_bar(st0.st_size, f"upload {os.path.basename(desc)}")

    def send(number: int, data: bytes) -> Any:
        out = upload.send(number, data)
        bar.update(len(data))
        return out

    try:
        h = hashlib.sha256()
        parts: list[Any] = []
        with src, ThreadPoolExecutor(slots, thread_name_prefix="gittrack-part") as pool:
            pending: set[Any] = set()
            number = 1
            while True:
                while len(pending) >= slots:  # a free slot before reading more
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    parts += [f.result() for f in done]
                try:
                    data = src.read(part_size)
                except OSError as exc:
                    raise LocalReadError(f"{path} cannot be read: {exc}") from exc
                if not data:
                    break
                h.update(data)
                pending.add(pool.submit(send, number, data))
                del data
                number += 1
            parts += [f.result() for f in pending]
            st1 = os.fstat(src.fileno())
        if h.hexdigest() != sha or stat_key(st1) != stat_key(st0):
            raise ArtifactChanged(os.fspath(path))
        upload.complete(parts)
    except BaseException:
        try:
            upload.abort()
        except Exception:  # the server may be gone: the upload is dropped either way
            pass
        raise
    finally:
        bar.close()
