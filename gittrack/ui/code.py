"""Code views: the uncommitted change a run ran with, the code diff between two runs,
and the run's environment snapshot.

A run commit's tree is the exact source the run executed plus ``.gittrack/``;
its first parent chain ends at the source commit. So the uncommitted change is
the diff of the source commit's tree against the run tree without
``.gittrack/``, and two runs' code differs by the diff of their trees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.core.records.formats import RECORD_DIR
from gittrack.layout import ENVIRONMENT_FILE

if TYPE_CHECKING:
    import pygit2

    from gittrack.ui.context import UIContext

MAX_PATCH_CHARS = 2_000_000
MAX_FILES = 500


def diff_trees(git: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree) -> dict[str, Any]:
    """Files that differ between two trees, ``.gittrack/`` left out, with their patches.

    Returns ``{files: [{path, old_path, status, additions, deletions, binary, patch}],
    truncated}``; patches stop after ~2 MB of text in all.
    """
    diff = (
        old.diff_to_tree(new, context_lines=3) if old is not None else new.diff_to_tree(swap=True)
    )
    files: list[dict[str, Any]] = []
    budget = MAX_PATCH_CHARS
    truncated = False
    for i, delta in enumerate(diff.deltas):
        path = delta.new_file.path or delta.old_file.path
        if path == RECORD_DIR or path.startswith(RECORD_DIR + "/"):
            continue
        if len(files) >= MAX_FILES:
            truncated = True
            break
        patch = diff[i]
        _ctx, adds, dels = patch.line_stats if patch is not None else (0, 0, 0)
        binary = bool(delta.is_binary)
        text = ""
        if patch is not None and not binary and budget > 0:
            text = patch.text or ""
            if len(text) > budget:
                text, truncated = text[:budget], True
            budget -= len(text)
        elif budget <= 0:
            truncated = True
        files.append(
            {
                "path": path,
                "old_path": delta.old_file.path,
                "status": delta.status_char(),
                "additions": adds,
                "deletions": dels,
                "binary": binary,
                "patch": text,
            }
        )
    return {"files": files, "truncated": truncated}


def uncommitted_diff(ctx: UIContext, run_id: str) -> dict[str, Any]:
    """The change between a run's source commit and the code it actually ran.

    Returns ``{run_id, source_commit, files, truncated}`` (empty files: the run ran
    exactly the committed code; ``source_commit`` null: no source commit recorded).
    """
    import pygit2

    full, sha, record = ctx.run_record(run_id)
    source = (record.get("run") or {}).get("source") or {}
    base_id = source.get("commit")
    with ctx.lock:
        run_tree = ctx.git[sha].peel(pygit2.Commit).tree
        base_tree = None
        if base_id:
            try:
                base_tree = ctx.git[base_id].peel(pygit2.Commit).tree
            except (KeyError, ValueError, pygit2.GitError):
                base_tree = None
        if base_id and base_tree is None:
            return {
                "run_id": full,
                "source_commit": base_id,
                "missing": True,
                "files": [],
                "truncated": False,
            }
        out = diff_trees(ctx.git, base_tree, run_tree)
    return {"run_id": full, "source_commit": base_id, "missing": False, **out}


def runs_diff(ctx: UIContext, run_a: str, run_b: str) -> dict[str, Any]:
    """The code diff from run ``run_a``'s snapshot to run ``run_b``'s."""
    import pygit2

    a, sha_a = ctx.resolve(run_a)
    b, sha_b = ctx.resolve(run_b)
    with ctx.lock:
        tree_a = ctx.git[sha_a].peel(pygit2.Commit).tree
        tree_b = ctx.git[sha_b].peel(pygit2.Commit).tree
        out = diff_trees(ctx.git, tree_a, tree_b)
    return {"run_a": a, "run_b": b, **out}


def environment(ctx: UIContext, run_id: str) -> dict[str, Any]:
    """The run's ``environment.yaml`` (Python, platform, packages...) as JSON.

    Returns ``{run_id, summary, environment}`` with ``environment`` null when none was
    recorded and ``summary`` a one-line description (``CPython 3.11.7, Linux x86_64, …``).
    """
    full, sha = ctx.resolve(run_id)
    env = ctx.record_yaml(full, sha, ENVIRONMENT_FILE)
    summary = None
    if isinstance(env, dict):
        try:
            from gittrack.env.environment import summary as summarize

            summary = summarize(env)
        except Exception:  # an older or foreign snapshot: show it without a summary
            summary = None
    return {"run_id": full, "summary": summary, "environment": env}


def environment_diff(ctx: UIContext, run_a: str, run_b: str) -> dict[str, Any]:
    """What changed in the environment from run ``run_a`` to run ``run_b`` (Python,
    platform, package versions...): the changes ``gittrack env diff`` prints.

    Returns ``{run_a, run_b, recorded: [bool, bool], changes: [{key, change, old, new}]}``;
    ``changes`` is empty when either run recorded no snapshot (``recorded`` says which).
    """
    from gittrack.env.environment import diff

    a, b = environment(ctx, run_a), environment(ctx, run_b)
    env_a, env_b = a["environment"], b["environment"]
    recorded = [isinstance(env_a, dict), isinstance(env_b, dict)]
    changes = diff(env_a, env_b) if all(recorded) else []
    return {
        "run_a": a["run_id"],
        "run_b": b["run_id"],
        "recorded": recorded,
        "changes": [c.to_dict() for c in changes],
    }
