"""MLflow's artifact repository for ``gittrack:`` artifact URIs (runs and logged models).

A run's files go through gittrack's artifact API (small files into the run's tree, large
ones to the content-addressed store); a logged model's files always go to the store and are
listed in the model's ``artifacts.yaml`` (:mod:`gittrack.core.logged_models`). Downloads
are verified against their sha256.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from gittrack.artifacts.paths import clean_artifact_path, join_artifact_path
from gittrack.errors import GittrackError
from gittrack.plugin import uris
from gittrack.plugin.tracking_store import client_for, mlflow_error, to_mlflow_error


class GitArtifactRepository(ArtifactRepository):
    """Artifacts of one run or logged model in a gittrack repository."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        try:
            self.loc = uris.parse_artifact_uri(artifact_uri)
            self.base = clean_artifact_path(self.loc.path, "artifact URI path")
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc
        self.client = client_for(self.loc.repo)

    # -- helpers ---------------------------------------------------------------------

    def _full(self, path: str | None) -> str:
        return join_artifact_path(self.base, clean_artifact_path(path))

    def _rel(self, full: str) -> str:
        return full[len(self.base) + 1 :] if self.base else full

    def _models(self) -> Any:
        from gittrack.core.logged_models import LoggedModelStore

        return LoggedModelStore(self.client.repo)

    def _put_model_files(self, items: list[tuple[str, str]]) -> None:
        from gittrack.artifacts.manifest import make_entry
        from gittrack.artifacts.storage import storage_for

        store = storage_for(self.client.repo).store
        entries = {}
        for local, path in items:
            res = store.put_file(local, desc=path)
            entries[path] = make_entry(res.sha256, res.size, "store")
        self._models().add_artifacts(self.loc.owner, entries)

    def _model_manifest(self) -> dict[str, Any]:
        return self._models().get(self.loc.owner, allow_deleted=True)["artifacts"]

    # -- ArtifactRepository --------------------------------------------------------

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        try:
            if self.loc.kind == "runs":
                self.client.log_artifact(self.loc.owner, local_file, self._full(artifact_path))
            else:
                name = clean_artifact_path(os.path.basename(local_file), "file name")
                self._put_model_files(
                    [(local_file, join_artifact_path(self._full(artifact_path), name))]
                )
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        try:
            if self.loc.kind == "runs":
                self.client.log_artifacts(
                    self.loc.owner, local_dir, self._full(artifact_path) or None
                )
            else:
                from gittrack.artifacts.log import collect_dir

                folder = self._full(artifact_path)
                items = [
                    (local, join_artifact_path(folder, clean_artifact_path(rel, "file name")))
                    for local, rel in collect_dir(local_dir)
                ]
                if items:
                    self._put_model_files(items)
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        try:
            full = self._full(path)
            if self.loc.kind == "runs":
                rows = self.client.list_artifacts(self.loc.owner, full or None)
            else:
                from gittrack.artifacts.manifest import list_children

                rows = list_children(self._model_manifest(), full)
        except GittrackError as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise to_mlflow_error(exc) from exc
        return [FileInfo(self._rel(r.path), r.is_dir, r.file_size) for r in rows if r.path != full]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        try:
            full = self._full(remote_file_path)
            if self.loc.kind == "runs":
                tmp = tempfile.mkdtemp(prefix="gittrack-dl-")
                try:
                    got = self.client.download_artifacts(self.loc.owner, full, tmp)
                    shutil.move(got, local_path)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            else:
                from gittrack.artifacts.storage import storage_for

                entry = self._model_manifest().get(full)
                if entry is None:
                    raise mlflow_error(
                        f"Logged model {self.loc.owner} has no artifact {full!r}",
                        "RESOURCE_DOES_NOT_EXIST",
                    )
                storage_for(self.client.repo).fetch(entry["sha256"], local_path, full)
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise mlflow_error(
            "gittrack keeps artifacts with the run's history and does not delete them; "
            "delete the run (and run 'gittrack gc') instead",
            "INVALID_PARAMETER_VALUE",
        )
