"""What every UI endpoint needs: the repository, its store, and run-tree access.

The UI reads run records through :class:`gittrack.core.reader.Store`; files of a run
commit that the store does not interpret (metric chunks, inline artifacts,
``environment.yaml``) are read from the run commit's tree by path, as laid out
in ``docs/design.md``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from gittrack.core.records.formats import load_yaml
from gittrack.core.validation import is_run_id_prefix
from gittrack.errors import CorruptRecord, InvalidParameter, RunNotFound
from gittrack.layout import RECORD_DIR, RUNS_PREFIX, run_ref

if TYPE_CHECKING:
    import pygit2

    from gittrack.core.reader import Store
    from gittrack.core.repo import Repo


class UIContext:
    """One repository opened for the UI; safe to share between request threads."""

    def __init__(self, repo_path: str | None) -> None:
        from gittrack.core.reader import Store
        from gittrack.core.repo import Repo

        self.repo: Repo = Repo(repo_path)
        self.store: Store = Store(self.repo)
        self.lock = threading.RLock()
        self._branch_cache: dict[tuple[str, str], bool] = {}

    @property
    def git(self) -> pygit2.Repository:
        return self.repo.git

    # --- runs ------------------------------------------------------------------

    def resolve(self, run_id: str) -> tuple[str, str]:
        """``(run_id, commit_sha)`` for a run id or unique prefix.

        Raises:
            InvalidParameter: ``run_id`` is empty or not hexadecimal.
            RunNotFound: no run has that id.
        """
        if not is_run_id_prefix(str(run_id).lower()):
            raise InvalidParameter(f"Invalid run id {run_id!r}: expected hexadecimal characters")
        with self.lock:
            full = self.store.resolve_run_id(run_id.lower())
            ref = self.git.references.get(run_ref(full))
        if ref is None:
            raise RunNotFound(run_id)
        return full, str(ref.target)

    def refs_signature(self) -> tuple[object, ...]:
        """Changes whenever a run ref is created, moved or deleted, at the cost of two
        ``stat`` calls: git (and libgit2) update a ref by renaming a lock file inside its
        folder, which moves the folder's mtime; packing refs rewrites ``packed-refs``."""
        import os

        sig: list[object] = []
        for path in (
            self.repo.common_dir / RUNS_PREFIX.rstrip("/"),
            self.repo.common_dir / "packed-refs",
        ):
            try:
                st = os.stat(path)
                sig.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def run_record(self, run_id: str) -> tuple[str, str, dict[str, Any]]:
        """``(run_id, commit_sha, record)`` with the record as the store reads it."""
        full, sha = self.resolve(run_id)
        with self.lock:
            record = self.store.read_record(sha)
        return full, sha, record

    def record_tree(self, sha: str) -> pygit2.Tree | None:
        """The ``.gittrack`` tree of a run commit, or None if it has none."""
        import pygit2

        with self.lock:
            tree = self.git[sha].peel(pygit2.Commit).tree
            if RECORD_DIR not in tree:
                return None
            return self.git[tree[RECORD_DIR].id]

    def record_blob(self, sha: str, relpath: str) -> bytes | None:
        """Bytes of ``.gittrack/<relpath>`` in run commit ``sha``, or None if absent."""
        import pygit2

        with self.lock:
            tree = self.git[sha].peel(pygit2.Commit).tree
            try:
                entry = tree[f"{RECORD_DIR}/{relpath}"]
            except KeyError:
                return None
            obj = self.git[entry.id]
            if obj.type != pygit2.GIT_OBJECT_BLOB:
                return None
            return obj.data

    def record_yaml(self, run_id: str, sha: str, relpath: str) -> Any:
        """A YAML file of the record, parsed with the safe loader (None if absent)."""
        data = self.record_blob(sha, relpath)
        if data is None:
            return None
        try:
            return load_yaml(data)
        except Exception as exc:  # yaml.YAMLError and friends
            raise CorruptRecord(run_id, f"{relpath}: {exc}") from exc

    # --- branches ----------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """Local branch name -> tip commit sha.

        Asks ``git for-each-ref refs/heads/``, which reads only the branch refs
        (libgit2's branch listing walks every ref, 10,000 run refs included).
        """
        import subprocess

        try:
            out = subprocess.run(
                ["git", "for-each-ref", "refs/heads/", "--format=%(objectname) %(refname)"],
                cwd=self.repo.common_dir,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return self._branches_pygit2()
        tips: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            if ref.startswith("refs/heads/"):
                tips[ref[len("refs/heads/") :]] = sha
        return tips

    def _branches_pygit2(self) -> dict[str, str]:
        import pygit2

        out: dict[str, str] = {}
        with self.lock:
            for name in self.git.branches.local:
                try:
                    out[name] = str(self.git.branches.local[name].peel(pygit2.Commit).id)
                except (KeyError, pygit2.GitError):
                    continue
        return out

    def on_branch(self, source_commit: str | None, tip: str) -> bool:
        """True when ``source_commit`` is reachable from the branch tip ``tip``."""
        if not source_commit:
            return False
        if source_commit == tip:
            return True
        key = (source_commit, tip)
        hit = self._branch_cache.get(key)
        if hit is None:
            import pygit2

            try:
                with self.lock:
                    hit = bool(self.git.descendant_of(tip, source_commit))
            except (KeyError, ValueError, pygit2.GitError):
                hit = False
            self._branch_cache[key] = hit
        return hit
