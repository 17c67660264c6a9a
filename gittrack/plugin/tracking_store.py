"""MLflow's tracking store over a git repository: ``MLFLOW_TRACKING_URI=gittrack:///repo``.

Each call is answered by gittrack's :class:`~gittrack.api.client.Client` — the same code
the gittrack server's REST handlers call, whose JSON answers are read into MLflow's own
entities here — so a run logged by MLflow through this store is an ordinary gittrack run
(``gittrack log``, push/pull, UI, sync), and one logged by gittrack reads back in MLflow.
Logged models are :mod:`gittrack.core.logged_models` records. What gittrack does not hold
(traces, prompts, evaluation datasets, …) raises MLflow's "not implemented" error.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

from mlflow.entities import Experiment, LoggedModel, Metric, Run, RunInfo, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos import service_pb2
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.proto_json_utils import message_to_json, parse_dict

from gittrack.errors import GittrackError
from gittrack.plugin import uris

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def client_for(repo_path: str) -> Any:
    """The one gittrack Client of this process for a repository (store and artifact
    repositories share it, so a run's writer and its lock are held once).

    Raises:
        MlflowException: the path does not exist or is not a git repository, with the fix.
    """
    import os

    from gittrack.api.client import Client

    key = os.path.abspath(repo_path)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if not os.path.isdir(key):
                raise MlflowException.invalid_parameter_value(
                    f"gittrack tracking URI names {key!r}, which does not exist: create the "
                    f"repository first (git init {key}) or fix MLFLOW_TRACKING_URI"
                )
            try:
                client = Client(key)
            except GittrackError as exc:
                raise MlflowException.invalid_parameter_value(
                    f"gittrack tracking URI names {key!r}, which is not a git repository "
                    f"({exc}): run 'git init {key}' or point MLFLOW_TRACKING_URI at one"
                ) from exc
            _clients[key] = client
        return client


def mlflow_error(message: str, code: str) -> MlflowException:
    """An MLflow exception with the error code named ``code`` (e.g. ``INVALID_PARAMETER_VALUE``)."""
    from mlflow.protos import databricks_pb2

    try:
        number = databricks_pb2.ErrorCode.Value(code)
    except ValueError:
        number = databricks_pb2.INTERNAL_ERROR
    return MlflowException(message, error_code=number)


def to_mlflow_error(exc: GittrackError) -> MlflowException:
    """The MLflow exception with the same message and error code."""
    return mlflow_error(str(exc), getattr(exc, "error_code", "INTERNAL_ERROR"))


def translated(fn: Any) -> Any:
    """A store method run under the store's lock, its gittrack errors raised as MLflow's."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return fn(self, *args, **kwargs)
            except GittrackError as exc:
                raise to_mlflow_error(exc) from exc

    return wrapper


def from_json(d: dict[str, Any], message: Any, entity: Any) -> Any:
    """The MLflow ``entity`` of REST JSON ``d`` (read by MLflow's own protobuf JSON parser
    into a ``message``, the entity's proto class)."""
    msg = message()
    parse_dict(d, msg)
    return entity.from_proto(msg)


def _run_from_json(d: dict[str, Any]) -> Run:
    run: Run = from_json(d, service_pb2.Run, Run)
    return run


def _experiment_from_json(d: dict[str, Any]) -> Experiment:
    exp: Experiment = from_json(d, service_pb2.Experiment, Experiment)
    return exp


def _metric_json(m: Any) -> dict[str, Any]:
    return {
        "key": m.key,
        "value": m.value,
        "timestamp": int(m.timestamp),
        "step": int(m.step or 0),
    }


class GitTrackingStore(AbstractStore):
    """MLflow's ``AbstractStore`` answered by a gittrack repository."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        try:
            self.repo_path = uris.repo_path_of(store_uri or "gittrack:")
        except GittrackError as exc:
            raise to_mlflow_error(exc) from exc
        self.client = client_for(self.repo_path)
        self.repo_path = str(self.client.repo.workdir or self.client.repo.gitdir)
        self._lock = threading.RLock()

    # -- conversions ----------------------------------------------------------------

    def _run_json(self, run_id: str) -> dict[str, Any]:
        from gittrack.server import runs as rest_runs

        d = rest_runs.get(self.client, {"run_id": run_id})["run"]
        return self._localise(d)

    def _localise(self, d: dict[str, Any]) -> dict[str, Any]:
        from gittrack.core.logged_models import read_run_outputs

        info = d["info"]
        info["artifact_uri"] = uris.artifact_uri(self.repo_path, "runs", info["run_id"])
        outputs = read_run_outputs(self.client, info["run_id"])
        if outputs:
            d["outputs"] = {"model_outputs": outputs}
        return d

    def _experiment_json(self, exp: Any) -> dict[str, Any]:
        d = exp.to_dict()
        d["artifact_location"] = uris.experiment_location(self.repo_path, exp.experiment_id)
        return {k: v for k, v in d.items() if v is not None}

    # -- experiments ------------------------------------------------------------------

    @translated
    def create_experiment(self, name: str, artifact_location: Any = None, tags: Any = None) -> str:
        tag_map = {t.key: t.value for t in tags or []}
        exp = self.client.create_experiment(name, tags=tag_map or None)
        return str(getattr(exp, "experiment_id", exp))

    @translated
    def get_experiment(self, experiment_id: str) -> Experiment:
        return _experiment_from_json(
            self._experiment_json(self.client.get_experiment(str(experiment_id)))
        )

    @translated
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        exp = self.client.get_experiment_by_name(experiment_name)
        return None if exp is None else _experiment_from_json(self._experiment_json(exp))

    @translated
    def search_experiments(
        self,
        view_type: int = 1,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        from gittrack.server import experiments as rest_exps

        args: dict[str, Any] = {"view_type": view_type, "max_results": max_results}
        if filter_string:
            args["filter"] = filter_string
        if order_by:
            args["order_by"] = list(order_by)
        if page_token:
            args["page_token"] = page_token
        out = rest_exps.search(self.client, args)
        found = [self.get_experiment(e["experiment_id"]) for e in out.get("experiments", [])]
        return PagedList(found, out.get("next_page_token"))

    @translated
    def delete_experiment(self, experiment_id: str) -> None:
        self.client.delete_experiment(str(experiment_id))

    @translated
    def restore_experiment(self, experiment_id: str) -> None:
        self.client.restore_experiment(str(experiment_id))

    @translated
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.client.rename_experiment(str(experiment_id), new_name)

    @translated
    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        self.client.set_experiment_tag(str(experiment_id), tag.key, tag.value)

    @translated
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.client.delete_experiment_tag(str(experiment_id), key)

    # -- runs -------------------------------------------------------------------------

    @translated
    def create_run(
        self,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Any,
        run_name: str | None,
    ) -> Run:
        tag_map = {t.key: t.value for t in tags or []}
        if user_id and "mlflow.user" not in tag_map:
            tag_map["mlflow.user"] = user_id
        run = self.client.create_run(
            str(experiment_id) if experiment_id is not None else None,
            start_time=start_time,
            tags=tag_map or None,
            run_name=run_name or None,
            user=user_id or None,
        )
        return _run_from_json(self._run_json(run.info.run_id))

    @translated
    def get_run(self, run_id: str) -> Run:
        return _run_from_json(self._run_json(run_id))

    @translated
    def update_run_info(
        self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        status = RunStatus.to_string(run_status) if isinstance(run_status, int) else run_status
        self.client.update_run(run_id, status=status, name=run_name, end_time=end_time)
        return self.get_run(run_id).info

    @translated
    def delete_run(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    @translated
    def restore_run(self, run_id: str) -> None:
        self.client.restore_run(run_id)  # an active run: nothing changes (Client's rule)

    @translated
    def log_metric(self, run_id: str, metric: Any) -> None:
        self._log_batch(run_id, [metric], [], [])

    @translated
    def log_param(self, run_id: str, param: Any) -> None:
        self.client.log_batch(run_id, params=[param])

    @translated
    def set_tag(self, run_id: str, tag: Any) -> None:
        self.client.log_batch(run_id, tags=[tag])

    @translated
    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    @translated
    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        self._log_batch(run_id, list(metrics or []), list(params or []), list(tags or []))

    def _log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any]
    ) -> None:
        linked = [m for m in metrics if getattr(m, "model_id", None)]
        if linked:
            # MLflow links a run's points to a model by logging them again with model_id;
            # as MLflow's stores, keep a point the run already has once.
            seen: dict[str, set[tuple[int, float, int]]] = {}
            for key in {m.key for m in linked}:
                seen[key] = {
                    (p.step, p.value, p.timestamp)
                    for p in self.client.get_metric_history(run_id, key)
                }
            metrics = [
                m
                for m in metrics
                if not getattr(m, "model_id", None)
                or (int(m.step or 0), m.value, int(m.timestamp)) not in seen[m.key]
            ]
        self.client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        by_model: dict[str, list[dict[str, Any]]] = {}
        for m in linked:
            model_id = getattr(m, "model_id", None)
            if model_id:
                point = _metric_json(m)
                point.update(
                    run_id=run_id,
                    dataset_name=getattr(m, "dataset_name", None),
                    dataset_digest=getattr(m, "dataset_digest", None),
                )
                by_model.setdefault(model_id, []).append(point)
        for model_id, points in by_model.items():
            self._models().log_metrics(model_id, points)

    @translated
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        from gittrack.server import runs as rest_runs

        args: dict[str, Any] = {"run_id": run_id, "metric_key": metric_key}
        if max_results is not None:
            args["max_results"] = max_results
        if page_token:
            args["page_token"] = page_token
        out = rest_runs.get_history(self.client, args)
        points = [Metric(m["key"], m["value"], m["timestamp"], m["step"]) for m in out["metrics"]]
        return PagedList(points, out.get("next_page_token"))

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str,
        run_view_type: int,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        from gittrack.server import runs as rest_runs

        with self._lock:
            try:
                args: dict[str, Any] = {
                    "experiment_ids": [str(e) for e in experiment_ids or []],
                    "filter": filter_string or "",
                    "run_view_type": run_view_type,
                    "max_results": max_results,
                }
                if order_by:
                    args["order_by"] = list(order_by)
                if page_token:
                    args["page_token"] = page_token
                out = rest_runs.search(self.client, args)
                runs = [_run_from_json(self._localise(d)) for d in out.get("runs", [])]
            except GittrackError as exc:
                raise to_mlflow_error(exc) from exc
        return runs, out.get("next_page_token")

    @translated
    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        from gittrack.server.inputs import append_inputs

        if datasets:
            items = [json.loads(message_to_json(d.to_proto())) for d in datasets]
            append_inputs(self.client, run_id, items)
        if models:
            from gittrack.core.logged_models import append_run_io

            append_run_io(
                self.client, run_id, "model_inputs", [{"model_id": m.model_id} for m in models]
            )

    @translated
    def log_outputs(self, run_id: str, models: Any) -> None:
        from gittrack.core.logged_models import append_run_io

        append_run_io(
            self.client,
            run_id,
            "model_outputs",
            [{"model_id": m.model_id, "step": int(m.step or 0)} for m in models],
        )

    @translated
    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        from gittrack.core.logged_models import record_model_history

        record_model_history(self.client, run_id, mlflow_model.get_tags_dict())

    # -- logged models ----------------------------------------------------------------

    def _models(self) -> Any:
        from gittrack.core.logged_models import LoggedModelStore

        return LoggedModelStore(self.client.repo)

    def _model(self, rec: dict[str, Any]) -> LoggedModel:
        from mlflow.protos import service_pb2 as pb2

        from gittrack.core.logged_models import model_json

        uri = uris.artifact_uri(self.repo_path, "models", rec["model_id"])
        msg = pb2.LoggedModel()
        parse_dict(model_json(rec, uri), msg)
        return LoggedModel.from_proto(msg)

    @translated
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Any = None,
        params: Any = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        from gittrack.core.logged_models import create_checked

        rec = create_checked(
            self.client,
            str(experiment_id),
            name=name,
            source_run_id=source_run_id,
            tags={t.key: t.value for t in tags or []},
            params={p.key: p.value for p in params or []},
            model_type=model_type,
        )
        return self._model(rec)

    @translated
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return self._model(self._models().get(model_id, allow_deleted=allow_deleted))

    @translated
    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        from gittrack.core.logged_models import status_from_any

        name = status.to_proto() if hasattr(status, "to_proto") else status
        return self._model(self._models().finalize(model_id, status_from_any(name)))

    @translated
    def set_logged_model_tags(self, model_id: str, tags: Any) -> None:
        self._models().set_tags(model_id, {t.key: t.value for t in tags})

    @translated
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._models().delete_tag(model_id, key)

    @translated
    def delete_logged_model(self, model_id: str) -> None:
        self._models().delete(model_id)

    @translated
    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        from gittrack.query.logged_models import search_models
        from gittrack.query.pages import page

        records = self._models().all([str(e) for e in experiment_ids])
        found = search_models(records, filter_string, order_by)
        chosen, token = page(found, max_results or 100, page_token)
        items = [self._model(r) for r in chosen]
        return PagedList(items, token or None)
