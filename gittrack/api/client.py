"""The object API: :class:`Client`, with MlflowClient's method names.

What the fluent API, the CLI and the server call. Every method takes run ids
or unique prefixes of them, as git takes commit prefixes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from gittrack.api.protocols import RunArgs
from gittrack.api.registry import RegistryMethods
from gittrack.core.entities import Experiment, Metric, Run, RunStatus, ViewType
from gittrack.core.experiments import DEFAULT_ID, Experiments
from gittrack.core.live import get_open_writer, open_writers
from gittrack.core.reader import Store
from gittrack.core.repo import Repo
from gittrack.core.validation import validate_experiment_id
from gittrack.core.writer import RunWriter, create_run_writer, open_run_writer
from gittrack.errors import InvalidParameter, RunNotFound

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gittrack.api.protocols import NewLocalRun, Point


def _missing_last(field: str, exp: Experiment) -> tuple[bool, Any]:
    """Sort key of ``exp`` by attribute ``field``, experiments without it last."""
    return getattr(exp, field, None) is None, getattr(exp, field, "")


def _as_repo(repo: str | os.PathLike[str] | Repo | None) -> Repo:
    return repo if isinstance(repo, Repo) else Repo(repo)


class Client(RunArgs, RegistryMethods):
    """Runs, experiments and registered models of one git repository.

    >>> client = Client()                        # the repository of the working directory
    >>> run = client.create_run("0", run_name="baseline")
    >>> client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    >>> client.set_terminated(run.info.run_id)
    """

    def __init__(self, repo: str | os.PathLike[str] | Repo | None = None) -> None:
        self.repo = _as_repo(repo)
        self.store = Store(self.repo)
        self.experiments = Experiments(self.repo)

    # -- experiments --------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        return self.experiments.create(name, artifact_location, dict(tags or {}))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.experiments.get(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.experiments.get_by_name(name)

    def search_experiments(
        self,
        view_type: int | str = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
    ) -> list[Experiment]:
        view = ViewType.from_any(view_type)
        exps = [
            e
            for e in self.experiments.list()
            if view == ViewType.ALL
            or (view == ViewType.ACTIVE_ONLY) == (e.lifecycle_stage == "active")
        ]
        if filter_string:
            from gittrack.query.experiments import filter_experiments

            exps = filter_experiments(exps, filter_string)
        exps.sort(key=lambda e: (-(e.creation_time or 0), e.experiment_id))
        for clause in reversed(order_by or []):
            parts = str(clause).split()
            if (
                not parts
                or parts[0].split(".")[-1]
                not in ("name", "experiment_id", "creation_time", "last_update_time")
                or (len(parts) > 1 and parts[1].upper() not in ("ASC", "DESC"))
                or len(parts) > 2
            ):
                raise InvalidParameter(
                    f"Invalid order_by clause {clause!r}: use '<name|experiment_id|"
                    "creation_time|last_update_time> [ASC|DESC]'"
                )
            field = parts[0].split(".")[-1]
            desc = len(parts) > 1 and parts[1].upper() == "DESC"
            exps.sort(key=partial(_missing_last, field), reverse=desc)
        return exps[:max_results] if max_results else exps

    def delete_experiment(self, experiment_id: str) -> None:
        self.experiments.delete(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.experiments.restore(str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.experiments.rename(str(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.experiments.set_tag(str(experiment_id), key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.experiments.delete_tag(str(experiment_id), key)

    # -- runs: creating and writing --------------------------------------------------

    def _new_run(self, experiment_id: str | None, new: NewLocalRun) -> Run:
        return self._writer_to_run(self._create_writer(experiment_id, **new))

    def _create_writer(
        self,
        experiment_id: str | None = None,
        *,
        commit: bool = True,
        **new: Unpack[NewLocalRun],
    ) -> RunWriter:
        from gittrack.core.names import random_name

        exp_id = validate_experiment_id(experiment_id if experiment_id is not None else DEFAULT_ID)
        exp = self.experiments.get(exp_id)
        if exp.lifecycle_stage == "deleted":
            raise InvalidParameter(
                f"Experiment {exp.name!r} ({exp_id}) is deleted; restore it to log runs into it"
            )
        tags = dict(new.get("tags") or {})
        name = new.get("run_name") or tags.pop("mlflow.runName", None) or random_name()
        description, parent_run_id = new.get("description"), new.get("parent_run_id")
        if description is None and "mlflow.note.content" in tags:
            description = str(tags.pop("mlflow.note.content"))
        if parent_run_id is None and "mlflow.parentRunId" in tags:
            parent_run_id = str(tags.pop("mlflow.parentRunId"))
        if parent_run_id is not None:
            try:
                parent_run_id = self.store.resolve_run_id(parent_run_id)
            except RunNotFound:
                pass  # as MLflow: the parent may live elsewhere (not pulled yet, another store)
        user = new.get("user")
        if user is None and "mlflow.user" in tags:
            user = str(tags["mlflow.user"])
        return create_run_writer(
            self.repo,
            run_id=new.get("run_id") or uuid.uuid4().hex,
            experiment_id=exp_id,
            name=str(name),
            start_time=new.get("start_time"),
            tags=tags,
            parent_run_id=parent_run_id,
            description=description,
            snapshot=new.get("snapshot", True) and not self.repo.is_bare,
            user=user,
            commit=commit,
        )

    def writer(self, run_id: str, *, resume: bool = False) -> RunWriter:
        """The writer of a run, opened in this process if needed (takes the run's lock)."""
        run_id = self.store.resolve_run_id(run_id)
        w = get_open_writer(self.repo, run_id)
        if w is not None and not w.closed:
            if resume and w.status != RunStatus.RUNNING:
                w.set_record(status=RunStatus.RUNNING, end_time=None)
            return w
        return open_run_writer(self.repo, run_id, resume=resume)

    def _with_writer(self, run_id: str, fn: Any, *, data: bool, commit: bool = False) -> Any:
        """Apply ``fn(writer)``; runs not live in this process are committed at once, a
        live run's changes at its next checkpoint (at once with ``commit``)."""
        run_id = self.store.resolve_run_id(run_id)
        live = get_open_writer(self.repo, run_id)
        if live is not None and not live.closed:
            if data and live.status != RunStatus.RUNNING:
                live._refuse("log to")
            result = fn(live)
            if commit:
                live.checkpoint()
            return result
        w = open_run_writer(self.repo, run_id)
        try:
            if data and w.status != RunStatus.RUNNING:
                w._refuse("log to")
            result = fn(w)
            w.checkpoint()
            return result
        finally:
            if w.status != RunStatus.RUNNING:
                w.close()

    def _log_point(self, run_id: str, point: Point, now: bool) -> None:
        key, value, timestamp, step = point
        self._with_writer(
            run_id, lambda w: w.log_metric(key, value, step, timestamp), data=True, commit=now
        )

    def _log_param(self, run_id: str, key: str, value: Any, now: bool) -> None:
        self._with_writer(run_id, lambda w: w.log_param(key, value), data=True, commit=now)

    def _set_tag(self, run_id: str, key: str, value: Any, now: bool) -> None:
        self._with_writer(run_id, lambda w: w.set_tag(key, value), data=False, commit=now)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._with_writer(run_id, lambda w: w.delete_tag(key), data=False)

    def _log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any], now: bool
    ) -> None:
        """Metrics, params and tags at once (MLflow Metric/Param/RunTag or dicts)."""

        def get(obj: Any, name: str, default: Any = None) -> Any:
            return (
                obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)
            )

        seen: dict[str, Any] = {}
        for p in params:
            k, v = get(p, "key"), get(p, "value")
            if k in seen and str(seen[k]) != str(v):
                raise InvalidParameter(
                    f"Duplicate param key {k!r} with different values in one batch"
                )
            seen[k] = v

        def apply(w: RunWriter) -> None:
            for p in params:
                w.log_param(get(p, "key"), get(p, "value"))
            for t in tags:
                w.set_tag(get(t, "key"), get(t, "value"))
            if metrics:
                w.log_points(
                    [
                        (m.key, m.value, m.step or 0, m.timestamp)
                        if type(m) is Metric
                        else (
                            get(m, "key"),
                            get(m, "value"),
                            get(m, "step", 0) or 0,
                            get(m, "timestamp"),
                        )
                        for m in metrics
                    ]
                )

        self._with_writer(run_id, apply, data=bool(metrics or params), commit=now)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run: FINISHED by default, or FAILED / KILLED."""
        status = status or RunStatus.FINISHED
        w = self.writer(run_id)
        w.end(status, end_time)

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> None:
        if status is not None and status not in RunStatus.ALL:
            raise InvalidParameter(f"Invalid run status {status!r}")
        if status is not None and status in RunStatus.TERMINAL:
            w = self.writer(run_id)
            if name:
                w.set_record(name=name)
            w.end(status, end_time)
            return

        def fn(w: RunWriter) -> None:
            if name:
                w.set_record(name=name)
            if status is not None:
                w.set_record(status=status)

        self._with_writer(run_id, fn, data=False)

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (its data stays in git; :meth:`restore_run` undoes it)."""
        self._set_lifecycle(run_id, "deleted")

    def restore_run(self, run_id: str) -> None:
        """Bring back a deleted run; restoring a run that is not deleted changes nothing (as
        MLflow's ``restore_run``: the one rule, which REST, the MLflow plugin and ``gittrack
        restore`` reach through this method)."""
        self._set_lifecycle(run_id, "active")

    def _set_lifecycle(self, run_id: str, stage: str) -> None:
        """Set the run's lifecycle stage; a run already in ``stage`` is left as it is (no
        commit)."""
        run_id = self.store.resolve_run_id(run_id)

        def move(w: RunWriter) -> None:
            if (w.record.get("lifecycle") or "active") != stage:
                w.set_record(lifecycle=stage)
                w.checkpoint()

        live = get_open_writer(self.repo, run_id)
        if live is not None and not live.closed:
            move(live)
            return
        from gittrack.core.writer import open_run_writer_any

        w = open_run_writer_any(self.repo, run_id)
        try:
            move(w)
        finally:
            w.close()

    def flush(self, run_id: str | None = None) -> None:
        """Commit buffered points now (of one run, or of every run open in this process)."""
        if run_id is None:
            for live in open_writers():
                if live.repo.common_dir == self.repo.common_dir:
                    live.checkpoint()
            return
        w = get_open_writer(self.repo, self.store.resolve_run_id(run_id))
        if w is not None:
            w.checkpoint()

    # -- runs: reading ------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """The run with this id (or unique prefix), as committed; a run live in this
        process is flushed first."""
        run_id = self.store.resolve_run_id(run_id)
        live = get_open_writer(self.repo, run_id)
        if live is not None and live.has_pending:
            live.checkpoint()
        return self.store.read_run(run_id)

    def _writer_to_run(self, w: RunWriter) -> Run:
        return self.store.read_run(w.run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        run = self.get_run(run_id)
        parent = run.data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        run_id = self.store.resolve_run_id(run_id)
        live = get_open_writer(self.repo, run_id)
        if live is not None and live.has_pending:
            live.checkpoint()
        return self.store.metric_history(run_id, key)

    def list_runs(self, view_type: int | str = ViewType.ALL) -> list[Run]:
        """Every run of the repository (unreadable records are skipped)."""
        view = ViewType.from_any(view_type)
        runs = self.store.iter_runs()
        if view != ViewType.ALL:
            want = "active" if view == ViewType.ACTIVE_ONLY else "deleted"
            runs = [r for r in runs if r.info.lifecycle_stage == want]
        runs.sort(key=lambda r: (-r.info.start_time, r.info.run_id))
        return runs

    def search_runs(
        self,
        experiment_ids: list[str] | str | None = None,
        filter_string: str = "",
        run_view_type: int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[Run]:
        """One page of runs matching MLflow's ``filter_string``, ordered by ``order_by``.

        Returns a list with ``.token``: pass it as ``page_token`` for the next page
        (None on the last). ``experiment_ids`` None or empty searches every experiment.
        See :mod:`gittrack.query.grammar` for the grammar.

        Raises:
            InvalidParameter: a bad filter, order_by, max_results or page token.
        """
        from gittrack.query.search import client_search_runs

        return client_search_runs(
            self, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    # -- artifacts (thin: the code is in gittrack.artifacts.api) ---------------------

    def log_artifact(self, run_id: str, local_path: Any, artifact_path: str | None = None) -> None:
        """Log a local file into run ``run_id``; see :func:`gittrack.log_artifact`."""
        from gittrack.artifacts import api

        api.log_artifact(self, run_id, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: Any, artifact_path: str | None = None) -> None:
        """Log every file under ``local_dir`` into run ``run_id``."""
        from gittrack.artifacts import api

        api.log_artifacts(self, run_id, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Log a string as the text file ``artifact_file``."""
        from gittrack.artifacts import api

        api.log_text(self, run_id, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Log a dict as JSON (or YAML for .yaml/.yml)."""
        from gittrack.artifacts import api

        api.log_dict(self, run_id, dictionary, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """Log a matplotlib or plotly figure."""
        from gittrack.artifacts import api

        api.log_figure(self, run_id, figure, artifact_file)

    def log_image(self, run_id: str, image: Any, artifact_file: str) -> None:
        """Log a numpy array or PIL image."""
        from gittrack.artifacts import api

        api.log_image(self, run_id, image, artifact_file)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Log a DataFrame or dict of columns as table JSON."""
        from gittrack.artifacts import api

        api.log_table(self, run_id, data, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[Any]:
        """``FileInfo(path, is_dir, file_size)`` rows directly under ``path``."""
        from gittrack.artifacts import api

        return api.list_artifacts(self, run_id, path)

    def download_artifacts(self, run_id: str, path: str = "", dst_path: Any = None) -> str:
        """Download a file or folder of run ``run_id`` (verified); returns the local path."""
        from gittrack.artifacts import api

        return api.download_artifacts(self, run_id, path, dst_path)


MlflowClient = Client
