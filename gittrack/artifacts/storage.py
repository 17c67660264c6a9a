"""One repository's artifact storage: its configured store, local cache and limits."""

from __future__ import annotations

import os
import shutil
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.artifacts.cas import ContentStore
from gittrack.artifacts.config import StoreConfig, default_store_path, resolve_store_config
from gittrack.errors import CorruptArtifact

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

_ATTR = "_gittrack_artifact_storage"


class ArtifactStorage:
    """The store (any fsspec URL) plus the local cache that serves repeated downloads."""

    def __init__(self, repo: Repo, config: StoreConfig | None = None) -> None:
        self.repo = repo
        self.config = config or resolve_store_config(repo)

    @cached_property
    def store(self) -> ContentStore:
        """The configured store (raises ArtifactStoreError for an unusable URL)."""
        c = self.config
        return ContentStore(
            c.url,
            c.options,
            chunk_size=c.chunk_size,
            retries=c.retries,
            retry_backoff=c.retry_backoff,
            parallel=c.parallel,
        )

    @cached_property
    def cache(self) -> ContentStore | None:
        """The local cache, or None when the store is local already or caching is off."""
        if not self.config.cache or self.store.is_local:
            return None
        return ContentStore(str(default_store_path(self.repo)))

    def fetch(self, sha: str, dst: str | os.PathLike[str], desc: str | None = None) -> None:
        """Write object ``sha`` to ``dst``, verified; through the cache for remote stores.

        Raises:
            ArtifactNotFound, CorruptArtifact, ArtifactTransferError: see ContentStore.get_file.
        """
        cache = self.cache
        if cache is None:
            self.store.get_file(sha, dst, desc)
            return
        cached = Path(cache.object_path(sha))
        if cached.exists():
            try:
                cache.get_file(sha, dst, desc)
                return
            except CorruptArtifact:
                os.unlink(cached)  # a damaged cache copy: fetch it again from the store
        tmp_dir = cache.local_root / "tmp"  # type: ignore[operator]
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"get-{sha}-{os.getpid()}-{threading.get_ident()}"
        self.store.get_file(sha, tmp, desc)
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, cached)
        _link_or_copy(cached, Path(dst))

    def fetch_bytes(self, sha: str) -> bytes:
        """The verified bytes of a small object (cached when the store is remote)."""
        cache = self.cache
        if cache is not None and cache.has(sha):
            try:
                return cache.read_bytes(sha)
            except CorruptArtifact:
                os.unlink(cache.object_path(sha))
        data = self.store.read_bytes(sha)
        if cache is not None:
            cache.put_bytes(data)
        return data


def _link_or_copy(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst``: a hard link when possible (no second write), else a copy.

    A linked file edited in place changes the cache copy too; every cache read is
    verified, so such a copy is detected, dropped and fetched again.
    """
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.link")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


_PATHS_ATTR = "_gittrack_artifact_config_paths"


def _config_paths(repo: Repo) -> tuple[list[str], bool]:
    found = getattr(repo, _PATHS_ATTR, None)
    if found is None:
        from gittrack.artifacts.config import PROJECT_FILE

        paths = [str(repo.common_dir / "config"), str(repo.gitdir / "config")]
        workdir = repo.workdir
        if workdir is not None:
            paths.append(str(workdir / PROJECT_FILE))
        paths.append(os.environ.get("GIT_CONFIG_GLOBAL") or os.path.expanduser("~/.gitconfig"))
        found = (paths, workdir is None)
        setattr(repo, _PATHS_ATTR, found)
    return found


def _config_stamp(repo: Repo) -> tuple[object, ...]:
    """What the store config depends on, cheaply: the env URL and the files' mtimes."""
    from gittrack.artifacts.config import ENV_URL

    paths, bare = _config_paths(repo)
    stamps: list[object] = [os.environ.get(ENV_URL)]
    for p in paths:
        try:
            st = os.stat(p)
            stamps.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append(None)
    if bare:
        try:
            stamps.append(str(repo.git.head.target))
        except Exception:
            stamps.append(None)
    return tuple(stamps)


def storage_for(repo: Repo) -> ArtifactStorage:
    """The storage of ``repo``, cached on the Repo object while its configuration is unchanged."""
    stamp = _config_stamp(repo)
    found = getattr(repo, _ATTR, None)
    if found is None or found[0] != stamp:
        found = (stamp, ArtifactStorage(repo))
        setattr(repo, _ATTR, found)
    return found[1]
