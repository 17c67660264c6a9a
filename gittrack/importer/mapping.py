"""Which MLflow run became which gittrack run, kept in the repository.

``refs/gittrack/imports/mlflow`` points at a commit whose tree holds one TSV file per
source (named by a hash of the source URI)::

    # source sqlite:///mlflow.db
    <mlflow run id>\t<gittrack run id>\t<fingerprint>\t<artifact problems, 0 = none>

A re-import skips runs whose fingerprint is unchanged; an interrupted import saved
the mapping every few hundred runs, so it resumes where it stopped. The ref travels
with ``gittrack push`` like the runs it describes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gittrack.core.gittree import commit_files
from gittrack.layout import IMPORTS_PREFIX

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

IMPORTS_REF = IMPORTS_PREFIX + "mlflow"


@dataclass
class Entry:
    """One imported run."""

    run_id: str  # gittrack run id
    fingerprint: str
    problems: int  # artifacts that could not be read at the source


def file_name(source_uri: str) -> str:
    return hashlib.sha256(source_uri.encode("utf-8")).hexdigest()[:16] + ".tsv"


class Mapping:
    """MLflow run id → :class:`Entry` for one source; ``save`` commits it."""

    def __init__(self, repo: Repo, source_uri: str) -> None:
        self.repo = repo
        self.source_uri = source_uri
        self.name = file_name(source_uri)
        self.entries: dict[str, Entry] = {}
        self._dirty = False
        ref = repo.git.references.get(IMPORTS_REF)
        if ref is not None:
            tree = repo.git[ref.target].tree
            if self.name in tree:
                import pygit2

                self._parse(tree[self.name].peel(pygit2.Blob).data.decode("utf-8"))

    def _parse(self, text: str) -> None:
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) >= 4:
                self.entries[parts[0]] = Entry(parts[1], parts[2], int(parts[3] or 0))

    def gittrack_ids(self) -> set[str]:
        return {e.run_id for e in self.entries.values()}

    def set(self, mlflow_id: str, entry: Entry) -> None:
        self.entries[mlflow_id] = entry
        self._dirty = True

    def save(self) -> None:
        """Commit the mapping (one commit on :data:`IMPORTS_REF`) when it changed."""
        if not self._dirty:
            return
        git = self.repo.git
        lines = [f"# source {self.source_uri}\n"] + [
            f"{mid}\t{e.run_id}\t{e.fingerprint}\t{e.problems}\n"
            for mid, e in sorted(self.entries.items())
        ]
        ref = git.references.get(IMPORTS_REF)
        commit_files(
            self.repo,
            IMPORTS_REF,
            {self.name: "".join(lines).encode("utf-8")},
            f"import mlflow: {len(self.entries)} runs from {self.source_uri}\n",
            parents=[ref.target] if ref is not None else [],
            base=git[ref.target].tree if ref is not None else None,
        )
        self._dirty = False
