"""Where the server finds artifact bytes: the repository's content store.

The store is :class:`gittrack.artifacts.cas.ContentStore` (content-addressed by
sha256, ``<store>/sha256/<ab>/<rest>``), rooted at ``--artifacts-destination`` when
the server was given one, else at the store the repository is configured with
(``.gittrack.yaml`` / git config, default ``.git/gittrack/objects``), which is where
uploads through the server land (``Client.log_artifact``).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from gittrack.artifacts.cas import ContentStore
from gittrack.artifacts.config import resolve_store_config

if TYPE_CHECKING:
    from gittrack.core.repo import Repo


def _content_store(repo: Repo, destination: str | None) -> ContentStore:
    """Return the content store the server reads stored artifacts from.

    Raises:
        ArtifactStoreError: a malformed store configuration or a missing fsspec backend.
    """
    if destination:
        return ContentStore(destination)
    cfg = resolve_store_config(repo)
    return ContentStore(cfg.url, cfg.options)


def open_object(repo: Repo, destination: str | None, sha: str) -> IO[bytes]:
    """A binary file object reading the stored object ``sha`` (the caller closes it).

    Raises:
        FileNotFoundError: the store does not have it.
    """
    store = _content_store(repo, destination)
    if store.is_local:
        return open(store.object_path(sha), "rb")  # noqa: SIM115
    return store.fs.open(store.object_path(sha), "rb")
