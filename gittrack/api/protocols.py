"""What :class:`~gittrack.api.client.Client` and :class:`~gittrack.rest.client.RestClient`
share: the options of a new run, which the fluent API and ``gittrack run`` pass to either
client's ``_create_writer``, the registry methods whose arguments both check alike
(:class:`RegistryArgs`), and MLflow's ``synchronous`` argument of the logging methods
(:func:`logged`, :class:`RunOperations`), which the fluent API follows too."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypedDict

from gittrack.errors import GittrackError

Point = tuple[str, float, int, int]
"""A metric point as ``validation.metric_point`` builds it: key, value, timestamp, step."""


class NewRun(TypedDict, total=False):
    """The options of a new run both clients take (each one optional)."""

    start_time: int | None  # ms since the epoch; now when None
    tags: Mapping[str, Any] | None
    run_name: str | None  # else the ``mlflow.runName`` tag, else a random name
    parent_run_id: str | None
    description: str | None  # the run's note (``mlflow.note.content``)
    snapshot: bool  # snapshot the source tree (a local repository only)


class NewLocalRun(NewRun, total=False):
    """The options of a new run in a local repository: :class:`NewRun` and its id and user."""

    run_id: str | None  # a new random id when None
    user: str | None  # else the ``mlflow.user`` tag, else git's user.name


class RunArgs:
    """The run methods :class:`~gittrack.api.client.Client` and the REST client take with
    MlflowClient's signature, written once; each face provides the primitive."""

    def _new_run(self, experiment_id: str | None, new: NewLocalRun) -> Any:
        raise NotImplementedError

    def _log_point(self, run_id: str, point: Point, now: bool) -> None:
        """Log a point built by ``metric_point``; ``now``: acknowledged (committed,
        answered) before returning."""
        raise NotImplementedError

    def _log_param(self, run_id: str, key: str, value: Any, now: bool) -> None:
        raise NotImplementedError

    def _set_tag(self, run_id: str, key: str, value: Any, now: bool) -> None:
        raise NotImplementedError

    def _log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any], now: bool
    ) -> None:
        raise NotImplementedError

    def flush(self, run_id: str | None = None) -> None:
        """Acknowledge what was logged to ``run_id`` (commit it, have the server answer it)."""
        raise NotImplementedError

    def create_run(
        self,
        experiment_id: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        description: str | None = None,
        snapshot: bool = True,
        run_id: str | None = None,
        user: str | None = None,
    ) -> Any:
        """Create a run (status RUNNING) in ``experiment_id`` (the default experiment when
        None); return it. ``snapshot``, ``run_id``: a local repository only."""
        new = NewLocalRun(
            start_time=start_time,
            tags=tags,
            run_name=run_name,
            parent_run_id=parent_run_id,
            description=description,
            snapshot=snapshot,
            run_id=run_id,
            user=user,
        )
        return self._new_run(experiment_id, new)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log one point (``step`` 0 and now when not given); see :func:`logged` for
        ``synchronous`` (by default a local run buffers it until its next checkpoint and
        the REST client queues it for the background sender, see ``flush``)."""
        from gittrack.core.validation import metric_point

        return logged(
            synchronous,
            lambda now: self._log_point(run_id, metric_point(key, value, timestamp, step), now),
            lambda: self.flush(run_id),
        )

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (write-once); returns ``value`` (a :class:`RunOperations` when
        ``synchronous`` is False)."""
        ops = logged(
            synchronous,
            lambda now: self._log_param(run_id, key, value, now),
            lambda: self.flush(run_id),
        )
        return value if ops is None else ops

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        return logged(
            synchronous,
            lambda now: self._set_tag(run_id, key, value, now),
            lambda: self.flush(run_id),
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Any] = (),
        params: Iterable[Any] = (),
        tags: Iterable[Any] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log metrics, params and tags at once (MLflow Metric/Param/RunTag entities)."""
        batch = list(metrics), list(params), list(tags)
        return logged(
            synchronous,
            lambda now: self._log_batch(run_id, *batch, now),
            lambda: self.flush(run_id),
        )


class RunOperations:
    """What a logging call with ``synchronous=False`` returns, as MLflow's
    ``RunOperations``: :meth:`wait` returns once the writes are acknowledged (committed
    in the repository, answered by the tracking server), or raises the first error."""

    def __init__(
        self,
        acknowledge: Callable[[], None] | None = None,
        error: GittrackError | None = None,
    ) -> None:
        self._acknowledge = acknowledge
        self._error = error

    def wait(self) -> None:
        """Block until the operations are acknowledged.

        Raises:
            GittrackError: the write failed (the server's or the repository's error).
        """
        acknowledge, self._acknowledge = self._acknowledge, None
        if acknowledge is not None and self._error is None:
            try:
                acknowledge()
            except GittrackError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error

    def __repr__(self) -> str:
        return f"<RunOperations: {'failed' if self._error else 'pending or done'}>"


def logged(
    synchronous: bool | None,
    write: Callable[[bool], Any],
    acknowledge: Callable[[], None],
) -> Any:
    """MLflow's ``synchronous`` argument, the one rule for every face (the local Client,
    the REST client, the fluent API).

    ``write(now)`` makes the write; ``now`` asks it to be acknowledged before it returns.
    ``None`` (the default): ``write(False)`` — the face's own pace (a local run's writer
    buffers until its checkpoint, the REST client queues points); errors in the
    arguments raise here. ``True``: ``write(True)``, so the call returns once the write
    is committed or answered, and every error raises here. ``False``: ``write(False)``
    and a :class:`RunOperations` whose ``wait()`` calls ``acknowledge()``; an error,
    even in the arguments, raises from ``wait()``, as MLflow's asynchronous logging.
    ``MLFLOW_ENABLE_ASYNC_LOGGING`` is not read: ``None`` is already asynchronous in
    delivery and immediate in checking (see docs/design.md).
    """
    if synchronous is None:
        return write(False)
    if synchronous:
        return write(True)
    try:
        write(False)
    except GittrackError as exc:
        return RunOperations(error=exc)
    return RunOperations(acknowledge)


class NewVersion(TypedDict):
    """A new model version's arguments, checked by :class:`RegistryArgs`."""

    source: str
    run_id: str | None
    tags: dict[str, str]
    run_link: str | None
    description: str | None
    model_id: str | None


class Page(NamedTuple):
    """A search's arguments: one page of what ``filter_string`` matches."""

    filter_string: str | None
    max_results: int
    order_by: list[str] | None
    page_token: str | None


class RegistryArgs:
    """The registry methods whose arguments :class:`~gittrack.api.client.Client`, the REST
    client (:class:`~gittrack.rest.client.RestClient`) and the MLflow plugin check alike
    (names, tags, sources, stages, version-or-stage), written once: each is MlflowClient's
    name and signature, checks its arguments here, then calls the face's primitive (a local
    Client writes the records, the REST client sends the request)."""

    # -- what each face provides ------------------------------------------------------

    def _create_model(self, name: str, tags: dict[str, str], description: str | None) -> Any:
        raise NotImplementedError

    def _create_version(self, name: str, new: NewVersion) -> Any:
        raise NotImplementedError

    def _search_page(self, kind: str, page: Page) -> Any:
        """``kind``: ``models`` or ``versions``."""
        raise NotImplementedError

    def _transition(self, name: str, version: int, stage: str, archive: bool) -> Any:
        raise NotImplementedError

    def _set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        """``value`` None: delete the tag ``key``."""
        raise NotImplementedError

    def _check_source(self, model_uri: str) -> None:
        """Before ``register`` creates a model: refuse a source that cannot be registered
        (a local Client reads it; over REST the server checks it)."""

    # -- the methods, once ------------------------------------------------------------

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
    ) -> Any:
        """Add version ``max + 1`` of ``name`` made from ``source``.

        Raises:
            InvalidParameter: a bad name or tag, a ``runs:/`` path with no model.
            RegisteredModelNotFound. RunNotFound: a ``runs:/`` URI of no run.
        """
        from gittrack.core.validation import validate_model_name
        from gittrack.errors import InvalidParameter

        validate_model_name(name)
        if not isinstance(source, str) or not source:
            raise InvalidParameter("Missing value for required parameter 'source'.")
        new = NewVersion(
            source=source,
            run_id=run_id,
            tags=registry_tags(tags),
            run_link=run_link,
            description=description,
            model_id=model_id,
        )
        return self._create_version(name, new)

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> Any:
        """Register the name ``name``.

        Raises:
            InvalidParameter: a bad name or tag. AlreadyExists: the name is taken.
        """
        return self._create_model(name, registry_tags(tags), description)

    def register(
        self,
        model_uri: str,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> Any:
        """``mlflow.register_model``: a new version of ``name`` from ``model_uri``, the
        registered model created when it does not exist. The source is checked first, so a
        bad one leaves no empty model behind.

        Raises:
            InvalidParameter: a bad name or tag, a ``runs:/`` path with no model. RunNotFound.
        """
        from gittrack.core.validation import validate_model_name
        from gittrack.errors import AlreadyExists

        validate_model_name(name)
        tag_map = registry_tags(tags)
        self._check_source(model_uri)
        try:
            self.create_registered_model(name)
        except AlreadyExists:
            pass
        return self.create_model_version(name, model_uri, tags=tag_map, description=description)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """One page of models matching MLflow's filter (``name = / LIKE / ILIKE / IN``,
        ``tags.<key>``), a list with ``.token`` (None on the last page).

        Raises:
            InvalidParameter: a bad filter, order_by, max_results (1..1000) or token.
        """
        return self._search_page("models", Page(filter_string, max_results, order_by, page_token))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> Any:
        """One page of versions matching MLflow's filter (``name``, ``run_id`` (also
        ``IN``), ``source_path``, ``version_number``, ``tags.<key>``).

        Raises:
            InvalidParameter: a bad filter, order_by, max_results or token.
        """
        page = Page(filter_string, max_results, order_by, page_token)
        return self._search_page("versions", page)

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> Any:
        """MLflow's legacy stages: move the version to ``stage`` (with
        ``archive_existing_versions`` the other versions in that stage go to Archived).

        Raises:
            InvalidParameter: an unknown stage, or archiving for a stage that is not
                Staging or Production. ModelVersionNotFound.
        """
        from gittrack.core.registry import ACTIVE_STAGES, canonical_stage
        from gittrack.core.validation import validate_model_version
        from gittrack.errors import InvalidParameter

        target = canonical_stage(stage)
        if archive_existing_versions and target not in ACTIVE_STAGES:
            raise InvalidParameter(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
            )
        n = validate_model_version(version)
        return self._transition(name, n, target, bool(archive_existing_versions))

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Tag a version (``version``, or the newest in ``stage``)."""
        from gittrack.core.validation import validate_registry_tag

        n = self._version_of(name, version, stage)
        k, text = validate_registry_tag(key, value)
        self._set_version_tag(name, n, k, text)

    def delete_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Deleting a tag the version does not have does nothing (as MLflow's SQL store)."""
        from gittrack.core.validation import validate_key

        n = self._version_of(name, version, stage)
        self._set_version_tag(name, n, validate_key(key, "tag"), None)

    def _version_of(self, name: str, version: Any, stage: str | None) -> int:
        """``version``, or the newest version in ``stage`` (exactly one of them given)."""
        from gittrack.core.validation import validate_model_version
        from gittrack.errors import InvalidParameter

        if version is not None and stage is not None:
            raise InvalidParameter("version and stage cannot be set together")
        if version is None and stage is None:
            raise InvalidParameter("version or stage must be set")
        if stage is not None:
            latest = self.get_latest_versions(name, [stage])
            if not latest:
                raise InvalidParameter(f"Could not find any model version for {stage} stage")
            return int(latest[0].version)
        return validate_model_version(version)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[Any]:
        raise NotImplementedError

    def resolve_model_uri(self, model_uri: str) -> Any:
        """The version a ``models:/`` URI names (see :func:`resolve_models_uri`)."""
        from gittrack.core.registry import resolve_models_uri

        return resolve_models_uri(self, model_uri)


def registry_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Registry tags checked (key and value) with their values as text.

    Raises:
        InvalidParameter: naming the bad key or value.
    """
    from gittrack.core.validation import validate_registry_tag

    out = {}
    for key, value in (tags or {}).items():
        k, v = validate_registry_tag(key, value)
        out[k] = v
    return out
