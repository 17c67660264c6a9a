"""MLflow's model registry store over a git repository: ``gittrack:///repo`` as registry URI
(by default MLflow's registry URI is the tracking URI, so ``MLFLOW_TRACKING_URI`` is enough).

Each call is checked against the REST table (:mod:`gittrack.server.schema`) and answered by
the gittrack server's own registry handlers (:mod:`gittrack.server.registry`), whose JSON is
read into MLflow's entities here: a version registered by ``mlflow.register_model`` under a
``gittrack:`` URI is the same record as one registered through ``gittrack server`` or
gittrack's Python API, and is pushed and pulled with the repository. A version's files are
downloaded through ``gittrack:`` artifact URIs (:mod:`gittrack.plugin.artifact_repo`), so
``models:/name@alias`` and ``models:/name/3`` load.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.protos import model_registry_pb2
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore

from gittrack.errors import GittrackError
from gittrack.plugin import uris
from gittrack.plugin.tracking_store import client_for, from_json, to_mlflow_error, translated
from gittrack.server import registry as rest


class PluginRoots:
    """Artifact roots as ``gittrack:`` URIs of one repository."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = repo_path

    def run(self, client: Any, run_id: str) -> str:
        client.get_run(run_id)  # a missing run says so here, not at download
        return uris.artifact_uri(self.repo_path, "runs", run_id)

    def model(self, client: Any, model_id: str) -> str:
        from gittrack.core.logged_models import LoggedModelStore

        LoggedModelStore(client.repo).get(model_id, allow_deleted=True)
        return uris.artifact_uri(self.repo_path, "models", model_id)


def _model(d: dict[str, Any]) -> RegisteredModel:
    rm: RegisteredModel = from_json(d, model_registry_pb2.RegisteredModel, RegisteredModel)
    return rm


def _version(d: dict[str, Any]) -> ModelVersion:
    mv: ModelVersion = from_json(d, model_registry_pb2.ModelVersion, ModelVersion)
    return mv


def _kv(tags: Any) -> list[dict[str, str]] | None:
    if not tags:
        return None
    if isinstance(tags, dict):
        return [{"key": k, "value": v} for k, v in tags.items()]
    return [{"key": t.key, "value": t.value} for t in tags]


class GitRegistryStore(AbstractStore):
    """MLflow's model registry ``AbstractStore`` answered by a gittrack repository."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        try:
            repo_path = uris.repo_path_of(store_uri or "gittrack:")
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc
        self.client = client_for(repo_path)
        self.repo_path = str(self.client.repo.workdir or self.client.repo.gitdir)
        self.roots = PluginRoots(self.repo_path)
        self._lock = threading.RLock()

    def _call(self, handler: Any, endpoint: str, /, **fields: Any) -> dict[str, Any]:
        """The answer of ``handler``, the server's handler of REST endpoint ``endpoint``
        (its key), to ``fields`` (None: not given), checked as the server checks a request."""
        from gittrack.server.schema import BY_KEY
        from gittrack.server.wire import parse

        args = parse(BY_KEY[endpoint], {k: v for k, v in fields.items() if v is not None})
        result: dict[str, Any] = handler(self.client, args)
        return result

    def _search(
        self,
        handler: Any,
        endpoint: str,
        key: str,
        entity: Any,
        filter_string: str | None,
        max_results: int | None,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> PagedList[Any]:
        out = self._call(
            handler,
            endpoint,
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        return PagedList([entity(d) for d in out.get(key, [])], out.get("next_page_token"))

    # -- registered models ------------------------------------------------------------

    @translated
    def create_registered_model(
        self,
        name: str,
        tags: Any = None,
        description: str | None = None,
        deployment_job_id: Any = None,
    ) -> RegisteredModel:
        out = self._call(
            rest.create_model,
            "registered-models/create",
            name=name,
            tags=_kv(tags),
            description=description,
        )
        return _model(out["registered_model"])

    @translated
    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: Any = None
    ) -> RegisteredModel:
        out = self._call(
            rest.update_model, "registered-models/update", name=name, description=description
        )
        return _model(out["registered_model"])

    @translated
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        out = self._call(
            rest.rename_model, "registered-models/rename", name=name, new_name=new_name
        )
        return _model(out["registered_model"])

    @translated
    def delete_registered_model(self, name: str) -> None:
        self._call(rest.delete_model, "registered-models/delete", name=name)

    @translated
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self._search(
            rest.search_models,
            "registered-models/search",
            "registered_models",
            _model,
            filter_string,
            max_results,
            order_by,
            page_token,
        )

    @translated
    def get_registered_model(self, name: str) -> RegisteredModel:
        return _model(
            self._call(rest.get_model, "registered-models/get", name=name)["registered_model"]
        )

    @translated
    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        out = self._call(
            rest.get_latest_versions,
            "registered-models/get-latest-versions",
            name=name,
            stages=list(stages) if stages else None,
        )
        return [_version(d) for d in out.get("model_versions", [])]

    @translated
    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        self._call(
            rest.set_model_tag, "registered-models/set-tag", name=name, key=tag.key, value=tag.value
        )

    @translated
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call(rest.delete_model_tag, "registered-models/delete-tag", name=name, key=key)

    # -- model versions ---------------------------------------------------------------

    @translated
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Any = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        out = self._call(
            functools.partial(rest.create_version, link=False),
            "model-versions/create",
            name=name,
            source=source,
            run_id=run_id or None,
            tags=_kv(tags),
            run_link=run_link or None,
            description=description or None,
            model_id=model_id or None,
        )
        return _version(out["model_version"])

    @translated
    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        out = self._call(
            rest.update_version,
            "model-versions/update",
            name=name,
            version=str(version),
            description=description,
        )
        return _version(out["model_version"])

    @translated
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        out = self._call(
            rest.transition_stage,
            "model-versions/transition-stage",
            name=name,
            version=str(version),
            stage=stage,
            archive_existing_versions=bool(archive_existing_versions),
        )
        return _version(out["model_version"])

    @translated
    def delete_model_version(self, name: str, version: str | int) -> None:
        self._call(rest.delete_version, "model-versions/delete", name=name, version=str(version))

    @translated
    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        out = self._call(rest.get_version, "model-versions/get", name=name, version=str(version))
        return _version(out["model_version"])

    @translated
    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        out = self._call(
            functools.partial(rest.get_download_uri, roots=self.roots),
            "model-versions/get-download-uri",
            name=name,
            version=str(version),
        )
        return str(out["artifact_uri"])

    @translated
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self._search(
            rest.search_versions,
            "model-versions/search",
            "model_versions",
            _version,
            filter_string,
            max_results,
            order_by,
            page_token,
        )

    @translated
    def set_model_version_tag(self, name: str, version: str | int, tag: Any) -> None:
        self._call(
            rest.set_version_tag,
            "model-versions/set-tag",
            name=name,
            version=str(version),
            key=tag.key,
            value=tag.value,
        )

    @translated
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._call(
            rest.delete_version_tag,
            "model-versions/delete-tag",
            name=name,
            version=str(version),
            key=key,
        )

    # -- aliases ----------------------------------------------------------------------

    @translated
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._call(
            rest.set_alias, "registered-models/alias", name=name, alias=alias, version=str(version)
        )

    @translated
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call(rest.delete_alias, "registered-models/alias:delete", name=name, alias=alias)

    @translated
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        out = self._call(rest.get_by_alias, "registered-models/alias:get", name=name, alias=alias)
        return _version(out["model_version"])
