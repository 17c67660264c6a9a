"""What the SQL mirror reads from the repository: run refs, records, metric histories.

Records come from :meth:`gittrack.core.reader.Store.read_record`; the metric history
chunks (``.gittrack/metrics/<key>/<nnnnnn>.tsv``) are read from the same run
commit, and only from the chunk holding the first point the mirror lacks, so
syncing a live run again costs the new points, not its whole history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from gittrack.core.records import history
from gittrack.core.records.formats import CHUNK_POINTS, filename_to_key
from gittrack.errors import BadRecord
from gittrack.layout import EXPERIMENTS_REF, chunk_name
from gittrack.mirror.rows import RunRows, history_rows, run_rows

if TYPE_CHECKING:
    from gittrack.core.repo import Repo


class RepoSource:
    """Reads one repository's runs and experiments for the mirror."""

    def __init__(self, repo: str | os.PathLike[str] | Repo | None = None) -> None:
        from gittrack.core.reader import Store
        from gittrack.core.repo import Repo

        self.repo = repo if isinstance(repo, Repo) else Repo(repo)
        self.store = Store(self.repo)
        self.git = self.repo.git

    def run_refs(self) -> dict[str, str]:
        """run_id -> sha of its newest commit, for every run ref."""
        return self.store.run_refs()

    def experiments_commit(self) -> str | None:
        """The sha ``refs/gittrack/experiments`` points at, or None."""
        ref = self.git.references.get(EXPERIMENTS_REF)
        return str(ref.resolve().target) if ref is not None else None

    def experiments(self) -> dict[str, Any]:
        """Every experiment (deleted ones too, and the implicit "Default"): id -> fields.

        Raises:
            gittrack.errors.CorruptRecord: experiments.yaml cannot be read.
        """
        from gittrack.core.experiments import Experiments

        return {
            e.experiment_id: {
                "name": e.name,
                "artifact_location": e.artifact_location,
                "lifecycle_stage": e.lifecycle_stage,
                "creation_time": e.creation_time,
                "last_update_time": e.last_update_time,
                "description": e.description,
                "tags": e.tags,
            }
            for e in Experiments(self.repo).list()
        }

    def registry_commits(self) -> dict[str, str]:
        """Registry ref -> the sha it points at, for every registered model's ref."""
        from gittrack.remote.refs import is_registry_ref, local_refs

        return {ref: sha for ref, sha in local_refs(self.repo).items() if is_registry_ref(ref)}

    def registered_models(
        self, commits: Mapping[str, str]
    ) -> Iterator[tuple[str, str, Any, list[Any] | None]]:
        """For each registry ref of ``commits``: ``(ref, sha, model, live versions)`` as the
        Client returns them, skipping deleted models; ``(ref, sha, why, None)`` when its
        records cannot be read."""
        from gittrack.core.registry import RegistryStore, model_entity, version_entity
        from gittrack.errors import GittrackError

        store = RegistryStore(self.repo)
        for ref, sha in sorted(commits.items()):
            try:
                state = store.read_commit(self.git[sha])
            except GittrackError as exc:
                yield ref, sha, str(exc), None
                continue
            except Exception as exc:  # a YAML error: reported, the rest goes on
                yield ref, sha, f"unreadable: {type(exc).__name__}: {exc}", None
                continue
            if state.deleted:
                continue
            versions = [version_entity(state, rec) for rec in state.live_versions()]
            yield ref, sha, model_entity(state), versions

    def read(self, run_id: str, sha: str, have: Mapping[str, int] | None = None) -> RunRows:
        """The mirror rows of run ``run_id`` at commit ``sha``.

        Args:
            have: metric key -> number of history points the mirror already
                holds for this run; only later points are returned in
                ``metrics``. When the history no longer extends what the mirror
                holds, all of it is returned and ``RunRows.reset_history`` is set.

        Raises:
            BadRecord, gittrack.errors.CorruptRecord: the record is unreadable.
        """
        record = self.store.read_record(sha, run_id)
        status = self.store.derived_status(record["run"])
        rows = run_rows(run_id, sha, record, {}, status=status)
        history, start = self.history(sha, have or {})
        if have and (set(have) - set(history) or any(start[k] != have.get(k, 0) for k in history)):
            history, start = self.history(sha, {})
            rows.reset_history = True
        rows.tables["metrics"] = history_rows(run_id, history, start)
        return rows

    def status(self, sha: str) -> str:
        """The derived status (RUNNING, CRASHED, FINISHED, ...) of the record at ``sha``."""
        return self.store.derived_status(self.store.read_record(sha)["run"])

    def history(
        self, sha: str, have: Mapping[str, int]
    ) -> tuple[dict[str, tuple[list[int], list[float], list[int]]], dict[str, int]]:
        """Metric histories of commit ``sha`` from point ``have[key]`` on.

        Returns:
            (key -> (steps, values, timestamps), key -> seq of the first point returned)

        Raises:
            CorruptRecord: a chunk cannot be parsed.
        """
        mdir = history.metric_tree(self.git, sha)
        if mdir is None:
            return {}, {}
        out: dict[str, tuple[list[int], list[float], list[int]]] = {}
        start: dict[str, int] = {}
        for entry in mdir:
            if entry.type_str != "tree":
                continue
            key = filename_to_key(entry.name)
            chunks = history.chunk_list(self.git[entry.id])
            skip = have.get(key, 0) // CHUNK_POINTS
            if skip and not all(c[0] == chunk_name(i) for i, c in enumerate(chunks[: skip + 1])):
                skip = 0  # unexpected chunk names: read it all
            first = skip * CHUNK_POINTS
            steps, values, stamps = history.load_history(
                self.repo, self.git, chunks[skip:], run=sha[:12], key=key
            )
            drop = min(len(steps), max(0, have.get(key, 0) - first))
            out[key] = (steps[drop:], values[drop:], stamps[drop:])
            start[key] = first + drop
        return out, start


# -- reading many runs ---------------------------------------------------------

Item = tuple[str, str, "Mapping[str, int] | None"]  # run id, commit, history points held
Slice = tuple[list[str], list[RunRows], dict[str, str]]


def read_many(source: RepoSource, items: list[Item]) -> Slice:
    """Read ``items``; a run that cannot be read lands in the last result.

    Returns:
        (the run ids of ``items``, rows of the runs read, run id -> why it could not be read)
    """
    from gittrack.errors import GittrackError

    ok: list[RunRows] = []
    failed: dict[str, str] = {}
    for rid, sha, have in items:
        try:
            ok.append(source.read(rid, sha, have))
        except BadRecord as exc:  # names the field, not the run
            failed[rid] = f"Run {rid}: {exc}"
        except GittrackError as exc:
            failed[rid] = str(exc)
        except Exception as exc:  # a record malformed in a way nobody foresaw
            failed[rid] = f"Run {rid}: record is unreadable: {type(exc).__name__}: {exc}"
    return [item[0] for item in items], ok, failed


def read_slices(source: RepoSource, items: list[Item], size: int) -> Iterator[Slice]:
    """Read ``items`` in slices of ``size`` runs, so memory stays bounded.

    (Reading in worker processes was tried: on the 2-core benchmark machine it
    was slower, 56 s against 47 s for 10,000 runs, the rows' pickling eating the gain.)
    """
    for i in range(0, len(items), size):
        yield read_many(source, items[i : i + size])
