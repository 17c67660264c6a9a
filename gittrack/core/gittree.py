"""Small helpers over pygit2 trees: apply path changes to a tree, read paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pygit2

    from gittrack.core.bulk import Batch
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
    from gittrack.core.gitwrite import retry_write

    return retry_write(tb.write)


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


def commit_bytes(tree: str, parents: list[str], message: str, name: str, email: str) -> bytes:
    """A git commit object's content: ``tree`` and ``parents`` (hex ids), authored and
    committed by ``name <email>`` now, in this machine's time zone."""
    import time

    t = time.time()
    offset = time.localtime(t).tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    stamp = f"{int(t)} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    who = f"{name} <{email}> {stamp}"
    head = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
    return f"{head}author {who}\ncommitter {who}\n\n{message}".encode()


def commit_files(
    repo: Repo,
    ref: str,
    files: Mapping[str, bytes | None],
    message: str,
    parents: Sequence[pygit2.Oid | str],
    base: pygit2.Tree | str | None = None,
    *,
    batch: Batch | None = None,
) -> str:
    """The one writer of gittrack's small record refs (experiments, logged models, the
    import mapping, an experiments merge): a commit on ``parents`` of ``base`` (a tree or
    its id; empty when None) with ``files`` (path → content, None to remove) applied,
    signed by the repository's user; points ``ref`` at it and returns its id. The caller
    holds the ref's lock.

    The new objects go into one kept pack (:mod:`gittrack.core.pack`, never loose
    objects, which race ``git repack``'s prune-packed), then the ref moves, then the
    pack's ``.keep`` goes. With ``batch`` (:class:`gittrack.core.bulk.Batch`) they go
    into the batch's pack and the batch moves the ref.
    """
    from gittrack.core.gitwrite import retry_write, write_ref
    from gittrack.core.pack import PackBuilder
    from gittrack.core.pack import release as pack_release

    pack = batch.pack if batch is not None else PackBuilder()
    hex_changes: HexChanges = {
        path: None if data is None else (pack.add("blob", data), 0o100644)
        for path, data in files.items()
    }
    base_id = base if isinstance(base, str) or base is None else str(base.id)
    tree = PackedTrees(repo.git).apply(pack, base_id, hex_changes)
    sig = repo.signature()
    text = message.rstrip("\n") + "\n"
    hexes = [str(p) for p in parents]
    commit = pack.add("commit", commit_bytes(tree, hexes, text, sig.name, sig.email))
    if batch is not None:
        batch.stage_ref(ref, commit)
        return commit
    common = repo.common_dir
    written = retry_write(lambda: pack.write(common / "objects"))
    write_ref(common, ref, commit)
    if written is not None:
        import time

        pack_release(written, ref_moved_at=time.time_ns(), common_dir=common)
    return commit
