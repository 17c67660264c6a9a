"""Reading request bodies under a size limit, refusing early when the length is declared;
streaming an uploaded body to a temporary file while hashing it (:class:`Upload`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gittrack.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from starlette.requests import Request


def declared_length(request: Request, limit: int) -> int | None:
    """The Content-Length of ``request`` (None when absent).

    Raises:
        PayloadTooLarge: it declares more than ``limit`` bytes.
        BadRequest: it is not a number.
    """
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError as exc:
        raise BadRequest(f"Invalid Content-Length header {raw!r}") from exc
    if length > limit:
        raise PayloadTooLarge(limit)
    return length


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body of ``request`` chunk by chunk, raising once it passes ``limit`` bytes.

    Raises:
        PayloadTooLarge: the body is, or turns out to be, over the limit.
        starlette.requests.ClientDisconnect: the client went away mid-body.
    """
    declared_length(request, limit)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(limit)
        if chunk:
            yield chunk


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body of ``request`` (for JSON requests), at most ``limit`` bytes."""
    parts = [chunk async for chunk in limited_stream(request, limit)]
    return b"".join(parts)


DRAIN_LIMIT = 64 * 1024 * 1024


async def drain(request: Request, limit: int = DRAIN_LIMIT) -> None:
    """Read and discard the rest of a refused body (up to ``limit`` bytes), so a client
    still sending it can read the error answer instead of meeting a closed socket."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return  # not worth reading: the connection is closed after the answer
    seen = 0
    while seen <= limit:
        message = await request.receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class Upload:
    """A request body written to ``<tmpdir>/<basename>`` while hashed; removed on close."""

    def __init__(self, basename: str, parent: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="gittrack-upload-", dir=parent)
        self.path = os.path.join(self.dir, basename)
        self._file = open(self.path, "wb")  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def finish(self) -> str:
        self._file.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def received_upload(
    request: Request, name: str, parent: str, limit: int
) -> AsyncIterator[tuple[Upload, str] | None]:
    """The request body streamed into a temporary file named like ``name``, with its
    sha256; None when the client went away (nothing may be recorded then). The file is
    removed on leaving the block.

    Raises:
        PayloadTooLarge: the body is over ``limit`` bytes.
    """
    from starlette.requests import ClientDisconnect

    upload = Upload(name, parent=parent)
    try:
        try:
            async for chunk in limited_stream(request, limit):
                upload.write(chunk)
        except ClientDisconnect:
            yield None
            return
        yield upload, upload.finish()
    finally:
        upload.close()
