"""Map one MLflow run to a finished gittrack run and write it into a bulk batch.

The run is written by :func:`gittrack.core.bulk.write_run` (gittrack's own
:class:`~gittrack.core.writer.RunWriter`: the same record encoders, metric chunks and
summaries as a live run, artifacts through :func:`gittrack.artifacts.log.log_files`),
whole: one commit per run, many runs in one pack per batch. A re-imported run gets a
new commit on top of its previous one (a fast-forward).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from gittrack.core.records import formats as records
from gittrack.core.snapshot import strip_credentials
from gittrack.importer.model import Point, SourceRun
from gittrack.layout import RUNS_PREFIX, model_ref, run_ref

if TYPE_CHECKING:
    from gittrack.core.bulk import Batch
    from gittrack.core.repo import Repo

RUN_ID_TAG = "gittrack.import.runId"  # the MLflow run id, always kept
SNAPSHOT_TAG = "gittrack.import.snapshot"  # why the run has no source snapshot
ARTIFACTS_TAG = "gittrack.import.artifacts"  # artifacts missing at the source
# MLflow system tags that become fields of run.yaml / note.md (gittrack shows them back
# as the same tags, see gittrack.core.reader.system_tags)
RECORD_TAGS = frozenset(
    {
        "mlflow.runName",
        "mlflow.note.content",
        "mlflow.parentRunId",
        "mlflow.user",
        "mlflow.source.name",
        "mlflow.source.type",
    }
)
GIT_TAGS = ("mlflow.source.git.commit", "mlflow.source.git.branch", "mlflow.source.git.repoURL")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def choose_run_id(repo: Repo, mlflow_id: str, taken: set[str]) -> str:
    """The MLflow run id when it is a free gittrack run id (or already this run's import),
    else a new random one."""
    if _HEX32.match(mlflow_id) and mlflow_id not in taken:
        ref = repo.git.references.get(RUNS_PREFIX + mlflow_id)
        if ref is None:
            return mlflow_id
        from gittrack.core.reader import Store

        try:
            tags = Store(repo).read_record(str(ref.target), mlflow_id)["tags"]
        except Exception:
            tags = {}
        if tags.get(RUN_ID_TAG) == mlflow_id:  # an import interrupted before its mapping
            return mlflow_id
    return uuid.uuid4().hex


def _source(repo: Repo, tags: dict[str, str]) -> tuple[dict[str, Any], str]:
    """(run.yaml's source record, why the run has no snapshot — '' when it has one)."""
    sha = tags.get("mlflow.source.git.commit", "").strip()
    empty = {"commit": None, "branch": None, "remote_url": None, "dirty": False}
    if not sha:
        return {**empty, "skipped_files": []}, "MLflow recorded no source commit"
    try:
        commit = repo.git.revparse_single(sha).peel(_commit_type())
    except (KeyError, ValueError):
        commit = None
    if commit is None or not str(commit.id).startswith(sha.lower()):
        return {**empty, "skipped_files": []}, f"source commit {sha} is not in this repository"
    record: dict[str, Any] = {
        "commit": str(commit.id),
        "branch": tags.get("mlflow.source.git.branch") or None,
        "remote_url": strip_credentials(tags.get("mlflow.source.git.repoURL")) or None,
        "dirty": False,
        "skipped_files": [],
    }
    return record, ""


def _commit_type() -> Any:
    import pygit2

    return pygit2.Commit


def write_run(
    batch: Batch,
    run: SourceRun,
    *,
    run_id: str,
    experiment_id: str,
    parent_run_id: str | None,
    points: list[Point],
    files: list[tuple[str, str]],
    problems: list[str],
    host: str = "",
) -> str:
    """Write ``run`` as gittrack run ``run_id`` into ``batch`` (replacing an earlier import
    of it, as a new commit on top), with its LoggedModels; returns the run's new commit
    id. Nothing is visible until the batch commits.

    Raises:
        RunLocked: the run is being written by another process.
        GittrackError: a key or value gittrack refuses (nothing of the run is staged).
    """
    from gittrack.artifacts.log import log_files
    from gittrack.core.bulk import FinishedRun
    from gittrack.core.bulk import write_run as write_finished
    from gittrack.core.logged_models import RUN_IO_FILE
    from gittrack.server.inputs import INPUTS_FILE

    tags = dict(run.tags)
    source, why = _source(batch.repo, tags)
    if source["commit"]:
        for key in GIT_TAGS:
            tags.pop(key, None)
    own = {k: v for k, v in tags.items() if k not in RECORD_TAGS}
    own[RUN_ID_TAG] = run.run_id
    if why:
        own[SNAPSHOT_TAG] = f"none: {why}"
    if problems:
        own[ARTIFACTS_TAG] = f"{len(problems)} missing at the source: {problems[0]}"
    record_files: dict[str, bytes] = {}
    if run.inputs:
        record_files[INPUTS_FILE] = records.dump_yaml(run.inputs)
    finished = FinishedRun(
        run_id=run_id,
        experiment_id=experiment_id,
        name=tags.get("mlflow.runName") or run.name or run.run_id,
        status=run.status,
        start_time=run.start_time,
        end_time=run.end_time,
        user=tags.get("mlflow.user") or run.user,
        source=source,
        host=host,
        source_name=tags.get("mlflow.source.name", ""),
        source_type=tags.get("mlflow.source.type", "UNKNOWN"),
        parent_run_id=parent_run_id,
        lifecycle=run.lifecycle,
        note=tags.get("mlflow.note.content", ""),
        params=dict(run.params),
        tags=own,
        points=points,
        record_files=record_files,
    )
    refs = [run_ref(run_id)] + [model_ref(m.model_id) for m in run.models]
    staged = {ref: batch.staged(ref) for ref in refs}
    try:
        outputs = write_models(batch, run, run_id, experiment_id, files)
        if outputs:
            record_files[RUN_IO_FILE] = records.dump_yaml({"model_outputs": outputs})
        also = (lambda w: log_files(w, batch.repo, files)) if files else None
        return write_finished(batch, finished, also=also)
    except BaseException:
        for ref, previous in staged.items():  # nothing of this run or its models moves
            batch.unstage(ref, previous)
        raise


def write_models(
    batch: Batch, run: SourceRun, run_id: str, experiment_id: str, files: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Record the run's MLflow 3 LoggedModels on ``refs/gittrack/models/<MLflow model id>``
    with their params, tags, metrics and status (files into the content-addressed store,
    as gittrack's own LoggedModels); returns the run's ``model_outputs`` links."""
    from gittrack.artifacts.manifest import make_entry
    from gittrack.artifacts.storage import storage_for
    from gittrack.core.bulk import write_model
    from gittrack.core.logged_models import FORMAT_VERSION
    from gittrack.errors import InvalidParameter

    outputs: list[dict[str, Any]] = []
    for model in run.models:
        prefix = model.name + "/"
        mine = [(p, rel[len(prefix) :]) for p, rel in files if rel.startswith(prefix)]
        cas = storage_for(batch.repo).store
        manifest = {}
        for local, rel in mine:
            res = cas.put_file(local, desc=rel)
            manifest[rel] = make_entry(res.sha256, res.size, "store")
        created = model.creation_time or run.start_time
        record: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "model_id": model.model_id,
            "experiment_id": experiment_id,
            "name": model.name,
            "source_run_id": run_id,
            "model_type": model.model_type,
            "status": model.status,
            "status_message": model.status_message,
            "creation_timestamp": created,
            "last_updated_timestamp": model.last_updated_time or created,
            "lifecycle": model.lifecycle,
            "tags": dict(model.tags),
            "params": dict(model.params),
            "metrics": list(model.metrics),
        }
        try:
            write_model(batch, model.model_id, record, manifest, f"model {model.name}: import")
        except InvalidParameter:
            continue  # not an MLflow 3 model id gittrack can name a ref by
        outputs.append({"model_id": model.model_id, "step": 0})
    return outputs
