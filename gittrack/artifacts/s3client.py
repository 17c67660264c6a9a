"""A blocking botocore S3 client that signs and sends from the calling thread.

s3fs runs every request of a filesystem on ONE asyncio loop thread (aiobotocore), so
the per-request work of an upload part — the SigV4 payload sha256 (over plain http
botocore signs the body), its CRC32, aiohttp's copy of what the socket has not taken —
happens one part after another there. :func:`thread_client` gives the part uploads a
plain botocore client (thread-safe; urllib3 sends the part's bytes as they are), so
that work runs in the worker threads at once, as boto3's transfer manager does.

It is built from the aiobotocore client s3fs made for the bucket — endpoint, region,
the resolved botocore configuration, and the very credentials object s3fs signs with
(refreshed on s3fs's loop when they expire) — so the two clients cannot disagree on
where and as whom they talk. Errors come back as s3fs's own translation of them.
"""

from __future__ import annotations

from typing import Any


def _sync_credentials(fs: Any, aio_credentials: Any) -> Any:
    """Botocore credentials that are s3fs's (async) ones at each signing: refreshable
    ones are asked on s3fs's loop (which refreshes them), fixed ones read as they are."""
    from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
    from fsspec.asyn import sync

    refreshable = isinstance(aio_credentials, RefreshableCredentials)

    class LoopCredentials(Credentials):
        method = "s3fs"

        def __init__(self) -> None:  # no keys of its own: each signing asks s3fs's
            pass

        def get_frozen_credentials(self) -> Any:
            if refreshable:
                return sync(fs.loop, aio_credentials.get_frozen_credentials)
            c = aio_credentials
            return ReadOnlyCredentials(c.access_key, c.secret_key, c.token, c.account_id)

    return LoopCredentials()


def thread_client(fs: Any, bucket: str, threads: int) -> Any:
    """A botocore S3 client for ``bucket`` configured as s3fs's ``fs`` is, for ``threads``
    threads at once (one HTTP connection each)."""
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import CredentialProvider, CredentialResolver
    from fsspec.asyn import sync

    fs.connect()  # s3fs's session and client, made once
    aio = sync(fs.loop, fs.get_s3, bucket)  # the client s3fs uses for this bucket
    aio_credentials = aio._request_signer._credentials  # what s3fs signs with (None: anonymous)
    config = aio.meta.config
    options = {k: getattr(config, k) for k in Config.OPTION_DEFAULTS if hasattr(config, k)}
    options["max_pool_connections"] = max(threads, options.get("max_pool_connections") or 0)

    session = botocore.session.Session()
    # the service models s3fs's session already loaded (parsing them again costs ~0.1 s)
    session.register_component("data_loader", fs.session.get_component("data_loader"))

    class FromS3fs(CredentialProvider):
        METHOD = "s3fs"

        def load(self) -> Any:
            return None if aio_credentials is None else _sync_credentials(fs, aio_credentials)

    session.register_component("credential_provider", CredentialResolver([FromS3fs()]))
    return session.create_client(
        "s3",
        region_name=aio.meta.region_name,
        endpoint_url=aio.meta.endpoint_url,
        config=Config(**options),
        verify=fs.client_kwargs.get("verify"),
    )


def call(fs: Any, client: Any, method: str, **kwargs: Any) -> Any:
    """``client.method(**kwargs)`` with s3fs's request-wide arguments (``s3_additional_kwargs``:
    encryption, requester pays...) and its errors (``FileNotFoundError``, ``PermissionError``...)."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    fn = getattr(client, method)
    try:
        return fn(**fs._get_s3_method_kwargs(fn, **kwargs))
    except ClientError as exc:
        raise translate_boto_error(exc) from exc


def signed_payload_sha256(request: Any) -> str | None:
    """The hex sha256 of the body a signed request carries, when botocore signed the
    body (it does over plain http; over https with a checksum it sends UNSIGNED-PAYLOAD)."""
    value = request.headers.get("X-Amz-Content-SHA256")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if value and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def read_body(body: Any) -> Any:
    """A request body as something hashlib takes: bytes-like bodies as they are, a
    file-like one read (and rewound)."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return body
    pos = body.tell()
    data = body.read()
    body.seek(pos)
    return data
