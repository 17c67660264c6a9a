"""Where the server puts and finds artifact bytes.

INTEGRATION POINT with ``gittrack.artifacts`` (built in parallel): when that
package is importable, its :class:`ContentStore` (content-addressed by
sha256, local folder or any fsspec URL) and the repository's store
configuration are used, and ``Client.log_artifact`` records uploads exactly as
local logging does. Until then this module keeps the same on-disk layout,
``<store>/sha256/<ab>/<rest>``, with ``<store>`` = ``--artifacts-destination``
or ``.git/gittrack/objects``, so nothing written now has to move later.
"""

from __future__ import annotations

import os
import shutil
from typing import IO, Any

from gittrack.layout import object_key, objects_dir

INLINE_LIMIT = 1024 * 1024  # artifacts up to this size live in the run's git tree


def _content_store(repo: Any, destination: str | None) -> Any | None:
    try:
        from gittrack.artifacts.cas import ContentStore
    except ImportError:
        return None
    if destination:
        return ContentStore(destination)
    try:
        from gittrack.artifacts.config import resolve_store_config

        cfg = resolve_store_config(repo)
        return ContentStore(cfg.url, getattr(cfg, "options", None))
    except ImportError:
        return ContentStore(str(objects_dir(repo.state_dir)))


def _fallback_root(repo: Any, destination: str | None) -> str:
    return destination or str(objects_dir(repo.state_dir))


def put_object(repo: Any, destination: str | None, path: str, sha: str) -> None:
    """Store the file at ``path`` (whose sha256 is ``sha``) in the content store."""
    store = _content_store(repo, destination)
    if store is not None:
        store.put_file(path)
        return
    import fsspec

    target = f"{_fallback_root(repo, destination)}/{object_key(sha)}"
    fs, _, (fspath,) = fsspec.get_fs_token_paths(target)
    if fs.exists(fspath):
        return
    parent = fspath.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if "://" not in target:
        tmp = f"{fspath}.tmp{os.getpid()}"
        shutil.copyfile(path, tmp)
        os.replace(tmp, fspath)
    else:
        fs.put_file(path, fspath)


def open_object(repo: Any, destination: str | None, sha: str) -> IO[bytes]:
    """A binary file object reading the stored object ``sha`` (the caller closes it).

    Raises:
        FileNotFoundError: the store does not have it.
    """
    store = _content_store(repo, destination)
    if store is not None:
        if store.is_local:
            return open(store.object_path(sha), "rb")  # noqa: SIM115
        return store.fs.open(store.object_path(sha), "rb")
    import fsspec

    target = f"{_fallback_root(repo, destination)}/{object_key(sha)}"
    return fsspec.open(target, "rb").open()
