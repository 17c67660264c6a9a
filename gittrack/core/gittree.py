"""Small helpers over pygit2 trees: apply path changes to a tree, read paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pygit2

    from gittrack.core.repo import Repo

# path -> (oid, filemode) to write, or None to remove
Changes = dict[str, "tuple[pygit2.Oid, int] | None"]
_E = TypeVar("_E")


def split_changes(changes: dict[str, _E]) -> tuple[dict[str, _E], dict[str, dict[str, _E]]]:
    """``changes`` split into the entries of this tree (``{name: entry}``) and those below
    it (``{subtree name: {path inside it: entry}}``)."""
    here: dict[str, _E] = {}
    below: dict[str, dict[str, _E]] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = entry
        else:
            here[head] = entry
    return here, below


def apply_changes(git: pygit2.Repository, base: pygit2.Oid | None, changes: Changes) -> pygit2.Oid:
    """Return the id of ``base`` (a tree id, or None for empty) with ``changes`` applied.

    Only the subtrees that contain a change are rebuilt.
    """
    import pygit2

    here, below = split_changes(changes)
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


def commit_files(
    repo: Repo,
    ref: str,
    files: Mapping[str, bytes],
    message: str,
    parents: list[pygit2.Oid | str],
    base: pygit2.Tree | None = None,
) -> pygit2.Oid:
    """Commit a one-level tree of ``files`` (name -> content; over ``base``'s entries when
    given) on ``parents`` with the repository's signature, and point ``ref`` at it. The
    way a small record (experiments, a logged model, an import mapping) is written."""
    import pygit2

    git = repo.git
    tb = git.TreeBuilder(base) if base is not None else git.TreeBuilder()
    for name, data in files.items():
        tb.insert(name, git.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
    sig = repo.signature()
    commit = git.create_commit(None, sig, sig, message, tb.write(), parents)
    git.references.create(ref, commit, force=True)
    return commit


# -- trees written into a pack --------------------------------------------------------

_TREE_MODE = 0o040000
# path -> (oid hex, filemode) to write, or None to remove
HexChanges = dict[str, "tuple[str, int] | None"]


class PackedTrees:
    """Builds trees as :func:`apply_changes` does, but into a
    :class:`~gittrack.core.pack.PackBuilder`, keeping the entries of the trees it made
    in memory (a writer's next checkpoint starts from them without reading git)."""

    def __init__(self, git: pygit2.Repository) -> None:
        self.git = git
        self._entries: dict[str, dict[str, tuple[int, str]]] = {}

    def entries(self, tree: str | None) -> dict[str, tuple[int, str]]:
        """``{name: (filemode, oid hex)}`` of the tree ``tree`` (empty for None)."""
        if tree is None:
            return {}
        got = self._entries.get(tree)
        if got is None:
            import pygit2

            tree_obj = self.git[pygit2.Oid(hex=tree)].peel(pygit2.Tree)
            got = {str(e.name): (e.filemode, str(e.id)) for e in tree_obj}
            self._entries[tree] = got
        return got

    def apply(self, pack: Any, base: str | None, changes: HexChanges) -> str:
        """The id of ``base`` with ``changes`` applied; new trees are added to ``pack``.
        A subtree left empty is removed."""
        here, below = split_changes(changes)
        entries = dict(self.entries(base))
        for name, sub in below.items():
            old = entries.get(name)
            sub_base = old[1] if old is not None and old[0] == _TREE_MODE else None
            new_sub = self.apply(pack, sub_base, sub)
            if self._entries[new_sub]:
                entries[name] = (_TREE_MODE, new_sub)
            else:
                entries.pop(name, None)
        for name, entry in here.items():
            if entry is None:
                entries.pop(name, None)
            else:
                entries[name] = (entry[1], entry[0])
        oid = pack.add("tree", tree_bytes(entries))
        self._entries[oid] = entries
        return oid

    def without(self, tree: str, name: str) -> str:
        """The id of ``tree`` less its entry ``name``, known from here on but not written
        (a base for :meth:`apply`, which puts ``name`` back)."""
        from gittrack.core.pack import object_id

        entries = dict(self.entries(tree))
        entries.pop(name, None)
        oid = object_id("tree", tree_bytes(entries)).hex()
        self._entries[oid] = entries
        return oid

    def forget_all_but(self, *roots: str | None) -> None:
        """Drop cached trees not reachable from ``roots`` (bounds memory across checkpoints)."""
        keep: dict[str, dict[str, tuple[int, str]]] = {}
        todo = [r for r in roots if r is not None]
        while todo:
            oid = todo.pop()
            got = self._entries.get(oid)
            if got is None or oid in keep:
                continue
            keep[oid] = got
            todo.extend(h for mode, h in got.values() if mode == _TREE_MODE)
        self._entries = keep


def tree_bytes(entries: dict[str, tuple[int, str]]) -> bytes:
    """A git tree object's content: entries in git's order (a tree sorts as ``name/``)."""
    order = sorted(entries, key=lambda n: n + "/" if entries[n][0] == _TREE_MODE else n)
    return b"".join(
        b"%o %s\0%s" % (entries[n][0], n.encode("utf-8"), bytes.fromhex(entries[n][1]))
        for n in order
    )
