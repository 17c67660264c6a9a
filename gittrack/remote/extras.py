"""What happens around a push or pull besides refs: the query index and large artifacts.

Called by :mod:`gittrack.remote.transfer`:

* after a pull, :func:`refresh_index` brings ``.git/gittrack/index.sqlite`` up to
  date — only when that index already exists (building it is the query
  layer's job, on first search);
* before a push, :func:`upload_artifacts` makes sure the large artifacts
  (``where: store`` in ``artifacts.yaml``) of the runs being pushed are in the
  artifact store named by ``.gittrack.yaml``, uploading from the local cache
  what the store lacks;
* after ``pull --artifacts``, :func:`prefetch_artifacts` downloads them into
  the local cache.

The artifact side uses ``gittrack.artifacts`` (``storage_for(repo)``: the store
named by ``.gittrack.yaml``/git config, and the local cache
``.git/gittrack/objects``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gittrack import layout
from gittrack.layout import record_path

if TYPE_CHECKING:
    from gittrack.artifacts.cas import ContentStore
    from gittrack.artifacts.storage import ArtifactStorage
    from gittrack.core.repo import Repo

ARTIFACTS_FILE = record_path(layout.ARTIFACTS_FILE)


def refresh_index(repo: Repo) -> str | None:
    """Refresh the query index if this repository has one; return a note, or None.

    Uses ``gittrack.query.index`` (``Index(repo).refresh()``); does nothing when the
    repository has no index yet.
    """
    from gittrack.query.index import Index

    if not layout.index_path(layout.state_dir(repo.common_dir)).exists():
        return None
    try:
        with Index(repo) as ix:
            ix.refresh()
    except Exception as exc:  # noqa: BLE001 - the index is derived; a failed refresh loses nothing
        return f"the query index could not be refreshed ({exc}); it refreshes on the next search"
    return None


def store_entries(repo: Repo, sha: str) -> dict[str, dict[str, Any]]:
    """``artifacts.yaml`` entries of run commit ``sha`` kept in the artifact store (path → entry).

    Raises:
        BadArtifactEntry: an entry with an unsafe path or sha256 (checked by the one rule set).
    """
    import pygit2

    try:
        data = repo.git[sha].peel(pygit2.Commit).tree[ARTIFACTS_FILE].peel(pygit2.Blob).data
    except KeyError:
        return {}
    from gittrack.core.records import formats as records
    from gittrack.core.validation import artifact_manifest

    table = artifact_manifest(sha[:12], records.load_yaml(data))
    return {p: e for p, e in table.items() if e["where"] == "store"}


def _storage(repo: Repo) -> tuple[ArtifactStorage, ContentStore]:
    """Return (the configured store, the local object folder)."""
    from gittrack.artifacts.cas import ContentStore
    from gittrack.artifacts.config import default_store_path
    from gittrack.artifacts.storage import storage_for

    return storage_for(repo), ContentStore(str(default_store_path(repo)))


def upload_missing(repo: Repo, digests: Iterable[str]) -> tuple[dict[str, str], int, bool]:
    """Put into the configured store what it lacks, from the local cache.

    Returns:
        ``({sha256: why it is missing}, uploaded count, store_is_local)``.
    """
    from gittrack.errors import GittrackError

    storage, local = _storage(repo)
    failed: dict[str, str] = {}
    uploaded = 0
    try:
        store = storage.store
    except GittrackError as exc:
        return {d: exc.message for d in digests}, 0, False
    todo = sorted(set(digests))
    for i, sha in enumerate(todo):
        try:
            present = store.has(sha)
        except GittrackError as exc:  # the store itself is unreachable: the rest fail alike
            for rest in todo[i:]:
                failed[rest] = f"artifact store {store.url} unreachable: {exc.message}"
            break
        if present:
            continue
        if not local.has(sha):
            failed[sha] = f"not in the artifact store {store.url} nor in the local cache"
            continue
        try:
            store.put_file(local.object_path(sha))
            uploaded += 1
        except GittrackError as exc:
            failed[sha] = f"cannot upload to {store.url}: {exc.message}"
    return failed, uploaded, store.is_local


def upload_artifacts(repo: Repo, runs: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Upload what the store lacks for the runs ``{ref: sha}`` about to be pushed.

    Returns:
        ``({ref: why its artifacts are missing}, notes)``: refs listed are not pushed.
    """
    from gittrack.errors import BadArtifactEntry

    wanted: dict[str, dict[str, str]] = {}  # ref -> sha256 -> path
    refused: dict[str, str] = {}
    for ref, sha in runs.items():
        try:
            entries = store_entries(repo, sha)
        except BadArtifactEntry as exc:
            refused[ref] = exc.message
            continue
        if entries:
            wanted[ref] = {str(e["sha256"]): p for p, e in entries.items()}
    if not wanted:
        return refused, []
    digests = {d for per_run in wanted.values() for d in per_run}
    failed, uploaded, local_store = upload_missing(repo, digests)
    problems: dict[str, str] = dict(refused)
    for ref, per_run in wanted.items():
        bad = [f"{path} ({failed[d]})" for d, path in per_run.items() if d in failed]
        if bad:
            problems[ref] = "; ".join(bad)
    notes = []
    if uploaded:
        notes.append(f"uploaded {uploaded} large artifact(s) to the artifact store")
    if local_store:
        notes.append(
            f"{len(digests)} large artifact(s) of the pushed runs stay in this clone's local "
            "store; name a shared store (artifacts: in .gittrack.yaml) so others can get them"
        )
    if problems:
        notes.append(
            f"{len(problems)} run(s) not pushed because their large artifacts are not in the "
            "artifact store and could not be uploaded from here"
        )
    return problems, notes


def prefetch_artifacts(repo: Repo, shas: Iterable[str]) -> list[str]:
    """Download the large artifacts of run commits ``shas`` into the local cache; notes."""
    from gittrack.errors import BadArtifactEntry

    digests: set[str] = set()
    skipped: list[str] = []
    for sha in shas:
        try:
            digests |= {e["sha256"] for e in store_entries(repo, sha).values()} if sha else set()
        except BadArtifactEntry as exc:
            skipped.append(f"artifacts of run commit {sha[:12]} not downloaded: {exc.message}")
    return skipped + _prefetch(repo, digests)


def _prefetch(repo: Repo, digests: set[str]) -> list[str]:
    """Download objects ``digests`` into the local cache; notes."""
    if not digests:
        return []
    storage, local = _storage(repo)
    from gittrack.errors import GittrackError

    if storage.cache is None:  # a local store: nothing to download
        return []
    failed: dict[str, str] = {}
    assert local.local_root is not None  # the local cache is always a folder
    tmp_dir = local.local_root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for sha in sorted(digests):
        if storage.cache.has(sha):
            continue
        tmp = tmp_dir / f"prefetch-{sha}-{os.getpid()}"
        try:
            storage.fetch(sha, tmp)
        except GittrackError as exc:
            failed[sha] = exc.message
        finally:
            tmp.unlink(missing_ok=True)
    if failed:
        first = next(iter(failed.items()))
        return [
            f"{len(failed)} artifact(s) could not be downloaded (e.g. {first[0][:12]}: {first[1]})"
        ]
    return [f"downloaded {len(digests)} large artifact(s)"]
