"""Restoring and comparing the code a run executed."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.core.gittree import apply_changes, subtree_id
from gittrack.core.records import formats as records
from gittrack.errors import GittrackError, RepositoryError

if TYPE_CHECKING:
    import pygit2

    from gittrack.api.client import Client
    from gittrack.core.entities import Run


def source_tree(client: Client, run: Run) -> pygit2.Oid | None:
    """The tree of the code ``run`` executed: its snapshot without the run's records
    (a ``.gittrack/`` folder the source itself had is kept as it was)."""
    import pygit2

    git = client.repo.git
    root = git[run.commit].tree_id
    src_commit = (run.record.get("source") or {}).get("commit")
    own = None
    if src_commit and src_commit in git:
        own = subtree_id(git, git[src_commit].tree_id, records.RECORD_DIR)
    entry = (own, pygit2.GIT_FILEMODE_TREE) if own is not None else None
    return apply_changes(git, root, {records.RECORD_DIR: entry})


def code_diff(client: Client, a: Run, b: Run) -> str:
    """A unified diff between the code of two runs."""
    git = client.repo.git
    ta, tb = source_tree(client, a), source_tree(client, b)
    if ta == tb:
        return ""
    return git.diff(git[ta], git[tb]).patch or ""


def _write_tree(git: Any, tree: Any, dest: Path) -> int:
    import pygit2

    n = 0
    for entry in tree:
        target = dest / entry.name
        if entry.type == pygit2.GIT_OBJECT_TREE:
            target.mkdir(exist_ok=True)
            n += _write_tree(git, git[entry.id], target)
        elif entry.filemode == pygit2.GIT_FILEMODE_LINK:
            os.symlink(git[entry.id].data.decode("utf-8", "surrogateescape"), target)
            n += 1
        elif entry.type == pygit2.GIT_OBJECT_BLOB:
            target.write_bytes(git[entry.id].data)
            if entry.filemode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE:
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            n += 1
    return n


def checkout_run(client: Client, run_id: str, path: str | None = None) -> str:
    """Restore the code of a run; return a sentence saying what was done.

    With ``path``: write the snapshot into that new or empty directory. Without:
    detach HEAD at the run's source commit and restore its uncommitted changes in
    the working tree, which must have no uncommitted changes of its own.
    """
    run = client.get_run(run_id)
    git = client.repo.git
    tree_id = source_tree(client, run)
    if path is not None:
        dest = Path(path)
        if dest.exists() and any(dest.iterdir()):
            raise GittrackError(f"{dest} is not empty: give a new or empty directory")
        dest.mkdir(parents=True, exist_ok=True)
        n = _write_tree(git, git[tree_id], dest)
        return f"wrote {n} files of run {run.info.run_id[:8]} ({run.info.run_name}) to {dest}"
    workdir = client.repo.workdir
    if workdir is None:
        raise RepositoryError("The repository is bare: use --path DIR")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if status.stdout.strip():
        raise RepositoryError(
            "The working tree has uncommitted changes; commit or stash them first, "
            "or use --path DIR to write the run's code elsewhere"
        )
    src = (run.record.get("source") or {}).get("commit")
    if src and src in git:
        res = subprocess.run(
            ["git", "checkout", "-q", "--detach", src],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise RepositoryError(f"git checkout {src[:12]} failed: {res.stderr.strip()}")
        base = git[src].tree
    else:
        base = None
    changed = write_changes(git, base, tree_id, Path(workdir))
    where = f"HEAD detached at {src[:8]}" if src else "no source commit"
    return (
        f"checked out run {run.info.run_id[:8]} ({run.info.run_name}): {where}, "
        f"{changed} uncommitted change(s) restored"
    )


def write_changes(git: Any, base: Any, tree_id: Any, workdir: Path) -> int:
    """Make the files of ``workdir`` (a checkout of tree ``base``, or empty when
    ``base`` is None) those of tree ``tree_id``: write what differs, delete what is gone.

    Returns:
        The number of files written or deleted.
    """
    import pygit2

    diff = git.diff(base, git[tree_id]) if base is not None else None
    changed = 0
    if diff is None:
        return _write_tree(git, git[tree_id], workdir)
    for delta in diff.deltas:
        target = workdir / delta.new_file.path
        if delta.status_char() == "D":
            if target.exists() or target.is_symlink():
                target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            blob = git[delta.new_file.id]
            if delta.new_file.mode == pygit2.GIT_FILEMODE_LINK:
                os.symlink(blob.data.decode("utf-8", "surrogateescape"), target)
            else:
                target.write_bytes(blob.data)
                if delta.new_file.mode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE:
                    target.chmod(target.stat().st_mode | stat.S_IXUSR)
        changed += 1
    return changed
