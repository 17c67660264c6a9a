"""A content-addressed object store over fsspec: ``<root>/sha256/<2 hex>/<62 hex>``.

Objects are named by the sha256 of their bytes, so the same content logged by
many runs is stored once. Every transfer streams in chunks (a file is never
read whole into memory), hashes while it streams, and only makes an object
visible once its hash is known to be right: a local store writes a temporary
file and renames it, a remote store uploads without committing (an S3 multipart
upload is completed only after the hash checked out, aborted otherwise).
Failed remote transfers are retried with exponential backoff.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gittrack.artifacts import uploads
from gittrack.artifacts.config import url_protocol
from gittrack.artifacts.localfile import open_source, stat_key
from gittrack.artifacts.progress import progress_bar
from gittrack.artifacts.uploads import LocalReadError as _LocalReadError
from gittrack.core.retry import Backoff, call_with_retry
from gittrack.core.validation import is_sha256
from gittrack.errors import (
    ArtifactChanged,
    ArtifactNotFound,
    ArtifactStoreError,
    ArtifactTransferError,
    CorruptArtifact,
    InvalidArtifactPath,
)
from gittrack.layout import object_key

MiB = 1024 * 1024
LOCAL_CHUNK = MiB
S3_READ_TIMEOUT = 60  # seconds, as boto3
T = TypeVar("T")


@dataclass(frozen=True)
class PutResult:
    """What storing one file did: its sha256, size, and whether bytes were sent."""

    sha256: str
    size: int
    uploaded: bool


def sha256_file(path: str | os.PathLike[str], chunk: int = LOCAL_CHUNK) -> tuple[str, int]:
    """The sha256 hex digest and size of a local file, read in chunks.

    Raises:
        InvalidArtifactPath: when the file is missing or unreadable.
    """
    f, _ = open_source(path)
    with f:
        h = hashlib.sha256()
        size = 0
        buf = bytearray(chunk)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


FICLONE = 0x40049409  # Linux ioctl: make dst share src's extents (copy-on-write)


def copy_fd(src: int, dst: int) -> None:
    """Copy the whole of open file ``src`` (at offset 0) into the empty file ``dst``.

    A reflink where the filesystem has them (btrfs, XFS, bcachefs...: the FICLONE
    ioctl shares the blocks copy-on-write, so any size costs about nothing and later
    writes to either file never reach the other), else a copy in the kernel
    (copy_file_range, sendfile), else by chunks.
    """
    if os.fstat(src).st_size >= LOCAL_CHUNK:
        try:
            import fcntl

            fcntl.ioctl(dst, FICLONE, src)
            return
        except (ImportError, OSError):  # not Linux, or not this filesystem: copy
            pass
    kernel_copies = (
        lambda: os.copy_file_range(src, dst, 1 << 30),
        lambda: os.sendfile(dst, src, None, 1 << 30),
    )
    for copy in kernel_copies:
        try:
            while copy():
                pass
            return
        except (AttributeError, OSError):  # not supported here: start over with the next
            os.lseek(src, 0, os.SEEK_SET)
            os.lseek(dst, 0, os.SEEK_SET)
            os.ftruncate(dst, 0)
    while data := os.read(src, LOCAL_CHUNK):
        os.write(dst, data)


def hash_fd(fd: int, chunk: int = LOCAL_CHUNK) -> tuple[str, int]:
    """sha256 and size of an open file, read with pread (the file offset is not moved)."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        h.update(view[:n])
        offset += n
    return h.hexdigest(), offset


def copy_and_hash(src: int, dst: int) -> tuple[str, int]:
    """Copy open file ``src`` to ``dst`` in the kernel while another thread hashes ``src``.

    Returns the sha256 and size of ``src`` as read; the two run side by side, so
    a large file costs about one pass, not two.
    """
    import threading

    size = os.fstat(src).st_size
    if size < 8 * MiB:
        copy_fd(src, dst)
        return hash_fd(src)
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(hash_fd(src))
        except BaseException as exc:  # re-raised in the caller's thread
            result.append(exc)

    t = threading.Thread(target=run, name="gittrack-hash")
    t.start()
    try:
        copy_fd(src, dst)
    finally:
        t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Where each backend finds its credentials (never in .gittrack.yaml), for error messages.
CREDENTIAL_HINTS = {
    "s3": "for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials",
    "az": "for Azure: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN, or an Azure AD login "
    "(AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, `az login`)",
    "gs": "for GCS: GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`",
}
CREDENTIAL_HINTS.update(
    {"s3a": CREDENTIAL_HINTS["s3"], "abfs": CREDENTIAL_HINTS["az"], "abfss": CREDENTIAL_HINTS["az"]}
)
CREDENTIAL_HINTS["gcs"] = CREDENTIAL_HINTS["gs"]
# The gittrack extra that installs each backend.
_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "az": "az",
    "abfs": "az",
    "abfss": "az",
    "gs": "gcs",
    "gcs": "gcs",
}


def _fatal_store_error(exc: BaseException, url: str, what: str = "") -> ArtifactStoreError | None:
    """The store error for failures that retrying cannot fix, else None."""
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    if (
        isinstance(exc, PermissionError)
        or type(exc).__name__ == "ClientAuthenticationError"
        or (isinstance(status, int) and status in (401, 403))  # Azure, GCS HTTP errors
    ):
        hint = CREDENTIAL_HINTS.get(url_protocol(url), "see the backend's documentation")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ArtifactStoreError(
            f"access to the artifact store {url} was denied ({first}). Check the credentials "
            f"the backend uses ({hint})."
        )
    text = str(exc)
    if (
        "NoSuchBucket" in text
        or "bucket does not exist" in text.lower()
        or "ContainerNotFound" in text
        or (isinstance(exc, FileNotFoundError) and what.startswith("uploading"))
    ):
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return ArtifactStoreError(
            f"the bucket (container) of artifact store {url} does not exist ({first})"
        )
    if isinstance(exc, (ValueError, TypeError)):
        return ArtifactStoreError(f"artifact store {url} refused the request: {exc}")
    return None


class ContentStore:
    """Objects by sha256 under one fsspec URL (a local folder, ``s3://bucket/prefix``, ...).

    Raises (from the constructor):
        ArtifactStoreError: the URL's protocol is unknown or its backend is not installed.
    """

    def __init__(
        self,
        url: str,
        options: dict[str, Any] | None = None,
        *,
        chunk_size: int = 8 * MiB,
        retries: int = 4,
        retry_backoff: float = 0.5,
        parallel: int = 4,
    ) -> None:
        self.url = url
        self.parallel = max(1, parallel)
        self.options = dict(options or {})
        self.chunk_size = chunk_size
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.protocol = url_protocol(url)
        self._fs: Any = None
        self.local_root: Path | None = None
        if self.protocol in ("file", "local"):
            path = url.split("://", 1)[1] if "://" in url else url
            self.local_root = Path(path)
            self.root = str(self.local_root)
        else:
            self.root = self._strip(url)

    # --- the filesystem -------------------------------------------------------

    def _strip(self, url: str) -> str:
        cls = self._fs_class()
        return cls._strip_protocol(url).rstrip("/")

    def _fs_class(self) -> Any:
        import fsspec

        try:
            return fsspec.get_filesystem_class(self.protocol)
        except ValueError as exc:
            raise ArtifactStoreError(
                f"artifact store {self.url}: unknown protocol {self.protocol!r} "
                "(known: file, s3, gs, az, memory, ... — any fsspec protocol)"
            ) from exc
        except ImportError as exc:
            extra = _EXTRAS.get(self.protocol)
            how = f"pip install 'gittrack[{extra}]'" if extra else "install its fsspec backend"
            raise ArtifactStoreError(
                f"artifact store {self.url}: the {self.protocol!r} backend is not installed "
                f"({exc}); {how}"
            ) from exc

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (remote stores only)."""
        if self._fs is None:
            cls = self._fs_class()
            options = dict(self.options)
            if self.protocol in uploads.S3_PROTOCOLS:
                # boto3's read timeout, not s3fs's 15 s: completing a multipart upload of
                # gigabytes can take longer than that, and a retry sent while the first
                # request still runs fails (the upload is gone once completed)
                config = dict(options.get("config_kwargs") or {})
                config.setdefault("read_timeout", S3_READ_TIMEOUT)
                options["config_kwargs"] = config
            try:
                self._fs = cls(**options)
            except Exception as exc:
                raise ArtifactStoreError(
                    f"artifact store {self.url}: cannot open it with options "
                    f"{sorted(self.options)}: {exc}"
                ) from exc
        return self._fs

    @property
    def is_local(self) -> bool:
        return self.local_root is not None

    def object_path(self, sha: str) -> str:
        """Where object ``sha`` lives (a local path or the backend's path).

        Raises:
            InvalidParameter: ``sha`` is not 64 lowercase hex digits (so a sha256
                read from a record can never name a file outside the store).
        """
        return f"{self.root}/{object_key(sha)}"

    def object_url(self, sha: str) -> str:
        if self.is_local:
            return self.object_path(sha)
        return f"{self.protocol}://{self.object_path(sha)}"

    # --- retries --------------------------------------------------------------

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with the store's retries (objects are named by their content, so
        every store operation is idempotent); failures that retrying cannot fix are
        raised at once, the rest as ArtifactTransferError once the retries are spent."""
        final = (ArtifactChanged, InvalidArtifactPath, CorruptArtifact, ArtifactNotFound)

        def retryable(exc: BaseException) -> bool:
            return not isinstance(exc, (*final, _LocalReadError)) and (
                _fatal_store_error(exc, self.url, what) is None
            )

        attempts = [1]
        try:
            return call_with_retry(
                fn,
                idempotent=True,
                retryable=retryable,
                backoff=Backoff(self.retries, self.retry_backoff, cap=30.0),
                on_retry=lambda n, _exc: attempts.append(n + 1),
            )
        except final:
            raise
        except _LocalReadError as exc:
            raise InvalidArtifactPath(str(exc)) from exc.__cause__
        except Exception as exc:
            fatal = _fatal_store_error(exc, self.url, what)
            if fatal is not None:
                raise fatal from exc
            raise ArtifactTransferError(
                f"{what} failed after {attempts[-1]} attempt(s): "
                f"{type(exc).__name__}: {exc}. Nothing was recorded; try again later."
            ) from exc

    # --- queries --------------------------------------------------------------

    def size_of(self, sha: str) -> int | None:
        """The stored object's size, or None when absent."""
        path = self.object_path(sha)
        if self.local_root is not None:
            try:
                return os.stat(path).st_size
            except FileNotFoundError:
                return None

        def info() -> int | None:
            try:
                return int(self.fs.info(path)["size"])
            except FileNotFoundError:
                return None

        return self._retrying(f"checking {self.object_url(sha)}", info)

    def has(self, sha: str, size: int | None = None) -> bool:
        """Whether object ``sha`` is stored (and has ``size`` bytes, when given)."""
        found = self.size_of(sha)
        return found is not None and (size is None or found == size)

    def iter_objects(self) -> Iterator[tuple[str, int]]:
        """Every stored object as ``(sha256, size)``; other files are skipped."""
        if self.local_root is not None:
            base = self.local_root / "sha256"
            if not base.is_dir():
                return
            for d in sorted(os.scandir(base), key=lambda e: e.name):
                if not d.is_dir() or len(d.name) != 2:
                    continue
                for e in sorted(os.scandir(d.path), key=lambda e: e.name):
                    sha = d.name + e.name
                    if is_sha256(sha) and e.is_file():
                        yield sha, e.stat().st_size
            return

        def listing() -> dict[str, Any]:
            try:
                return self.fs.find(f"{self.root}/sha256", detail=True)
            except FileNotFoundError:
                return {}

        found = self._retrying(f"listing {self.url}", listing)
        for name, info in sorted(found.items()):
            bits = name.rstrip("/").split("/")
            sha = "".join(bits[-2:])
            if len(bits) >= 2 and len(bits[-2]) == 2 and is_sha256(sha):
                yield sha, int(info.get("size") or 0)

    # --- writing --------------------------------------------------------------

    def put_file(self, path: str | os.PathLike[str], desc: str | None = None) -> PutResult:
        """Store a local file; skip the transfer when the object is already there.

        Raises:
            InvalidArtifactPath: the file is missing, a directory or unreadable.
            ArtifactChanged: the file changed while it was read (nothing stored).
            ArtifactStoreError: the store refused (credentials, missing bucket).
            ArtifactTransferError: the transfer kept failing after the retries.
        """
        if self.local_root is not None:
            return self._put_local(path)
        return self._put_remote(path, desc or os.fspath(path))

    def _put_local(self, path: str | os.PathLike[str]) -> PutResult:
        assert self.local_root is not None
        src, st0 = open_source(path)
        tmp_dir = self.local_root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        except OSError as exc:
            src.close()
            raise ArtifactStoreError(f"cannot write to artifact store {self.url}: {exc}") from exc
        try:
            with src, os.fdopen(fd, "wb") as out:
                sha, size = copy_and_hash(src.fileno(), out.fileno())
                st1 = os.fstat(src.fileno())
                copied = os.fstat(out.fileno()).st_size
            if stat_key(st1) != stat_key(st0) or size != st1.st_size or copied != size:
                raise ArtifactChanged(os.fspath(path))
            dest = Path(self.object_path(sha))
            if dest.exists() and dest.stat().st_size == size:
                os.unlink(tmp)
                return PutResult(sha, size, False)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            self._record_verified(sha)
            return PutResult(sha, size, True)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _put_remote(self, path: str | os.PathLike[str], desc: str) -> PutResult:
        named: uploads.NamedParts | None = None
        try:
            part_size = uploads.part_size_for(self, os.stat(path).st_size)
        except OSError:
            part_size = None  # open_source names the problem
        if part_size is not None:  # the name and each part's sums, in one read
            named = uploads.hash_in_parts(path, part_size)
            sha, size, st0 = named.sha256, named.size, named.stat
        else:
            sha, size = sha256_file(path)
            st0 = os.stat(path)
        if self.has(sha, size):
            return PutResult(sha, size, False)
        target = self.object_path(sha)
        tried = [False]

        def upload() -> None:
            # an attempt whose answer was lost (a timeout while the service was still
            # completing it) may have stored the object: never send its bytes twice
            if tried[0] and self.has(sha, size):
                return
            tried[0] = True
            if named is not None:
                parts = uploads.part_upload_for(self, target)
                uploads.upload_in_parts(self, parts, path, named, desc)
            else:
                self._upload_once(path, target, sha, st0, desc)

        self._retrying(f"uploading {desc} to {self.url}", upload)
        return PutResult(sha, size, True)

    def _upload_once(
        self, path: str | os.PathLike[str], target: str, sha: str, st0: os.stat_result, desc: str
    ) -> None:
        try:
            src, _ = open_source(path)
        except InvalidArtifactPath as exc:
            raise _LocalReadError(str(exc)) from exc
        block = max(self.chunk_size, 5 * MiB)  # S3 parts must be >= 5 MiB
        bar = progress_bar(st0.st_size, f"upload {os.path.basename(desc)}")
        with src:
            try:
                out = self.fs.open(target, "wb", block_size=block, autocommit=False)
            except TypeError:  # a backend without uncommitted writes
                out = None
            if out is None:
                self._upload_via_temp(src, target, sha, path)
                return
            try:
                h = hashlib.sha256()
                while True:
                    try:
                        chunk = src.read(self.chunk_size)
                    except OSError as exc:
                        raise _LocalReadError(f"{path} cannot be read: {exc}") from exc
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
                out.close()
                st1 = os.fstat(src.fileno())
                if h.hexdigest() != sha or stat_key(st1) != stat_key(st0):
                    raise ArtifactChanged(os.fspath(path))
                out.commit()
            except BaseException:
                # GCS drops an unfinished resumable upload by itself after a week, and a
                # cancel that fails (server gone, emulator) costs gcsfs's retries (~30 s)
                if self.protocol not in uploads.GCS_PROTOCOLS:
                    try:
                        out.discard()
                    except Exception:  # the abort itself may fail when the server is gone
                        pass
                raise
            finally:
                bar.close()

    def _upload_via_temp(self, src: Any, target: str, sha: str, path: Any) -> None:
        import uuid

        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        h = hashlib.sha256()
        with self.fs.open(tmp, "wb") as out:
            while chunk := src.read(self.chunk_size):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha:
            self.fs.rm_file(tmp)
            raise ArtifactChanged(os.fspath(path))
        self.fs.mv(tmp, target)

    def put_bytes(self, data: bytes) -> PutResult:
        """Store bytes already in memory (small payloads).

        Raises:
            ArtifactStoreError, ArtifactTransferError: as :meth:`put_file`.
        """
        sha = sha256_bytes(data)
        if self.has(sha, len(data)):
            return PutResult(sha, len(data), False)
        target = self.object_path(sha)
        if self.local_root is not None:
            dest = Path(target)
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".put-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        else:
            self._retrying(
                f"uploading {len(data)} bytes to {self.url}",
                lambda: self.fs.pipe_file(target, data),
            )
        return PutResult(sha, len(data), True)

    def delete(self, sha: str) -> None:
        """Remove object ``sha`` (absent is fine).

        Raises:
            ArtifactStoreError, ArtifactTransferError: when the store refuses.
        """
        target = self.object_path(sha)
        if self.local_root is not None:
            for path in (target, self._stamp_path(sha)):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            return

        def rm() -> None:
            try:
                self.fs.rm_file(target)
            except FileNotFoundError:
                pass

        self._retrying(f"deleting {self.object_url(sha)}", rm)

    # --- reading --------------------------------------------------------------

    def get_file(self, sha: str, dst: str | os.PathLike[str], desc: str | None = None) -> int:
        """Copy object ``sha`` to local ``dst``, verifying its hash; returns its size.

        ``dst`` appears only once the bytes checked out (written next to it, then renamed).

        Raises:
            ArtifactNotFound: the store has no such object.
            CorruptArtifact: the stored bytes do not hash to ``sha`` (``dst`` untouched).
            ArtifactTransferError: the download kept failing after the retries.
        """
        dst = Path(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        what = desc or f"object {sha[:12]}"

        def once() -> int:
            fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
            try:
                if self.protocol in ("s3", "s3a"):
                    os.close(fd)
                    self._get_s3(sha, tmp, what)
                    actual, size = sha256_file(tmp)  # what landed on disk is checked
                else:
                    with os.fdopen(fd, "wb") as out:
                        if self.local_root is not None:
                            actual, size = self._copy_local(sha, out, what)
                        else:
                            self._fill(sha, out, what)
                            actual, size = sha256_file(tmp)
                if actual != sha:
                    raise CorruptArtifact(f"{what} in {self.url}", sha, actual)
                os.replace(tmp, dst)
                return size
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

        if self.local_root is not None:
            return once()
        return self._retrying(f"downloading {what} from {self.url}", once)

    def _missing(self, sha: str, what: str) -> ArtifactNotFound:
        return ArtifactNotFound(
            f"{what} (sha256 {sha}) is missing from the artifact store {self.url}"
        )

    def _get_s3(self, sha: str, tmp: str, what: str) -> None:
        """One streaming GET into ``tmp``, ``chunk_size`` at a time (S3-compatible
        servers such as moto re-read the whole object for every ranged GET)."""
        from fsspec.callbacks import Callback

        class _Bar(Callback):  # a progress bar once the size is known
            bar: Any = None

            def set_size(self, size: int | None) -> None:
                self.bar = progress_bar(int(size or 0), f"download {what}")

            def relative_update(self, inc: int = 1) -> None:
                if self.bar is not None:
                    self.bar.update(inc)

        cb = _Bar()
        try:
            self.fs.get_file(
                self.object_path(sha),
                tmp,
                callback=cb,
                chunksize=self.chunk_size,
                max_concurrency=1,
            )
        except FileNotFoundError as exc:
            raise self._missing(sha, what) from exc
        finally:
            if cb.bar is not None:
                cb.bar.close()

    # --- local stores: a stat stamp of each object verified, as git's index does ----

    def _stamp_path(self, sha: str) -> str:
        return f"{self.root}/verified/{sha[:2]}/{sha[2:]}"

    @staticmethod
    def _stamp(st: os.stat_result) -> str:
        # ctime cannot be set by hand: any write, chmod or utime after the check changes it
        return f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"

    def _record_verified(self, sha: str, st: os.stat_result | None = None) -> None:
        """Remember that the object, as it is on disk now, hashed to ``sha``."""
        try:
            st = st or os.stat(self.object_path(sha))
            path = Path(self._stamp_path(sha))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self._stamp(st))
        except OSError:  # only an optimisation: the next read verifies in full
            pass

    def _is_verified(self, sha: str, st: os.stat_result) -> bool:
        try:
            with open(self._stamp_path(sha)) as f:
                return f.read() == self._stamp(st)
        except OSError:
            return False

    def _copy_local(self, sha: str, out: Any, what: str) -> tuple[str, int]:
        """Copy a local object into ``out``; returns the sha256 and size of what was read.

        An object unchanged on disk (same size, mtime, ctime and inode) since it was
        last hashed is copied without hashing it again; any other is hashed in full.
        """
        try:
            src = open(self.object_path(sha), "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise self._missing(sha, what) from exc
        with src:
            st = os.fstat(src.fileno())
            if self._is_verified(sha, st):
                copy_fd(src.fileno(), out.fileno())
                if os.fstat(out.fileno()).st_size == st.st_size:
                    return sha, st.st_size
                os.lseek(src.fileno(), 0, os.SEEK_SET)
                os.lseek(out.fileno(), 0, os.SEEK_SET)
                os.ftruncate(out.fileno(), 0)
            actual, size = copy_and_hash(src.fileno(), out.fileno())
            if actual == sha:
                self._record_verified(sha, st)
            return actual, size

    def _fill(self, sha: str, out: Any, what: str) -> None:
        """Write a remote object's bytes into the open file ``out`` (unverified).

        Objects larger than one chunk are fetched as ranges by ``parallel``
        threads (memory: one chunk per thread).
        """
        target = self.object_path(sha)
        try:
            size = int(self.fs.info(target)["size"])
        except FileNotFoundError as exc:
            raise self._missing(sha, what) from exc
        chunk = self.chunk_size
        if size <= chunk:
            out.write(self.fs.cat_file(target))
            return
        from concurrent.futures import ThreadPoolExecutor

        out.flush()
        fd = out.fileno()
        bar = progress_bar(size, f"download {what}")

        def fetch(start: int) -> None:
            data = self.fs.cat_file(target, start=start, end=min(start + chunk, size))
            os.pwrite(fd, data, start)
            bar.update(len(data))

        with ThreadPoolExecutor(self.parallel, thread_name_prefix="gittrack-range") as pool:
            for _ in pool.map(fetch, range(0, size, chunk)):
                pass
        bar.close()

    def _stream_to(self, sha: str, out: Any, what: str) -> tuple[Any, int]:
        target = self.object_path(sha)
        h = hashlib.sha256()
        size = 0
        try:
            if self.local_root is not None:
                src = open(target, "rb")  # noqa: SIM115
                chunk = LOCAL_CHUNK
            else:
                src = self.fs.open(target, "rb", block_size=self.chunk_size, cache_type="none")
                chunk = self.chunk_size
        except FileNotFoundError as exc:
            raise ArtifactNotFound(
                f"{what} (sha256 {sha}) is missing from the artifact store {self.url}"
            ) from exc
        with src:
            total = getattr(src, "size", None) or 0
            bar = progress_bar(int(total), f"download {what}")
            while data := src.read(chunk):
                h.update(data)
                out.write(data)
                size += len(data)
                bar.update(len(data))
            bar.close()
        return h, size

    def read_bytes(self, sha: str) -> bytes:
        """The verified bytes of a (small) object.

        Raises:
            ArtifactNotFound, CorruptArtifact, ArtifactTransferError: as :meth:`get_file`.
        """
        import io

        buf = io.BytesIO()

        def once() -> bytes:
            buf.seek(0)
            buf.truncate()
            h, _ = self._stream_to(sha, buf, f"object {sha[:12]}")
            if h.hexdigest() != sha:
                raise CorruptArtifact(f"object {sha[:12]} in {self.url}", sha, h.hexdigest())
            return buf.getvalue()

        if self.local_root is not None:
            return once()
        return self._retrying(f"downloading object {sha[:12]} from {self.url}", once)

    def verify(self, sha: str) -> str | None:
        """The actual sha256 of the stored object, or None when it is missing."""

        class _Null:
            def write(self, b: bytes) -> None:
                pass

        try:
            h, _ = self._stream_to(sha, _Null(), f"object {sha[:12]}")
        except ArtifactNotFound:
            return None
        return h.hexdigest()
