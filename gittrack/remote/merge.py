"""Merging two diverged ``refs/gittrack/experiments`` histories.

Two clones that each create or change experiments end up with two histories
of ``experiments.yaml``. Experiment ids are derived from names and deletion is
a lifecycle change, never a removal, so the merge is a union by id: an id
changed on one side only takes that side; changed on both, the entry with the
newer ``last_update_time`` wins. The result is a merge commit with both sides
as parents, so both push and pull fast-forward afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.core.locks import FileLock
from gittrack.core.records import formats as records
from gittrack.errors import CorruptRecord
from gittrack.layout import EXPERIMENTS_FILE, EXPERIMENTS_REF

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

FILE = EXPERIMENTS_FILE


def _table(git: Any, sha: str | None) -> dict[str, Any]:
    if sha is None:
        return {}
    try:
        data = git[sha].tree[FILE].data
        table = records.load_yaml(data) or {}
    except KeyError:
        return {}
    except Exception as exc:  # noqa: BLE001 - yaml or object errors
        raise CorruptRecord("experiments", f"{EXPERIMENTS_REF} at {sha[:12]}: {exc}") from exc
    if not isinstance(table, dict):
        raise CorruptRecord("experiments", f"{FILE} at {sha[:12]} is not a mapping")
    return {str(k): v for k, v in table.items()}


def _stamp(entry: Any) -> int:
    if isinstance(entry, dict):
        value = entry.get("last_update_time") or entry.get("creation_time") or 0
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0
    return 0


def merge_tables(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """Three-way union of experiment tables by id (see the module docstring)."""
    merged: dict[str, Any] = {}
    for exp_id in list(ours) + [k for k in theirs if k not in ours]:
        mine, other = ours.get(exp_id), theirs.get(exp_id)
        if other is None or mine == other:
            merged[exp_id] = mine
        elif mine is None:
            merged[exp_id] = other
        elif base.get(exp_id) == mine:  # only they changed it
            merged[exp_id] = other
        elif base.get(exp_id) == other:  # only we changed it
            merged[exp_id] = mine
        else:
            merged[exp_id] = other if _stamp(other) > _stamp(mine) else mine
    return merged


def _experiments_lock(repo: Repo) -> FileLock:
    """Return the lock the experiments writer holds."""
    from gittrack.core.locks import experiments_lock

    return experiments_lock(repo)


def merge_experiments(repo: Repo, remote_sha: str) -> str:
    """Make the local experiments ref a merge of itself and ``remote_sha``; return the new sha.

    Holds the experiments lock so no local experiment change is lost meanwhile.
    When the local ref is missing, or one side already contains the other, the
    ref simply moves (or stays); otherwise a merge commit is written.

    Raises:
        CorruptRecord: either side's ``experiments.yaml`` cannot be read.
    """
    from gittrack.core.gittree import commit_files

    git = repo.git
    with _experiments_lock(repo):
        ref = git.references.get(EXPERIMENTS_REF)
        local = str(ref.target) if ref is not None else None
        if local is None or local == remote_sha or git.descendant_of(remote_sha, local):
            git.references.create(EXPERIMENTS_REF, remote_sha, force=True)
            return remote_sha
        if git.descendant_of(local, remote_sha):
            return local
        base_oid = git.merge_base(local, remote_sha)
        table = merge_tables(
            _table(git, str(base_oid) if base_oid else None),
            _table(git, local),
            _table(git, remote_sha),
        )
        return commit_files(
            repo,
            EXPERIMENTS_REF,
            {FILE: records.dump_yaml(table)},
            parents=[local, remote_sha],
            message="merge experiments from remote",
        )
