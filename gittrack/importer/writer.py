"""Write one MLflow run into the repository as a finished gittrack run, in one commit.

The run goes through gittrack's own :class:`~gittrack.core.writer.RunWriter` (the same
record encoders, metric chunks and summaries as a live run) and
:func:`gittrack.artifacts.log.log_files` (inline blobs or the content-addressed
store), but written whole: one commit per run, not one per call as ``Client`` makes.
A re-imported run gets a new commit on top of its previous one (a fast-forward).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import RunStatus
from gittrack.core.locks import run_lock
from gittrack.core.records import formats as records
from gittrack.core.snapshot import strip_credentials
from gittrack.core.writer import new_run_writer
from gittrack.errors import RunLocked
from gittrack.importer.model import Point, SourceRun
from gittrack.layout import RUNS_PREFIX

if TYPE_CHECKING:
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


def _source(repo: Repo, tags: dict[str, str]) -> tuple[dict[str, Any], Any, str | None, str]:
    """(source record, source tree id, source commit, why no snapshot — '' when there is one)."""
    sha = tags.get("mlflow.source.git.commit", "").strip()
    empty = {"commit": None, "branch": None, "remote_url": None, "dirty": False}
    if not sha:
        return {**empty, "skipped_files": []}, None, None, "MLflow recorded no source commit"
    try:
        commit = repo.git.revparse_single(sha).peel(_commit_type())
    except (KeyError, ValueError):
        commit = None
    if commit is None or not str(commit.id).startswith(sha.lower()):
        return (
            {**empty, "skipped_files": []},
            None,
            None,
            f"source commit {sha} is not in this repository",
        )
    record: dict[str, Any] = {
        "commit": str(commit.id),
        "branch": tags.get("mlflow.source.git.branch") or None,
        "remote_url": strip_credentials(tags.get("mlflow.source.git.repoURL")) or None,
        "dirty": False,
        "skipped_files": [],
    }
    return record, commit.tree_id, str(commit.id), ""


def _commit_type() -> Any:
    import pygit2

    return pygit2.Commit


def write_run(
    repo: Repo,
    run: SourceRun,
    *,
    run_id: str,
    experiment_id: str,
    parent_run_id: str | None,
    points: list[Point],
    files: list[tuple[str, str]],
    problems: list[str],
) -> str:
    """Write ``run`` as gittrack run ``run_id`` (replacing an earlier import of it, as a new
    commit on top); return the new commit id.

    Raises:
        RunLocked: the run is being written by another process.
        GittrackError: a key or value gittrack refuses (the run is left as it was).
    """
    from gittrack.artifacts.log import log_files
    from gittrack.server.inputs import INPUTS_FILE

    tags = dict(run.tags)
    source, source_tree, source_commit, why = _source(repo, tags)
    if source_commit:
        for key in GIT_TAGS:
            tags.pop(key, None)
    name = tags.get("mlflow.runName") or run.name or run.run_id
    user = tags.get("mlflow.user") or run.user
    note = tags.get("mlflow.note.content", "")
    record = records.new_run_record(
        run_id,
        name=name,
        experiment_id=experiment_id,
        start_time=run.start_time,
        user=user,
        source_name=tags.get("mlflow.source.name", ""),
        source_type=tags.get("mlflow.source.type", "UNKNOWN"),
        source=source,
        parent_run_id=parent_run_id,
        heartbeat=run.end_time or run.start_time,
    )
    ref = repo.git.references.get(RUNS_PREFIX + run_id)
    lock = run_lock(repo, run_id)
    if not lock.acquire(block=False):
        raise RunLocked(f"Run {run_id} is being written by another process")
    try:
        w = new_run_writer(
            repo,
            record,
            note=note,
            source_tree=source_tree,
            head=ref.target if ref is not None else None,
            source_commit=source_commit,
            lock=lock,
        )
        # no background `git repack -d` while the import's workers write: its prune-packed
        # can remove an object folder under a concurrent loose-object write (ENOENT); the
        # pipeline consolidates the packs once, when every worker is done
        w._auto_gc = False
        for what in ("run", "params", "tags", "metrics", "note", "artifacts"):
            w.mark_dirty(what)
        for key, value in run.params.items():
            w.log_param(key, value)
        for key, value in tags.items():
            if key not in RECORD_TAGS:
                w.set_tag(key, value)
        w.set_tag(RUN_ID_TAG, run.run_id)
        if why:
            w.set_tag(SNAPSHOT_TAG, f"none: {why}")
        if problems:
            w.set_tag(ARTIFACTS_TAG, f"{len(problems)} missing at the source: {problems[0]}")
        log = w.log_metric
        for key, number, step, ts in points:
            log(key, number, step, ts)
        if run.inputs:
            w.put_record_file(INPUTS_FILE, records.dump_yaml(run.inputs))
        if files:
            log_files(w, repo, files)
        outputs = write_models(repo, run, run_id, experiment_id, files)
        if outputs:
            from gittrack.core.logged_models import RUN_IO_FILE

            w.put_record_file(RUN_IO_FILE, records.dump_yaml({"model_outputs": outputs}))
        if run.status in RunStatus.TERMINAL:
            w.set_record(lifecycle=run.lifecycle)
            w.end(run.status, run.end_time if run.end_time is not None else run.start_time)
        else:
            w.set_record(status=run.status, lifecycle=run.lifecycle, end_time=run.end_time)
            w.close()
        ref = repo.git.references.get(RUNS_PREFIX + run_id)
        assert ref is not None  # the writer just wrote it
        return str(ref.target)
    finally:
        lock.release()


def write_models(
    repo: Repo, run: SourceRun, run_id: str, experiment_id: str, files: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Record the run's MLflow 3 LoggedModels on ``refs/gittrack/models/<MLflow model id>``
    (files into the content-addressed store, as gittrack's own LoggedModels); returns the
    run's ``model_outputs`` links."""
    from gittrack.artifacts.manifest import make_entry
    from gittrack.artifacts.storage import storage_for
    from gittrack.core.logged_models import FORMAT_VERSION, LoggedModelStore, validate_model_id

    store = LoggedModelStore(repo)
    outputs: list[dict[str, Any]] = []
    for name, _, model_id in run.models:
        try:
            validate_model_id(model_id)
        except Exception:
            continue
        prefix = name + "/"
        mine = [(p, rel[len(prefix) :]) for p, rel in files if rel.startswith(prefix)]
        if not mine:
            continue
        cas = storage_for(repo).store
        manifest = {}
        for local, rel in mine:
            res = cas.put_file(local, desc=rel)
            manifest[rel] = make_entry(res.sha256, res.size, "store")
        record: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "model_id": model_id,
            "experiment_id": experiment_id,
            "name": name,
            "source_run_id": run_id,
            "model_type": None,
            "status": "READY",
            "status_message": None,
            "creation_timestamp": run.start_time,
            "last_updated_timestamp": run.end_time or run.start_time,
            "lifecycle": "active",
            "tags": {},
            "params": {},
            "metrics": [],
        }
        with store._lock(model_id):
            store._commit(model_id, store._tip(model_id), record, manifest, f"model {name}: import")
        outputs.append({"model_id": model_id, "step": 0})
    return outputs
