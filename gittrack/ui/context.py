"""What every UI endpoint needs: the server's Client, its store, and run-tree access.

The UI reads through the same :class:`~gittrack.api.client.Client` as the REST API,
on the same repository thread (:class:`gittrack.server.backend.Backend`): lists of
runs come from the query engine (:mod:`gittrack.ui.table`), run records from the
client's :class:`~gittrack.core.reader.Store`; files of a run commit that the store
does not interpret (metric chunks, inline artifacts, ``environment.yaml``) are read
from the run commit's tree by path, as laid out in ``docs/design.md``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from gittrack.core.records.formats import load_yaml
from gittrack.core.validation import is_run_id_prefix
from gittrack.errors import CorruptRecord, InvalidParameter, RunNotFound
from gittrack.layout import RECORD_DIR, run_ref

if TYPE_CHECKING:
    import pygit2

    from gittrack.api.client import Client
    from gittrack.core.reader import Store
    from gittrack.core.repo import Repo


class UIContext:
    """The repository of one :class:`~gittrack.api.client.Client`, as the UI reads it.

    Cheap to make: one per request, on the client's thread. ``lock`` is taken around
    git reads by the readers that share a context.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.repo: Repo = client.repo
        self.store: Store = client.store
        self.lock = threading.RLock()

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

    def run_record(self, run_id: str) -> tuple[str, str, dict[str, Any]]:
        """``(run_id, commit_sha, record)`` with the record as the store reads it."""
        full, sha = self.resolve(run_id)
        with self.lock:
            record = self.store.read_record(sha, full)
        return full, sha, record

    def record_tree(self, sha: str) -> pygit2.Tree | None:
        """The ``.gittrack`` tree of a run commit, or None if it has none."""
        import pygit2

        with self.lock:
            tree = self.git[sha].peel(pygit2.Commit).tree
            if RECORD_DIR not in tree:
                return None
            found = tree[RECORD_DIR]
            return found if isinstance(found, pygit2.Tree) else None

    def record_blob(self, sha: str, relpath: str) -> bytes | None:
        """Bytes of ``.gittrack/<relpath>`` in run commit ``sha``, or None if absent."""
        import pygit2

        with self.lock:
            tree = self.git[sha].peel(pygit2.Commit).tree
            try:
                entry = tree[f"{RECORD_DIR}/{relpath}"]
            except KeyError:
                return None
            return entry.data if isinstance(entry, pygit2.Blob) else None

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
        """Local branch name -> tip commit sha."""
        from gittrack.query.branches import local_branches

        return local_branches(self.repo)
