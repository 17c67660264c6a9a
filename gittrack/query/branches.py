"""Which runs belong to which branch: source commits reachable from branch tips.

A run belongs to a branch when its source commit is reachable from the branch
tip. Reachability is computed once per (tip, source commit) pair with the
commit graph — a ``descendant_of`` check for a few new commits, one history
walk per tip for many — and cached in the index's ``reach`` table. The pairs
are facts about immutable commits, so the cache never goes stale; a moved tip
is simply a new tip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gittrack.errors import InvalidParameter

if TYPE_CHECKING:
    from gittrack.core.repo import Repo
    from gittrack.query.index import Index

_FEW = 8  # up to this many unknown commits per tip: descendant_of each; more: one walk


def all_branches(repo: Repo) -> dict[str, str]:
    """``{short name: tip sha}`` of local and remote-tracking branches (no ``*/HEAD``);
    a local branch wins over a remote-tracking one of the same short name."""
    out: dict[str, str] = {}
    for name, sha in _branch_refs(repo, ("refs/heads/", "refs/remotes/")):
        short = name.split("/", 2)[2]
        if name.startswith("refs/remotes/") and short.endswith("/HEAD"):
            continue
        out.setdefault(short, sha)
    return out


def local_branches(repo: Repo) -> dict[str, str]:
    """``{name: tip sha}`` of the local branches."""
    return {name[len("refs/heads/") :]: sha for name, sha in _branch_refs(repo, ("refs/heads/",))}


def _branch_refs(repo: Repo, prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """``(full ref name, commit sha)`` of the refs under ``prefixes``, sorted by name.

    Asks ``git for-each-ref``, which reads only those refs: libgit2 lists every ref,
    so 10,000 run refs cost it ~0.35 s per call. Falls back to pygit2 when git cannot run.
    """
    import subprocess

    try:
        text = subprocess.run(
            ["git", "--git-dir", str(repo.common_dir), "for-each-ref",
             "--format=%(objectname) %(refname)", *prefixes],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return _branch_refs_pygit2(repo, prefixes)
    out = []
    for line in text.splitlines():
        sha, _, name = line.partition(" ")
        out.append((name, sha))
    return out


def _branch_refs_pygit2(repo: Repo, prefixes: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    git = repo.git
    for name in sorted(git.references):
        if not name.startswith(tuple(prefixes)):
            continue
        try:
            out.append((name, str(git.references[name].peel().id)))
        except Exception:  # noqa: BLE001 - a dangling or symbolic ref that resolves to nothing
            continue
    return out


def _current_branch(repo: Repo) -> str | None:
    """The short name of the branch HEAD points at, or None (detached, or no HEAD)."""
    try:
        target = repo.git.references["HEAD"].target
    except (KeyError, ValueError):
        return None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target[len("refs/heads/") :]
    return None


def resolve_branches(repo: Repo, branches: str | Sequence[str]) -> dict[str, str]:
    """Branch names (``"*"`` for all, sorted) → ``{name: tip sha}``, in the order given.

    Accepts ``main``, ``origin/main``, ``refs/heads/main``, ``refs/remotes/origin/main``,
    and ``HEAD`` for the branch checked out (``main`` or ``master``, whatever it is).

    Raises:
        InvalidParameter: naming a branch that does not exist, and listing those that do.
    """
    if isinstance(branches, str):
        branches = [branches]
    known = all_branches(repo)
    out: dict[str, str] = {}
    for name in branches:
        if not isinstance(name, str) or not name:
            raise InvalidParameter(f"Invalid branch name {name!r}")
        if name == "HEAD":
            current = _current_branch(repo)
            if current is None or current not in known:
                raise InvalidParameter(
                    "HEAD is not on a branch with commits (detached, or no commit yet): "
                    "name a branch instead (branches: "
                    + (", ".join(sorted(known)[:20]) or "none")
                    + ")"
                )
            out.setdefault(current, known[current])
            continue
        if name == "*":
            for short in sorted(known):
                out.setdefault(short, known[short])
            continue
        short = name
        for prefix in ("refs/heads/", "refs/remotes/"):
            if name.startswith(prefix):
                short = name[len(prefix) :]
        if short not in known:
            shown = ", ".join(sorted(known)[:20]) or "none"
            raise InvalidParameter(
                f"Unknown branch {name!r}: no local or remote-tracking branch of that name "
                f"(branches: {shown})"
            )
        out[short] = known[short]
    return out


def reachable_sources(
    index: Index, tips: dict[str, str], sources: Iterable[str]
) -> dict[str, list[str]]:
    """``{source commit: [branch names whose tip reaches it]}`` for the given commits.

    Commits no tip reaches are left out.
    """
    import pygit2

    git = index.repo.git
    sources = [s for s in set(sources) if s]
    result: dict[str, list[str]] = {}
    new_rows: list[tuple[str, str, int]] = []
    conn = index.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS want(commit_sha TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.want")
    conn.executemany("INSERT INTO temp.want VALUES (?)", ((s,) for s in sources))
    for name, tip in tips.items():
        known = dict(
            conn.execute(
                "SELECT commit_sha, reachable FROM reach WHERE tip = ? "
                "AND commit_sha IN (SELECT commit_sha FROM temp.want)",
                (tip,),
            )
        )
        unknown = {s for s in sources if s not in known}
        if unknown:
            found = _reach(git, tip, unknown, pygit2)
            for s in unknown:
                known[s] = int(s in found)
                new_rows.append((tip, s, known[s]))
        for s, ok in known.items():
            if ok:
                result.setdefault(s, []).append(name)
    if new_rows:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO reach VALUES (?,?,?)", new_rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result


def _reach(git: object, tip: str, candidates: set[str], pygit2: object) -> set[str]:
    """The subset of ``candidates`` reachable from ``tip`` (a commit reaches itself)."""
    found = {c for c in candidates if c == tip}
    rest = candidates - found
    if not rest:
        return found
    tip_oid = pygit2.Oid(hex=tip)  # type: ignore[attr-defined]
    if len(rest) <= _FEW:
        for c in rest:
            try:
                if git.descendant_of(tip_oid, pygit2.Oid(hex=c)):  # type: ignore[attr-defined]
                    found.add(c)
            except (KeyError, ValueError, pygit2.GitError):  # type: ignore[attr-defined]
                continue  # a source commit this clone does not have
        return found
    walker = git.walk(tip_oid)  # type: ignore[attr-defined]
    for commit in walker:
        h = str(commit.id)
        if h in rest:
            found.add(h)
            rest.discard(h)
            if not rest:
                break
    return found
