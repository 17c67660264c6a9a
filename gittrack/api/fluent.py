"""The fluent API: module-level functions with MLflow's names and behaviour.

``import gittrack as mlflow`` runs ordinary MLflow tracking code: one stack of
active runs per thread, ``start_run`` as a context manager, ``log_metric``
starting a run when none is active, runs ended at interpreter exit.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from gittrack.api.client import Client
from gittrack.api.protocols import RunOperations, logged
from gittrack.core.entities import Metric, ModelVersion, Run, RunData, RunInfo, RunStatus, ViewType
from gittrack.core.writer import RunWriter
from gittrack.errors import GittrackError, InvalidParameter

_local = threading.local()
_clients: dict[tuple[str, str], Client] = {}
_fluent_runs: list[ActiveRun] = []  # every run the fluent API started and has not ended
_fluent_lock = threading.Lock()
_last_active: list[tuple[Client, str] | None] = [None]  # (client, run id), read on demand
_experiment: dict[str, str | None] = {"id": None}


class ActiveRun:
    """The run returned by :func:`start_run`; a context manager that ends it.

    On exit: FINISHED, or FAILED when an exception escapes (KILLED for
    KeyboardInterrupt).
    """

    def __init__(self, client: Client, writer: RunWriter) -> None:
        self._client = client
        self._writer = writer
        self.thread = threading.get_ident()

    @property
    def info(self) -> RunInfo:
        r = self._writer.record
        return RunInfo(
            run_id=self._writer.run_id,
            experiment_id=str(r["experiment_id"]),
            run_name=str(r.get("name") or ""),
            user_id=str(r.get("user") or ""),
            status=r["status"],
            start_time=r["start_time"],
            end_time=r.get("end_time"),
            artifact_uri=str(r.get("artifact_uri")),
            lifecycle_stage=str(r.get("lifecycle") or "active"),
        )

    @property
    def data(self) -> RunData:
        return self._client.get_run(self._writer.run_id).data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        _end(self, status)  # an exception goes on: None does not suppress it

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self._writer.run_id!r}, name={self.info.run_name!r}>"


def _stack() -> list[ActiveRun]:
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = []
    return s


def _client() -> Client:
    """The client of the repository of the working directory (or GITTRACK_REPO); with an
    http(s) ``GITTRACK_TRACKING_URI``/``MLFLOW_TRACKING_URI``, a REST client for it."""
    from gittrack.rest import client_for_uri

    remote = client_for_uri()
    if remote is not None:
        return remote
    key = (os.environ.get("GITTRACK_REPO", ""), os.getcwd())
    c = _clients.get(key)
    if c is None:
        c = _clients[key] = Client()
    return c


# -- runs ---------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active run of this thread.

    Raises:
        GittrackError: a run is already active and ``nested`` is False.
    """
    stack = _stack()
    env_run = os.environ.get("GITTRACK_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
    if run_id is None and env_run and not stack:
        run_id = env_run
    if stack and not nested:
        raise GittrackError(
            f"Run with UUID {stack[-1]._writer.run_id} is already active. To start a new run, "
            "first end the current run with gittrack.end_run(). To start a nested run, call "
            "start_run with nested=True"
        )
    client = _client()
    if nested and parent_run_id is None and stack:
        parent_run_id = stack[-1]._writer.run_id
    if run_id is not None:
        writer = client.writer(run_id, resume=True)
        if experiment_id is not None and str(experiment_id) != str(writer.record["experiment_id"]):
            raise InvalidParameter(
                f"Cannot start run with ID {run_id} under experiment {experiment_id}: "
                f"it belongs to experiment {writer.record['experiment_id']}"
            )
        if run_name:
            writer.set_record(name=run_name)
        for k, v in (tags or {}).items():
            writer.set_tag(k, v)
        if description:
            writer.set_tag("mlflow.note.content", description)
    else:
        exp_id = experiment_id if experiment_id is not None else _current_experiment_id(client)
        writer = client._create_writer(
            str(exp_id),
            tags=tags,
            run_name=run_name,
            parent_run_id=parent_run_id,
            description=description,
            commit=False,
        )
    active = ActiveRun(client, writer)
    stack.append(active)
    with _fluent_lock:
        _fluent_runs.append(active)
    _install_handlers()
    return active


def _current_experiment_id(client: Client) -> str:
    if _experiment["id"] is not None:
        return _experiment["id"]
    name = os.environ.get("GITTRACK_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        return set_experiment(name).experiment_id
    exp_id = os.environ.get("GITTRACK_EXPERIMENT_ID") or os.environ.get("MLFLOW_EXPERIMENT_ID")
    return exp_id or "0"


def _end(active: ActiveRun, status: str) -> None:
    stack = _stack()
    if active in stack:
        stack.remove(active)
    with _fluent_lock:
        if active in _fluent_runs:
            _fluent_runs.remove(active)
    if not active._writer.closed:
        active._writer.end(status)
    # read back only when asked (as MLflow's last_active_run does): end_run stays cheap
    _last_active[0] = (active._client, active._writer.run_id)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run of this thread (no-op when there is none)."""
    stack = _stack()
    if stack:
        _end(stack[-1], status)


def active_run() -> ActiveRun | None:
    stack = _stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, or else the run most recently ended in this process."""
    a = active_run()
    if a is not None:
        return a._client.get_run(a._writer.run_id)
    last = _last_active[0]
    if last is None:
        return None
    try:
        return last[0].store.read_run(last[1])
    except GittrackError:
        return None


def _writer() -> RunWriter:
    stack = _stack()
    if stack:
        return stack[-1]._writer
    return start_run()._writer


def _writer_for(run_id: str | None) -> RunWriter:
    if run_id is None:
        return _writer()
    return _client().writer(run_id)


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    _client().restore_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return _client().get_metric_history(run_id, key)


# -- logging (the hot path: keep these lean) -----------------------------------------


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> RunOperations | None:
    """Log one metric point to the active run (starting one if none is active); for
    ``synchronous`` see :func:`gittrack.api.protocols.logged`."""
    if synchronous is not None:
        client, rid = _client_and_run(run_id)
        return client.log_metric(rid, key, value, timestamp, step, synchronous=synchronous)
    if run_id is None:
        stack = getattr(_local, "stack", None)
        w = stack[-1]._writer if stack else _writer()
    else:
        w = _writer_for(run_id)
    w.log_metric(key, value, step, timestamp)
    return None


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> RunOperations | None:
    if timestamp is None:
        from gittrack.core.writer import now_ms

        timestamp = now_ms()
    if synchronous is not None:
        client, rid = _client_and_run(run_id)
        points = [Metric(k, v, timestamp, step or 0) for k, v in metrics.items()]
        return client.log_batch(rid, metrics=points, synchronous=synchronous)
    w = _writer_for(run_id)
    for key, value in metrics.items():
        w.log_metric(key, value, step, timestamp)
    return None


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param (write-once); returns ``value`` (a ``RunOperations`` when
    ``synchronous`` is False)."""
    if synchronous is not None:
        return _logged(None, synchronous, lambda w: w.log_param(key, value)) or value
    _writer().log_param(key, value)
    return value


def log_params(
    params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    """Log several params. Nested dicts (Hydra/OmegaConf configs) become dotted keys."""
    if synchronous is not None:
        return _logged(run_id, synchronous, lambda w: w.log_params(params))
    _writer_for(run_id).log_params(params)
    return None


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    if synchronous is not None:
        return _logged(None, synchronous, lambda w: w.set_tag(key, value))
    _writer().set_tag(key, value)
    return None


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    def write(w: RunWriter) -> None:
        for k, v in tags.items():
            w.set_tag(k, v)

    if synchronous is not None:
        return _logged(None, synchronous, write)
    write(_writer())
    return None


def _client_and_run(run_id: str | None) -> tuple[Client, str]:
    """The client and id of run ``run_id``, or of the active run (started if none is)."""
    if run_id is not None:
        return _client(), run_id
    stack = _stack()
    active = stack[-1] if stack else start_run()
    return active._client, active._writer.run_id


def _logged(run_id: str | None, synchronous: bool, write: Any) -> RunOperations | None:
    """``write(writer)`` on the run's writer, paced by ``synchronous`` (the one rule,
    :func:`gittrack.api.protocols.logged`): acknowledged means the run's client flushed it."""
    client, rid = _client_and_run(run_id)
    w = _writer_for(run_id)

    def run(now: bool) -> None:
        write(w)
        if now:
            client.flush(rid)

    return logged(synchronous, run, lambda: client.flush(rid))


def delete_tag(key: str) -> None:
    _writer().delete_tag(key)


# -- experiments ---------------------------------------------------------------------


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Any:
    """Make an experiment the default for new runs, creating it by name when missing."""
    client = _client()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameter("set_experiment takes exactly one of experiment_name, experiment_id")
    if experiment_id is not None:
        exp = client.get_experiment(str(experiment_id))
    else:
        found = client.get_experiment_by_name(str(experiment_name))
        if found is None:
            found = client.get_experiment(client.create_experiment(str(experiment_name)))
        exp = found
    if exp.lifecycle_stage == "deleted":
        raise InvalidParameter(
            f"Cannot set a deleted experiment {exp.name!r} as the active experiment. "
            "Restore it first."
        )
    _experiment["id"] = exp.experiment_id
    return exp


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Any:
    return _client().get_experiment(str(experiment_id))


def get_experiment_by_name(name: str) -> Any:
    return _client().get_experiment_by_name(name)


def search_experiments(
    view_type: int | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Any]:
    return _client().search_experiments(view_type, max_results, filter_string, order_by)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(str(experiment_id))


def get_tracking_uri() -> str:
    from gittrack.rest import is_remote, tracking_uri

    if is_remote(tracking_uri()):
        return str(tracking_uri())
    return "file://" + str(_client().repo.workdir or _client().repo.gitdir)


# -- exit and signals -----------------------------------------------------------------


def _end_all(status: str) -> None:
    """End every run the fluent API started in this process with ``status``, then commit
    every other writer still open (a ``Client`` run included)."""
    from gittrack.core.writer import close_all

    _end_fluent_at_exit(status)
    close_all(status)


def _install_handlers() -> None:
    """End fluent runs at exit and on SIGTERM (one registry for every API: see
    :mod:`gittrack.core.shutdown`)."""
    from gittrack.core import shutdown

    shutdown.on_exit("fluent", _end_fluent_at_exit, order=10)


def _end_fluent_at_exit(status: str) -> None:
    with _fluent_lock:
        runs = [a for a in reversed(_fluent_runs) if a._writer._pid == os.getpid()]
    for active in runs:
        try:
            _end(active, status)
        except Exception as exc:  # at exit: report, keep ending the others
            print(f"gittrack: could not end run {active._writer.run_id}: {exc}", file=sys.stderr)


def _reset_for_tests() -> None:
    """End every run this process started (tests call this between tests)."""
    _end_all(RunStatus.FINISHED)
    _stack().clear()
    _clients.clear()
    _experiment["id"] = None
    _last_active[0] = None


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int | str = ViewType.ACTIVE_ONLY,
    max_results: int = 100000,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
    branches: list[str] | str | None = None,
) -> Any:
    """Runs as a pandas DataFrame with MLflow's columns (or a list of Runs)."""
    from gittrack.query.search import search_runs as _search

    client = _client()
    return _search(
        client,
        experiment_ids=experiment_ids,
        filter_string=filter_string,
        run_view_type=run_view_type,
        max_results=max_results,
        order_by=order_by,
        output_format=output_format,
        search_all_experiments=search_all_experiments,
        experiment_names=experiment_names,
        branches=branches,
        current_experiment=lambda: _current_experiment_id(client),
    )


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (creating the
    registered model when it does not exist), as ``mlflow.register_model``.

    ``model_uri``: ``runs:/<run_id>/<path>`` (the run must exist and ``path`` hold an
    MLmodel), ``models:/m-<id>`` (a logged model), or any other source, recorded as given.

    Raises:
        InvalidParameter: a bad name, a run path with no model. RunNotFound.
    """
    client = _client()  # the local Client or a tracking server's RestClient: both register
    return client.register(model_uri, name, tags=tags)
