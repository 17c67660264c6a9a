"""What happens around a push or pull besides refs: the query index and large artifacts.

Integration points (called by :mod:`gittrack.remote`):

* after a pull, :func:`refresh_index` brings ``.git/gittrack/index.sqlite`` up to
  date — only when that index already exists (building it is the query
  layer's job, on first search);
* before a push, :func:`upload_artifacts` makes sure the large artifacts
  (``where: store`` in ``artifacts.yaml``) of the runs being pushed are in the
  artifact store named by ``.gittrack.yaml``, uploading from the local cache
  what the store lacks;
* after ``pull --artifacts``, :func:`prefetch_artifacts` downloads them into
  the local cache.

The artifact side calls ``gittrack.artifacts.transfer.upload_missing(repo,
digests)`` and ``gittrack.artifacts.transfer.prefetch(repo, digests)`` (each
returns ``{sha256: error message}`` for what failed). When the installed
``gittrack.artifacts`` has no such functions, pushes go ahead and say that
large artifacts were not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gittrack import records

if TYPE_CHECKING:
    from gittrack.repo import Repo

ARTIFACTS_FILE = f"{records.RECORD_DIR}/artifacts.yaml"


def refresh_index(repo: Repo) -> str | None:
    """Refresh the query index if this repository has one; return a note, or None."""
    path = repo.common_dir / "gittrack" / "index.sqlite"
    if not path.exists():
        return None
    try:
        from gittrack import index
    except ImportError:
        return None
    refresh = getattr(index, "refresh_index", None) or getattr(index, "refresh", None)
    if refresh is None:
        return None
    try:
        refresh(repo)
    except Exception as exc:  # noqa: BLE001 - the index is derived; a failed refresh loses nothing
        return f"the query index could not be refreshed ({exc}); it refreshes on the next search"
    return None


def store_entries(repo: Repo, sha: str) -> dict[str, dict[str, Any]]:
    """``artifacts.yaml`` entries of run commit ``sha`` kept in the artifact store (path → entry)."""
    try:
        data = repo.git[sha].tree[ARTIFACTS_FILE].data
    except KeyError:
        return {}
    table = records.load_yaml(data) or {}
    if not isinstance(table, dict):
        return {}
    return {
        str(p): e
        for p, e in table.items()
        if isinstance(e, dict) and e.get("where") == "store" and e.get("sha256")
    }


def _transfer() -> Any:
    try:
        from gittrack.artifacts import transfer  # type: ignore[attr-defined]
    except ImportError:
        return None
    return transfer


def upload_artifacts(repo: Repo, runs: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Upload what the store lacks for the runs ``{ref: sha}`` about to be pushed.

    Returns:
        ``({ref: why its artifacts are missing}, notes)``: refs listed are not pushed.
    """
    wanted: dict[str, dict[str, str]] = {}  # ref -> sha256 -> path
    for ref, sha in runs.items():
        entries = store_entries(repo, sha)
        if entries:
            wanted[ref] = {str(e["sha256"]): p for p, e in entries.items()}
    if not wanted:
        return {}, []
    digests = {d for per_run in wanted.values() for d in per_run}
    transfer = _transfer()
    upload = getattr(transfer, "upload_missing", None) if transfer else None
    if upload is None:
        return {}, [
            f"{len(digests)} large artifact(s) of the pushed runs were not checked against the "
            "artifact store (gittrack.artifacts has no upload support here)"
        ]
    failed: dict[str, str] = upload(repo, digests) or {}
    problems: dict[str, str] = {}
    for ref, per_run in wanted.items():
        bad = [f"{path} ({failed[d]})" for d, path in per_run.items() if d in failed]
        if bad:
            problems[ref] = "; ".join(bad)
    notes = []
    if problems:
        notes.append(
            f"{len(problems)} run(s) not pushed because their large artifacts are not in the "
            "artifact store and could not be uploaded from here"
        )
    return problems, notes


def prefetch_artifacts(repo: Repo, shas: Iterable[str]) -> list[str]:
    """Download the large artifacts of run commits ``shas`` into the local cache; notes."""
    digests: set[str] = set()
    for sha in shas:
        if sha:
            digests |= {str(e["sha256"]) for e in store_entries(repo, sha).values()}
    if not digests:
        return []
    transfer = _transfer()
    fetch = getattr(transfer, "prefetch", None) if transfer else None
    if fetch is None:
        return [f"{len(digests)} large artifact(s) stay remote: prefetch is not available here"]
    failed: dict[str, str] = fetch(repo, digests) or {}
    if failed:
        first = next(iter(failed.items()))
        return [
            f"{len(failed)} artifact(s) could not be downloaded (e.g. {first[0][:12]}: {first[1]})"
        ]
    return [f"downloaded {len(digests)} large artifact(s)"]
