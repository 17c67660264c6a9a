"""Small helpers over pygit2 trees: apply path changes to a tree, read paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

# path -> (oid, filemode) to write, or None to remove
Changes = dict[str, "tuple[pygit2.Oid, int] | None"]


def apply_changes(git: pygit2.Repository, base: pygit2.Oid | None, changes: Changes) -> pygit2.Oid:
    """Return the id of ``base`` (a tree id, or None for empty) with ``changes`` applied.

    Only the subtrees that contain a change are rebuilt.
    """
    import pygit2

    here: dict[str, tuple[pygit2.Oid, int] | None] = {}
    below: dict[str, Changes] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = entry
        else:
            here[head] = entry
    base_tree = git[base].peel(pygit2.Tree) if base is not None else None
    tb = git.TreeBuilder(base_tree) if base_tree is not None else git.TreeBuilder()
    for name, sub in below.items():
        sub_base = None
        if base_tree is not None and name in base_tree:
            obj = base_tree[name]
            if obj.type == pygit2.GIT_OBJECT_TREE:
                sub_base = obj.id
        new_sub = apply_changes(git, sub_base, sub)
        if len(git[new_sub].peel(pygit2.Tree)) == 0:
            if tb.get(name) is not None:
                tb.remove(name)
        else:
            tb.insert(name, new_sub, pygit2.GIT_FILEMODE_TREE)
    for name, entry in here.items():
        if entry is None:
            if tb.get(name) is not None:
                tb.remove(name)
        else:
            tb.insert(name, entry[0], entry[1])
    return tb.write()


def subtree_id(git: pygit2.Repository, tree_id: pygit2.Oid | None, name: str) -> pygit2.Oid | None:
    """The id of the subtree ``name`` of ``tree_id``, or None."""
    import pygit2

    if tree_id is None:
        return None
    tree = git[tree_id].peel(pygit2.Tree)
    if name not in tree:
        return None
    obj = tree[name]
    return obj.id if obj.type == pygit2.GIT_OBJECT_TREE else None
