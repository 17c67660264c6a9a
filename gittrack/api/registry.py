"""The model registry's methods of :class:`gittrack.Client`, with MlflowClient's names,
arguments and errors; the records are :mod:`gittrack.core.registry`'s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.api.protocols import NewVersion, Page, RegistryArgs
from gittrack.core.entities import ModelVersion, RegisteredModel
from gittrack.core.registry import (
    ALL_STAGES,
    REDACTED,
    STAGE_ARCHIVED,
    ModelState,
    RegistryStore,
    canonical_stage,
    latest_per_stage,
    logged_model_id,
    model_entity,
    version_entity,
)
from gittrack.core.validation import (
    RESERVED_ALIAS_LATEST,
    validate_alias_name,
    validate_key,
    validate_model_name,
    validate_model_version,
    validate_registry_tag,
)
from gittrack.errors import (
    InvalidParameter,
    ModelVersionNotFound,
    NotFound,
    RegisteredModelNotFound,
)

if TYPE_CHECKING:
    from gittrack.core.repo import Repo
    from gittrack.query.search import PagedList

MAX_SIGNATURE_CHARS = 20_000  # a signature summary larger than this is left out of the record


def _stage_versions(state: ModelState, stages: list[str] | None) -> list[ModelVersion]:
    wanted = {canonical_stage(s) for s in stages} if stages else set(ALL_STAGES)
    return [
        version_entity(state, r)
        for r in latest_per_stage(state)
        if str(r.get("current_stage")) in wanted
    ]


class RegistryMethods(RegistryArgs):
    """Mixed into :class:`gittrack.Client`: registered models, versions, aliases, stages
    (the arguments checked by :class:`~gittrack.api.protocols.RegistryArgs`)."""

    repo: Repo

    def get_run(self, run_id: str) -> Any:  # pragma: no cover - Client's
        raise NotImplementedError

    @property
    def registry(self) -> RegistryStore:
        return RegistryStore(self.repo)

    # -- registered models ----------------------------------------------------------

    def _create_model(
        self, name: str, tags: dict[str, str], description: str | None
    ) -> RegisteredModel:
        return model_entity(self.registry.create(name, tags, description))

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Raises: InvalidParameter, RegisteredModelNotFound."""
        return model_entity(self.registry.get(name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Raises: InvalidParameter, RegisteredModelNotFound, AlreadyExists."""
        if new_name is None or str(new_name).strip() == "":
            raise InvalidParameter("Missing value for required parameter 'new_name'.")
        return model_entity(self.registry.rename(name, new_name))

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        def change(state: ModelState) -> str:
            state.model["description"] = description
            return "description"

        return model_entity(self.registry.update(name, change, bump=True))

    def delete_registered_model(self, name: str) -> None:
        """Delete the model: its record is marked deleted, its versions tombstoned (all stay
        in ``git log`` of its ref)."""
        self.registry.delete(name)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The newest version of each of ``stages`` (every stage when None or empty)."""
        return _stage_versions(self.registry.get(name), stages)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        key, text = validate_registry_tag(key, value)

        def change(state: ModelState) -> str:
            state.model.setdefault("tags", {})[key] = text
            return f"tag {key} set"

        self.registry.update(name, change)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Deleting a tag the model does not have does nothing (as MLflow's SQL store)."""
        validate_key(key, "tag")

        def change(state: ModelState) -> str:
            (state.model.get("tags") or {}).pop(key, None)
            return f"tag {key} deleted"

        self.registry.update(name, change)

    # -- aliases ------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version`` (one commit: ``alias champion: 3 -> 4``).

        Raises:
            InvalidParameter: a bad or reserved alias, a version that is not an integer.
            ModelVersionNotFound: no such live version. RegisteredModelNotFound.
        """
        validate_model_name(name)
        validate_alias_name(alias, setting=True)
        n = validate_model_version(version)

        def change(state: ModelState) -> str:
            state.version(n)
            aliases = state.model.setdefault("aliases", {})
            old = aliases.get(alias)
            aliases[alias] = n
            return f"alias {alias}: {old if old is not None else '(none)'} -> {n}"

        self.registry.update(name, change)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Deleting an alias the model does not have does nothing (as MLflow's SQL store)."""
        validate_model_name(name)
        validate_alias_name(alias)

        def change(state: ModelState) -> str:
            old = (state.model.get("aliases") or {}).pop(alias, None)
            return f"alias {alias}: {old if old is not None else '(none)'} -> (deleted)"

        self.registry.update(name, change)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at (``latest``: the highest live version).

        Raises:
            InvalidParameter: a bad alias, or one the model does not have (MLflow's code).
            NotFound: ``latest`` of a model with no versions. RegisteredModelNotFound.
        """
        validate_model_name(name)
        validate_alias_name(alias)
        state = self.registry.get(name)
        if alias.lower() == RESERVED_ALIAS_LATEST:
            live = state.live_versions()
            if not live:
                raise NotFound(f"Latest version not found for model {name}.")
            return version_entity(state, live[-1])
        version = (state.model.get("aliases") or {}).get(alias)
        if version is None:
            raise InvalidParameter(f"Registered model alias {alias} not found.")
        return version_entity(state, state.version(version))

    # -- versions -----------------------------------------------------------------

    def _source_fields(
        self, source: str, run_id: str | None, model_id: str | None
    ) -> dict[str, Any]:
        """What a version records of its source. ``runs:/<run>/<path>``: the run must exist
        and the path hold an ``MLmodel`` (its signature is summarised); ``models:/m-<id>``: the
        logged model must exist. Other sources are recorded as given (as MLflow)."""
        from gittrack.artifacts.uris import is_runs_uri, parse_runs_uri

        fields: dict[str, Any] = {"source": source, "run_id": run_id, "model_id": model_id}
        if is_runs_uri(source):
            rid, path = parse_runs_uri(source)
            run = self.get_run(rid)
            full = run.info.run_id
            fields["source"] = f"runs:/{full}/{path}" if path else f"runs:/{full}"
            fields["run_id"] = run_id or full
            fields["signature"] = _mlmodel_signature(self.repo, full, path, source)
        elif logged_model_id(source) is not None:
            from gittrack.core.logged_models import LoggedModelStore

            rec = LoggedModelStore(self.repo).get(str(logged_model_id(source)))
            fields["model_id"] = model_id or rec["model_id"]
            fields["run_id"] = run_id or rec.get("source_run_id")
        elif model_id:
            from gittrack.core.logged_models import LoggedModelStore

            rec = LoggedModelStore(self.repo).get(model_id)
            fields["run_id"] = run_id or rec.get("source_run_id")
        return fields

    def _check_source(self, model_uri: str) -> None:
        self._source_fields(model_uri, None, None)

    def _create_version(self, name: str, new: NewVersion) -> ModelVersion:
        self.registry.get(name)  # before the run is read: the model's error first
        fields = self._source_fields(new["source"], new["run_id"], new["model_id"])
        fields.update(tags=new["tags"], run_link=new["run_link"], description=new["description"])
        state, n = self.registry.create_version(name, fields)
        return version_entity(state, state.versions[n])

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """Raises: InvalidParameter, RegisteredModelNotFound, ModelVersionNotFound."""
        validate_model_name(name)
        n = validate_model_version(version)
        state = self.registry.read(name)
        if state is None or state.deleted:
            raise ModelVersionNotFound(name, n)
        return version_entity(state, state.version(n))

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        def change(state: ModelState, rec: dict[str, Any]) -> str:
            rec["description"] = description
            return "description"

        state = self._update_version(name, version, change)
        return version_entity(state, state.version(version))

    def _update_version(self, name: str, version: Any, change: Any, **kw: Any) -> ModelState:
        n = validate_model_version(version)
        try:
            return self.registry.update_version(name, n, change, **kw)
        except RegisteredModelNotFound:
            raise ModelVersionNotFound(name, n) from None

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Tombstone the version (its file stays, redacted as MLflow redacts it) and delete
        the aliases that pointed at it (as MLflow)."""

        def change(state: ModelState, rec: dict[str, Any]) -> str:
            n = int(rec["version"])
            dropped = state.aliases_of(n)
            for alias in dropped:
                del state.model["aliases"][alias]
            rec.update(deleted=True, **REDACTED)
            return "delete" + (f" (aliases {', '.join(dropped)} removed)" if dropped else "")

        self._update_version(name, version, change, bump=True)

    def _search_page(self, kind: str, page: Page) -> PagedList:
        from gittrack.query.pages import check_max_results
        from gittrack.query.pages import page as one_page
        from gittrack.query.registry import (
            MODELS_MAX_RESULTS_THRESHOLD,
            VERSIONS_MAX_RESULTS_THRESHOLD,
            filter_models,
            filter_versions,
            name_filter,
        )
        from gittrack.query.search import PagedList

        found: list[Any]
        if kind == "models":
            check_max_results(page.max_results, MODELS_MAX_RESULTS_THRESHOLD)
            models = [model_entity(s) for s in self.registry.all()]
            found = filter_models(models, page.filter_string, page.order_by)
        else:
            check_max_results(page.max_results, VERSIONS_MAX_RESULTS_THRESHOLD)
            states = self._states_named(name_filter(page.filter_string))
            versions = [version_entity(s, r) for s in states for r in s.live_versions()]
            found = filter_versions(versions, page.filter_string, page.order_by)
        items, token = one_page(found, page.max_results, page.page_token)
        return PagedList(items, token or None)

    def _states_named(self, names: set[str] | None) -> list[ModelState]:
        """The live models of ``names`` (every model when None); a bad name matches none."""
        if names is None:
            return self.registry.all()
        states: list[ModelState] = []
        for n in sorted(names):
            try:
                st = self.registry.read(validate_model_name(n))
            except InvalidParameter:
                continue
            if st is not None and not st.deleted:
                states.append(st)
        return states

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's files are: its source (a ``runs:/`` URI gittrack loads)."""
        return str(self.get_model_version(name, version).source)

    def _transition(self, name: str, version: int, stage: str, archive: bool) -> ModelVersion:
        def change(state: ModelState, rec: dict[str, Any]) -> str:
            old = rec.get("current_stage")
            rec["current_stage"] = stage
            archived = []
            if archive:
                for other in state.live_versions():
                    if other is not rec and other.get("current_stage") == stage:
                        other["current_stage"] = STAGE_ARCHIVED
                        other["last_updated_timestamp"] = rec.get("last_updated_timestamp")
                        archived.append(str(other["version"]))
            more = f" (archived {', '.join(archived)})" if archived else ""
            return f"stage {old} -> {stage}{more}"

        state = self._update_version(name, version, change, bump=True)
        return version_entity(state, state.version(version))

    def _set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        def change(state: ModelState, rec: dict[str, Any]) -> str:
            if value is None:
                (rec.get("tags") or {}).pop(key, None)
                return f"tag {key} deleted"
            rec.setdefault("tags", {})[key] = value
            return f"tag {key} set"

        self._update_version(name, version, change, touch=False)


def _mlmodel_signature(repo: Repo, run_id: str, path: str, source: str) -> dict[str, Any] | None:
    """The signature summary of the MLmodel at ``path`` of the run.

    Raises:
        InvalidParameter: the run has no MLmodel at that path (names the URI).
    """
    from gittrack.artifacts.read import read_bytes
    from gittrack.core.records.formats import load_yaml
    from gittrack.errors import ArtifactNotFound

    mlmodel = f"{path}/MLmodel" if path else "MLmodel"
    try:
        doc = load_yaml(read_bytes(repo, run_id, mlmodel))
    except ArtifactNotFound:
        raise InvalidParameter(
            f"Unable to register {source}: run {run_id} has no model at "
            f"'{path or '.'}' (no {mlmodel} artifact). Log one with log_model first, or give "
            "the path of a folder that holds an MLmodel file."
        ) from None
    sig = doc.get("signature") if isinstance(doc, dict) else None
    if not isinstance(sig, dict):
        return None
    summary = {k: str(v) for k, v in sig.items() if k in ("inputs", "outputs", "params") and v}
    if sum(len(v) for v in summary.values()) > MAX_SIGNATURE_CHARS:
        return None
    return summary or None
