"""MLflow's model registry store over a git repository: ``gittrack:///repo`` as registry URI
(by default MLflow's registry URI is the tracking URI, so ``MLFLOW_TRACKING_URI`` is enough).

Each call is the REST client's request (:class:`gittrack.rest.registry.RestRegistryMethods`:
the arguments checked and the body built as for a tracking server), checked against the REST
table (:mod:`gittrack.server.schema`) and answered in this process by the gittrack server's
own registry handlers (:mod:`gittrack.server.registry`), whose JSON is read into MLflow's
entities here: a version registered by ``mlflow.register_model`` under a
``gittrack:`` URI is the same record as one registered through ``gittrack server`` or
gittrack's Python API, and is pushed and pulled with the repository. A version's files are
downloaded through ``gittrack:`` artifact URIs (:mod:`gittrack.plugin.artifact_repo`), so
``models:/name@alias`` and ``models:/name/3`` load.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.protos import model_registry_pb2
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore

from gittrack.errors import GittrackError
from gittrack.plugin import uris
from gittrack.plugin.tracking_store import client_for, from_json, to_mlflow_error, translated
from gittrack.rest.registry import RestRegistryMethods
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


def _tags(tags: Any) -> dict[str, Any] | None:
    """MLflow's tags (a dict, or tag entities) as a dict."""
    if not tags:
        return None
    return dict(tags) if isinstance(tags, dict) else {t.key: t.value for t in tags}


class _InProcess(RestRegistryMethods):
    """The REST client's registry requests (one builder of their bodies), each checked as the
    server checks a request and answered by the server's handler in this process; the JSON
    is read into MLflow's entities."""

    _model_of = staticmethod(
        functools.partial(
            from_json, message=model_registry_pb2.RegisteredModel, entity=RegisteredModel
        )
    )
    _version_json = staticmethod(
        functools.partial(from_json, message=model_registry_pb2.ModelVersion, entity=ModelVersion)
    )

    def __init__(self, client: Any, roots: PluginRoots) -> None:
        self.client = client
        # MLflow's stores do not link a logged model to its versions (its fluent
        # register_model does, client-side); the versions' files are gittrack: URIs
        self.handlers: dict[str, Callable[..., dict[str, Any]]] = {
            **rest.HANDLERS,
            "model-versions/create": functools.partial(rest.create_version, link=False),
            "model-versions/get-download-uri": functools.partial(
                rest.get_download_uri, roots=roots
            ),
        }

    def _call(
        self,
        method: str,
        endpoint: str,
        payload: dict[str, Any],
        recover: Callable[[], dict[str, Any] | None] | None = None,
    ) -> Any:
        """``recover`` is for answers lost on the wire: none are, in this process."""
        from gittrack.server.schema import endpoint_of
        from gittrack.server.wire import parse

        ep = endpoint_of(method, endpoint)
        args = parse(ep, {k: v for k, v in payload.items() if v is not None})
        return self.handlers[ep.key](self.client, args)


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
        self.api: Any = _InProcess(self.client, self.roots)  # answers MLflow entities
        self._lock = threading.RLock()

    # -- registered models ------------------------------------------------------------

    @translated
    def create_registered_model(
        self,
        name: str,
        tags: Any = None,
        description: str | None = None,
        deployment_job_id: Any = None,
    ) -> RegisteredModel:
        return self.api.create_registered_model(name, _tags(tags), description)

    @translated
    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: Any = None
    ) -> RegisteredModel:
        return self.api.update_registered_model(name, description)

    @translated
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.api.rename_registered_model(name, new_name)

    @translated
    def delete_registered_model(self, name: str) -> None:
        self.api.delete_registered_model(name)

    @translated
    def search_registered_models(self, *args: Any, **kwargs: Any) -> PagedList[RegisteredModel]:
        """(filter_string, max_results, order_by, page_token): RegistryArgs' arguments."""
        found = self.api.search_registered_models(*args, **kwargs)
        return PagedList(list(found), found.token)

    @translated
    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.api.get_registered_model(name)

    @translated
    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return self.api.get_latest_versions(name, stages)

    @translated
    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        self.api.set_registered_model_tag(name, tag.key, tag.value)

    @translated
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.api.delete_registered_model_tag(name, key)

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
        return self.api.create_model_version(
            name,
            source,
            run_id=run_id or None,
            tags=_tags(tags),
            run_link=run_link or None,
            description=description or None,
            model_id=model_id or None,
        )

    @translated
    def update_model_version(
        self, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        return self.api.update_model_version(name, version, description)

    @translated
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        return self.api.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )

    @translated
    def delete_model_version(self, name: str, version: str | int) -> None:
        self.api.delete_model_version(name, version)

    @translated
    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.api.get_model_version(name, version)

    @translated
    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self.api.get_model_version_download_uri(name, version)

    @translated
    def search_model_versions(self, *args: Any, **kwargs: Any) -> PagedList[ModelVersion]:
        """(filter_string, max_results, order_by, page_token): RegistryArgs' arguments."""
        found = self.api.search_model_versions(*args, **kwargs)
        return PagedList(list(found), found.token)

    @translated
    def set_model_version_tag(self, name: str, version: str | int, tag: Any) -> None:
        self.api.set_model_version_tag(name, version, tag.key, tag.value)

    @translated
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.api.delete_model_version_tag(name, version, key)

    # -- aliases ----------------------------------------------------------------------

    @translated
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self.api.set_registered_model_alias(name, alias, version)

    @translated
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.api.delete_registered_model_alias(name, alias)

    @translated
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.api.get_model_version_by_alias(name, alias)
