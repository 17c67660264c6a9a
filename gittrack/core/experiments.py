"""Experiments: stable id ↔ name, kept as ``experiments.yaml`` on ``refs/gittrack/experiments``.

Ids are derived from the name (a hash), so two clones that create the same
experiment independently agree on its id, and their records merge cleanly.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import Experiment
from gittrack.core.gittree import commit_files
from gittrack.core.locks import FileLock, experiments_lock
from gittrack.core.records import formats as records
from gittrack.core.validation import validate_experiment_id, validate_experiment_name
from gittrack.errors import AlreadyExists, CorruptRecord, ExperimentNotFound, InvalidParameter
from gittrack.layout import EXPERIMENTS_FILE, EXPERIMENTS_REF

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"


def id_for_name(name: str, salt: int = 0) -> str:
    digest = hashlib.sha256(f"{name}\0{salt}".encode() if salt else name.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**18)


def _now() -> int:
    return int(time.time() * 1000)


class Experiments:
    """Read and change the experiments of a repository (writes are serialised by a lock)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._cache: tuple[str, dict[str, dict[str, Any]]] | None = None

    def _read(self) -> dict[str, dict[str, Any]]:
        import pygit2

        ref = self.repo.git.references.get(EXPERIMENTS_REF)
        if ref is None:
            table: dict[str, dict[str, Any]] = {}
        else:
            sha = str(ref.target)
            if self._cache and self._cache[0] == sha:
                return self._cache[1]
            try:
                blob = self.repo.git[sha].tree[EXPERIMENTS_FILE].peel(pygit2.Blob)
                table = records.load_yaml(blob.data) or {}
            except Exception as exc:
                raise CorruptRecord("experiments", f"{EXPERIMENTS_REF}: {exc}") from exc
            if not isinstance(table, dict):
                raise CorruptRecord("experiments", f"{EXPERIMENTS_FILE} is not a mapping")
            table = {str(k): v for k, v in table.items()}
            self._cache = (sha, table)
        if DEFAULT_ID not in table:
            table = {
                DEFAULT_ID: {
                    "name": DEFAULT_NAME,
                    "lifecycle_stage": "active",
                    "tags": {},
                    "creation_time": None,
                    "last_update_time": None,
                },
                **table,
            }
        return table

    def _write(self, table: dict[str, dict[str, Any]], message: str) -> None:
        ref = self.repo.git.references.get(EXPERIMENTS_REF)
        commit_files(
            self.repo,
            EXPERIMENTS_REF,
            {EXPERIMENTS_FILE: records.dump_yaml(table)},
            message + "\n",
            parents=[ref.target] if ref is not None else [],
        )
        self._cache = None

    def _locked(self) -> FileLock:
        return experiments_lock(self.repo)

    @staticmethod
    def _entity(exp_id: str, e: dict[str, Any]) -> Experiment:
        return Experiment(
            experiment_id=exp_id,
            name=str(e.get("name")),
            artifact_location=str(e.get("artifact_location") or ""),
            lifecycle_stage=str(e.get("lifecycle_stage") or "active"),
            tags={str(k): str(v) for k, v in (e.get("tags") or {}).items()},
            creation_time=e.get("creation_time"),
            last_update_time=e.get("last_update_time"),
            description=str((e.get("tags") or {}).get("mlflow.note.content", "")),
        )

    # -- reading --------------------------------------------------------------

    def list(self) -> list[Experiment]:
        return [self._entity(k, v) for k, v in self._read().items()]

    def get(self, experiment_id: str) -> Experiment:
        experiment_id = validate_experiment_id(experiment_id)
        e = self._read().get(experiment_id)
        if e is None:
            raise ExperimentNotFound(f"with id {experiment_id!r}")
        return self._entity(experiment_id, e)

    def get_by_name(self, name: str) -> Experiment | None:
        for exp_id, e in self._read().items():
            if e.get("name") == name:
                return self._entity(exp_id, e)
        return None

    # -- writing --------------------------------------------------------------

    def create(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create an experiment; return its id. Raises AlreadyExists for a taken name."""
        name = validate_experiment_name(name)
        with self._locked():
            table = dict(self._read())
            for exp_id, e in table.items():
                if e.get("name") == name:
                    state = " (deleted)" if e.get("lifecycle_stage") == "deleted" else ""
                    raise AlreadyExists(
                        f"Experiment(name={name}) already exists{state} with id {exp_id}"
                    )
            salt = 0
            exp_id = id_for_name(name)
            while exp_id in table:
                salt += 1
                exp_id = id_for_name(name, salt)
            now = _now()
            table[exp_id] = {
                "name": name,
                "artifact_location": artifact_location or "",
                "lifecycle_stage": "active",
                "tags": {str(k): str(v) for k, v in (tags or {}).items()},
                "creation_time": now,
                "last_update_time": now,
            }
            self._write(table, f"create experiment {name!r} ({exp_id})")
        return exp_id

    def _update(self, experiment_id: str, message: str, fn: Any) -> None:
        experiment_id = validate_experiment_id(experiment_id)
        with self._locked():
            table = {k: dict(v) for k, v in self._read().items()}
            if experiment_id not in table:
                raise ExperimentNotFound(f"with id {experiment_id!r}")
            fn(table, table[experiment_id])
            table[experiment_id]["last_update_time"] = _now()
            self._write(table, message)

    def delete(self, experiment_id: str) -> None:
        if str(experiment_id) == DEFAULT_ID:
            raise InvalidParameter("Cannot delete the default experiment '0'")

        def fn(table: dict, e: dict) -> None:
            e["lifecycle_stage"] = "deleted"

        self._update(experiment_id, f"delete experiment {experiment_id}", fn)

    def restore(self, experiment_id: str) -> None:
        def fn(table: dict, e: dict) -> None:
            e["lifecycle_stage"] = "active"

        self._update(experiment_id, f"restore experiment {experiment_id}", fn)

    def rename(self, experiment_id: str, new_name: str) -> None:
        new_name = validate_experiment_name(new_name)

        def fn(table: dict, e: dict) -> None:
            for other_id, other in table.items():
                if other.get("name") == new_name and other_id != experiment_id:
                    raise AlreadyExists(f"Experiment(name={new_name}) already exists")
            e["name"] = new_name

        self._update(experiment_id, f"rename experiment {experiment_id} to {new_name!r}", fn)

    def set_tag(self, experiment_id: str, key: str, value: Any) -> None:
        from gittrack.core.validation import validate_key, validate_tag_value

        validate_key(key, "tag")
        text = validate_tag_value(key, value)

        def fn(table: dict, e: dict) -> None:
            e["tags"] = {**(e.get("tags") or {}), key: text}

        self._update(experiment_id, f"tag experiment {experiment_id}: {key}", fn)

    def delete_tag(self, experiment_id: str, key: str) -> None:
        def fn(table: dict, e: dict) -> None:
            tags = dict(e.get("tags") or {})
            if key not in tags:
                raise InvalidParameter(
                    f"No tag with name: {key} in experiment with id {experiment_id}"
                )
            del tags[key]
            e["tags"] = tags

        self._update(experiment_id, f"untag experiment {experiment_id}: {key}", fn)
