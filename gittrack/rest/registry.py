"""The model registry over MLflow's REST API, mixed into :class:`gittrack.rest.client.RestClient`.

The names and arguments are :class:`gittrack.api.registry.RegistryMethods`' (MlflowClient's);
the answers are the same entities, decoded by their one ``from_dict``. Errors are the
server's, mapped by :func:`gittrack.errors.error_from_response`. Reads and DELETEs are
retried freely; writes carry a request id, so a retry is not applied twice
(:mod:`gittrack.rest.http`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gittrack.core.entities import ModelVersion, RegisteredModel
from gittrack.rest.convert import kv as _kv


class RestRegistryMethods:
    """Registered models, versions, aliases and stages of a tracking server."""

    http: Any

    def _call(self, method: str, endpoint: str, payload: dict[str, Any]) -> Any:
        return self.http.call(method, endpoint, {k: v for k, v in payload.items() if v is not None})

    # -- registered models ----------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Raises: InvalidParameter, AlreadyExists."""
        body = {"name": name, "tags": _kv(tags), "description": description}
        data = self._call("POST", "registered-models/create", body)
        return RegisteredModel.from_dict(data["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Raises: InvalidParameter, RegisteredModelNotFound."""
        data = self._call("GET", "registered-models/get", {"name": name})
        return RegisteredModel.from_dict(data["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = {"name": name, "new_name": new_name}
        data = self._call("POST", "registered-models/rename", body)
        return RegisteredModel.from_dict(data["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        body = {"name": name, "description": description}
        data = self._call("PATCH", "registered-models/update", body)
        return RegisteredModel.from_dict(data["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", {"name": name})

    def _search(
        self,
        endpoint: str,
        key: str,
        filter_string: str | None,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        body = {
            "filter": filter_string or None,
            "max_results": max_results,
            "order_by": list(order_by) if order_by else None,
            "page_token": page_token or None,
        }
        data = self._call("GET", endpoint, body)
        return list(data.get(key) or []), data.get("next_page_token") or None

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """One page of models (a list with ``.token``, None on the last page)."""
        from gittrack.query.search import PagedList

        items, token = self._search(
            "registered-models/search",
            "registered_models",
            filter_string,
            max_results,
            order_by,
            page_token,
        )
        return PagedList([RegisteredModel.from_dict(m) for m in items], token)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        body = {"name": name, "stages": list(stages) if stages else None}
        data = self._call("POST", "registered-models/get-latest-versions", body)
        return [ModelVersion.from_dict(v) for v in data.get("model_versions") or []]

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        body = {"name": name, "key": key, "value": str(value)}
        self._call("POST", "registered-models/set-tag", body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    # -- aliases ------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Raises: InvalidParameter, ModelVersionNotFound, RegisteredModelNotFound."""
        body = {"name": name, "alias": alias, "version": str(version)}
        self._call("POST", "registered-models/alias", body)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._call("GET", "registered-models/alias", {"name": name, "alias": alias})
        return ModelVersion.from_dict(data["model_version"])

    # -- versions -----------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Raises: InvalidParameter, RegisteredModelNotFound, RunNotFound."""
        body = {
            "name": name,
            "source": source,
            "run_id": run_id,
            "tags": _kv(tags),
            "run_link": run_link,
            "description": description,
            "model_id": model_id,
        }
        data = self._call("POST", "model-versions/create", body)
        return ModelVersion.from_dict(data["model_version"])

    def register(
        self,
        model_uri: str,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """``mlflow.register_model``: a new version of ``name`` from ``model_uri``, the
        registered model created when it does not exist."""
        from gittrack.errors import AlreadyExists

        try:
            self.create_registered_model(name)
        except AlreadyExists:
            pass
        return self.create_model_version(name, model_uri, tags=tags, description=description)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """Raises: InvalidParameter, RegisteredModelNotFound, ModelVersionNotFound."""
        data = self._call("GET", "model-versions/get", {"name": name, "version": str(version)})
        return ModelVersion.from_dict(data["model_version"])

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        data = self._call("PATCH", "model-versions/update", body)
        return ModelVersion.from_dict(data["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        from gittrack.query.search import PagedList

        items, token = self._search(
            "model-versions/search",
            "model_versions",
            filter_string,
            max_results,
            order_by,
            page_token,
        )
        return PagedList([ModelVersion.from_dict(v) for v in items], token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the server says the version's files are (an ``mlflow-artifacts:`` URI for
        a run or logged model the server holds)."""
        body = {"name": name, "version": str(version)}
        return str(self._call("GET", "model-versions/get-download-uri", body)["artifact_uri"])

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        data = self._call("POST", "model-versions/transition-stage", body)
        return ModelVersion.from_dict(data["model_version"])

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        n = self._version_of(name, version, stage)
        body = {"name": name, "version": n, "key": key, "value": str(value)}
        self._call("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        body = {"name": name, "version": self._version_of(name, version, stage), "key": key}
        self._call("DELETE", "model-versions/delete-tag", body)

    def _version_of(self, name: str, version: str | int | None, stage: str | None) -> str:
        """``version``, or the newest version in ``stage`` (as the local client's)."""
        if version is None and stage:
            from gittrack.errors import InvalidParameter

            latest = self.get_latest_versions(name, [stage])
            if not latest:
                raise InvalidParameter(f"Could not find any model version for {stage} stage")
            return str(latest[0].version)
        return str(version)

    def resolve_model_uri(self, model_uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names (as the local client's)."""
        from gittrack.core.registry import resolve_models_uri

        return resolve_models_uri(self, model_uri)
