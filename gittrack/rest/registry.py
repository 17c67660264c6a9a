"""The model registry over MLflow's REST API, mixed into :class:`gittrack.rest.client.RestClient`.

The names and arguments are :class:`gittrack.api.registry.RegistryMethods`' (MlflowClient's);
the answers are the same entities, decoded by their one ``from_dict``. Errors are the
server's, mapped by :func:`gittrack.errors.error_from_response`. Reads are retried
freely; writes, DELETEs included, carry a request id, so a retry is not applied twice
(:mod:`gittrack.rest.http`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gittrack.api.protocols import NewVersion, Page, RegistryArgs
from gittrack.core.entities import ModelVersion, RegisteredModel
from gittrack.errors import NotFound
from gittrack.rest.convert import kv as _kv


class RestRegistryMethods(RegistryArgs):
    """Registered models, versions, aliases and stages of a tracking server: the arguments
    checked by :class:`~gittrack.api.protocols.RegistryArgs`, the one builder of each
    request's body (the MLflow plugin sends the same bodies to the server's handlers in
    process, :mod:`gittrack.plugin.registry_store`)."""

    http: Any
    _model_of: Any = RegisteredModel.from_dict  # the entity of a model's JSON
    _version_json: Any = ModelVersion.from_dict  # the entity of a version's JSON

    def _call(self, method: str, endpoint: str, payload: dict[str, Any]) -> Any:
        return self.http.call(method, endpoint, {k: v for k, v in payload.items() if v is not None})

    def _model(self, method: str, endpoint: str, payload: dict[str, Any]) -> Any:
        return self._model_of(self._call(method, endpoint, payload)["registered_model"])

    def _version(self, method: str, endpoint: str, payload: dict[str, Any]) -> Any:
        return self._version_json(self._call(method, endpoint, payload)["model_version"])

    # -- registered models ----------------------------------------------------------

    def _create_model(self, name: str, tags: dict[str, str], description: str | None) -> Any:
        body = {"name": name, "tags": _kv(tags), "description": description}
        return self._model("POST", "registered-models/create", body)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Raises: InvalidParameter, RegisteredModelNotFound."""
        return self._model("GET", "registered-models/get", {"name": name})

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = {"name": name, "new_name": new_name}
        return self._model("POST", "registered-models/rename", body)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        body = {"name": name, "description": description}
        return self._model("PATCH", "registered-models/update", body)

    def _delete(self, endpoint: str, payload: dict[str, Any], read: Callable[[], Any]) -> None:
        """DELETE ``endpoint``. When the answer was lost, the thing is looked up before a
        retry: ``read()`` raising NotFound means the delete landed (a server that ignores
        request ids, MLflow's, would answer the retry RESOURCE_DOES_NOT_EXIST)."""

        def gone() -> dict[str, Any] | None:
            try:
                read()
            except NotFound:
                return {}
            return None

        self.http.call("DELETE", endpoint, payload, recover=gone)

    def delete_registered_model(self, name: str) -> None:
        body = {"name": name}
        self._delete("registered-models/delete", body, lambda: self.get_registered_model(name))

    def _search_page(self, kind: str, page: Page) -> Any:
        """One page of models or versions (a list with ``.token``, None on the last page)."""
        from gittrack.query.search import PagedList

        body = {
            "filter": page.filter_string or None,
            "max_results": page.max_results,
            "order_by": list(page.order_by) if page.order_by else None,
            "page_token": page.page_token or None,
        }
        if kind == "models":
            data = self._call("GET", "registered-models/search", body)
            items = [self._model_of(m) for m in data.get("registered_models") or []]
        else:
            data = self._call("GET", "model-versions/search", body)
            items = [self._version_json(v) for v in data.get("model_versions") or []]
        return PagedList(items, data.get("next_page_token") or None)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        body = {"name": name, "stages": list(stages) if stages else None}
        data = self._call("POST", "registered-models/get-latest-versions", body)
        return [self._version_json(v) for v in data.get("model_versions") or []]

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
        body = {"name": name, "alias": alias}
        return self._version("GET", "registered-models/alias", body)

    # -- versions -----------------------------------------------------------------

    def _create_version(self, name: str, new: NewVersion) -> Any:
        body = {"name": name, **new, "tags": _kv(new["tags"])}
        return self._version("POST", "model-versions/create", body)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """Raises: InvalidParameter, RegisteredModelNotFound, ModelVersionNotFound."""
        body = {"name": name, "version": str(version)}
        return self._version("GET", "model-versions/get", body)

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        return self._version("PATCH", "model-versions/update", body)

    def delete_model_version(self, name: str, version: str | int) -> None:
        body = {"name": name, "version": str(version)}
        self._delete("model-versions/delete", body, lambda: self.get_model_version(name, version))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the server says the version's files are (an ``mlflow-artifacts:`` URI for
        a run or logged model the server holds)."""
        body = {"name": name, "version": str(version)}
        return str(self._call("GET", "model-versions/get-download-uri", body)["artifact_uri"])

    def _transition(self, name: str, version: int, stage: str, archive: bool) -> Any:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive,
        }
        return self._version("POST", "model-versions/transition-stage", body)

    def _set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": value}
        if value is None:
            self._call("DELETE", "model-versions/delete-tag", body)
        else:
            self._call("POST", "model-versions/set-tag", body)
