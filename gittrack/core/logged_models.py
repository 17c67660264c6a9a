"""LoggedModels (MLflow 3's model entity) as records in the repository.

A logged model lives on its own ref, ``refs/gittrack/models/<model_id>``, one
commit per change. The commit's tree holds two records::

    model.yaml       model_id, experiment_id, name, source_run_id, model_type, status,
                     status_message, creation/last-updated time (ms), lifecycle,
                     tags, params, metrics (a list of points, each with its run and dataset)
    artifacts.yaml   path -> {sha256, size, where: store}

A model's files always go to the content-addressed artifact store (never into
the tree), so a model commit is two small blobs; ``gittrack push`` carries the
ref and, with ``--artifacts``, the objects. History of a model is ``git log``
of its ref. Writers in several processes are serialised by a lock file per
model; each change re-reads the tip under the lock, so none is lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from gittrack.core.gittree import commit_files
from gittrack.core.locks import FileLock, model_lock
from gittrack.core.records.formats import dump_yaml, load_yaml
from gittrack.core.validation import artifact_manifest
from gittrack.errors import GittrackError, InvalidParameter, LoggedModelNotFound
from gittrack.layout import (
    ARTIFACTS_FILE,
    MODEL_FILE,
    MODELS_FILE,
    MODELS_PREFIX,
    model_ref,
    record_path,
)

if TYPE_CHECKING:
    from gittrack.core.bulk import Batch
    from gittrack.core.repo import Repo

MODEL_ID_PREFIX = "m-"
STATUSES = ("PENDING", "READY", "FAILED")
FORMAT_VERSION = 1


def now_ms() -> int:
    return int(time.time() * 1000)


def new_model_id() -> str:
    """MLflow's id form: ``m-`` and 32 lowercase hex digits."""
    return MODEL_ID_PREFIX + uuid.uuid4().hex


def validate_model_id(model_id: Any) -> str:
    """``model_id`` when it has the form ``m-<hex>``.

    Raises:
        InvalidParameter: naming the bad id.
    """
    if (
        not isinstance(model_id, str)
        or not model_id.startswith(MODEL_ID_PREFIX)
        or not 3 <= len(model_id) <= 64
        or not all(c in "0123456789abcdef" for c in model_id[len(MODEL_ID_PREFIX) :])
    ):
        raise InvalidParameter(
            f"Invalid logged model id {model_id!r}: expected 'm-' followed by hex digits"
        )
    return model_id


class LoggedModelStore:
    """Create, read, change and search the logged models of one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    # -- reading -------------------------------------------------------------------

    def _tip(self, model_id: str) -> Any:
        ref = self.repo.git.references.get(model_ref(model_id))
        return None if ref is None else self.repo.git[ref.target]

    def _read_commit(self, commit: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        import pygit2

        tree = commit.tree
        try:
            record = load_yaml(tree[MODEL_FILE].peel(pygit2.Blob).data)
        except KeyError as exc:
            raise GittrackError(f"logged model commit {commit.id} has no {MODEL_FILE}") from exc
        if not isinstance(record, dict):
            raise GittrackError(f"{MODEL_FILE} of commit {commit.id} is not a mapping")
        manifest: dict[str, Any] = {}
        if ARTIFACTS_FILE in tree:
            loaded = load_yaml(tree[ARTIFACTS_FILE].peel(pygit2.Blob).data)
            # the one rule set for artifact entries: a sha256 that is a path is refused here
            manifest = artifact_manifest(f"model {record.get('model_id')}", loaded)
        return record, manifest

    def get(self, model_id: str, allow_deleted: bool = False) -> dict[str, Any]:
        """The model's record (``model.yaml`` as a dict, with ``artifacts`` added).

        Raises:
            InvalidParameter: a malformed id. LoggedModelNotFound: no such model.
        """
        validate_model_id(model_id)
        _, record, manifest = self._load(model_id, allow_deleted)
        record["artifacts"] = manifest
        return record

    def _load(
        self, model_id: str, allow_deleted: bool
    ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """``(tip commit, record, manifest)`` of a model.

        Raises:
            LoggedModelNotFound: no such model, or it is deleted (unless ``allow_deleted``).
        """
        commit = self._tip(model_id)
        if commit is None:
            raise LoggedModelNotFound(f"Logged model with ID '{model_id}' not found.")
        record, manifest = self._read_commit(commit)
        if record.get("lifecycle") == "deleted" and not allow_deleted:
            raise LoggedModelNotFound(f"Logged model with ID '{model_id}' not found.")
        return commit, record, manifest

    def ids(self) -> Iterator[str]:
        for name in self.repo.git.references:
            if name.startswith(MODELS_PREFIX):
                yield name[len(MODELS_PREFIX) :]

    def all(self, experiment_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Every model that is not deleted, in the given experiments (all when None)."""
        wanted = set(experiment_ids) if experiment_ids else None
        out = []
        for model_id in self.ids():
            try:
                rec = self.get(model_id)
            except (LoggedModelNotFound, GittrackError):
                continue
            if wanted is None or str(rec.get("experiment_id")) in wanted:
                out.append(rec)
        return out

    def of_run(self, run_id: str, experiment_id: str, name: str) -> str | None:
        """The id of the newest live model named ``name`` that run ``run_id`` (a full id)
        logged in ``experiment_id``, or None: MLflow 3's rule for a ``runs:/<run>/<name>``
        URI whose run holds no artifact ``name`` (``mlflow.<flavor>.log_model`` stores the
        files with the model, not the run)."""
        found = [
            m
            for m in self.all([experiment_id])
            if m.get("name") == name and m.get("source_run_id") == run_id
        ]
        if not found:
            return None
        return str(max(found, key=lambda m: m.get("creation_timestamp") or 0)["model_id"])

    # -- writing -------------------------------------------------------------------

    def lock(self, model_id: str) -> FileLock:
        """The lock every writer of the model holds (``locks/model-<id>.lock``)."""
        return model_lock(self.repo, model_id)

    def write(
        self,
        model_id: str,
        parent: str | None,
        record: dict[str, Any],
        manifest: dict[str, Any],
        message: str,
        *,
        batch: Batch | None = None,
    ) -> str:
        """The one writer of a model's ref: a commit of ``record`` (and ``manifest``) on
        ``parent`` (hex id, None for the first); returns its id. The caller holds
        :meth:`lock`. With ``batch`` (:class:`gittrack.core.bulk.Batch`) into the batch's
        pack, the ref moved when the batch commits."""
        files: dict[str, bytes | None] = {MODEL_FILE: dump_yaml(record)}
        if manifest:
            files[ARTIFACTS_FILE] = dump_yaml(manifest)
        parents = [parent] if parent else []
        return commit_files(self.repo, model_ref(model_id), files, message, parents, batch=batch)

    def create(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> dict[str, Any]:
        """Record a new model with status PENDING; returns its record."""
        from gittrack.core.names import random_name

        model_id = new_model_id()
        t = now_ms()
        record: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "model_id": model_id,
            "experiment_id": str(experiment_id),
            "name": name or random_name(),
            "source_run_id": source_run_id,
            "model_type": model_type,
            "status": "PENDING",
            "status_message": None,
            "creation_timestamp": t,
            "last_updated_timestamp": t,
            "lifecycle": "active",
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "params": {str(k): str(v) for k, v in (params or {}).items()},
            "metrics": [],
        }
        with self.lock(model_id):
            self.write(model_id, None, record, {}, f"model {record['name']}: create")
        record["artifacts"] = {}
        return record

    def update(
        self,
        model_id: str,
        change: Callable[[dict[str, Any], dict[str, Any]], str],
        allow_deleted: bool = False,
    ) -> dict[str, Any]:
        """Apply ``change(record, manifest) -> commit message`` under the model's lock.

        Raises:
            LoggedModelNotFound: no such model.
        """
        validate_model_id(model_id)
        with self.lock(model_id):
            commit, record, manifest = self._load(model_id, allow_deleted)
            message = change(record, manifest)
            record["last_updated_timestamp"] = now_ms()
            self.write(
                model_id, str(commit.id), record, manifest, f"model {record['name']}: {message}"
            )
        record["artifacts"] = manifest
        return record

    def finalize(self, model_id: str, status: str) -> dict[str, Any]:
        """Set the final status (READY or FAILED).

        Raises:
            InvalidParameter: an unknown status. LoggedModelNotFound.
        """
        if status not in ("READY", "FAILED"):
            raise InvalidParameter(
                f"Invalid logged model status {status!r}: expected READY or FAILED"
            )

        def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
            rec["status"] = status
            return f"finalize {status}"

        return self.update(model_id, change)

    def set_tags(self, model_id: str, tags: dict[str, str]) -> dict[str, Any]:
        def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
            rec.setdefault("tags", {}).update({str(k): str(v) for k, v in tags.items()})
            return "set tags " + ", ".join(sorted(tags))

        return self.update(model_id, change)

    def delete_tag(self, model_id: str, key: str) -> dict[str, Any]:
        """Raises: LoggedModelNotFound (also when the model has no such tag)."""

        def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
            if key not in rec.get("tags", {}):
                raise LoggedModelNotFound(
                    f"No tag with key {key!r} found for model with ID {model_id!r}."
                )
            del rec["tags"][key]
            return f"delete tag {key}"

        return self.update(model_id, change)

    def delete(self, model_id: str) -> dict[str, Any]:
        def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
            rec["lifecycle"] = "deleted"
            return "delete"

        return self.update(model_id, change)

    def log_metrics(self, model_id: str, points: list[dict[str, Any]]) -> dict[str, Any]:
        """Append metric points (key, value, timestamp, step, run_id, dataset_name/digest)."""

        def change(rec: dict[str, Any], _: dict[str, Any]) -> str:
            rec.setdefault("metrics", []).extend(points)
            return "log metrics " + ", ".join(sorted({p["key"] for p in points}))

        return self.update(model_id, change)

    def add_artifacts(self, model_id: str, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Record files already put in the artifact store (as MLflow, also after finalizing)."""

        def change(rec: dict[str, Any], manifest: dict[str, Any]) -> str:
            manifest.update(entries)
            return f"add {len(entries)} artifact(s)"

        return self.update(model_id, change)


# -- a run's links to logged models (MLflow's run inputs/outputs) -------------------------

RUN_IO_FILE = MODELS_FILE  # .gittrack/models.yaml: {model_inputs: [...], model_outputs: [...]}


def _read_run_io(client: Any, run_id: str) -> dict[str, list[dict[str, Any]]]:
    run = client.get_run(run_id)
    if not run.commit:
        return {}
    try:
        entry = client.repo.git[run.commit].tree[record_path(RUN_IO_FILE)]
    except KeyError:
        return {}
    data = load_yaml(client.repo.git[entry.id].data)
    return data if isinstance(data, dict) else {}


def read_run_outputs(client: Any, run_id: str) -> list[dict[str, Any]]:
    """The models the run logged (``[{model_id, step}]``; [] when none)."""
    return list(_read_run_io(client, run_id).get("model_outputs") or [])


def append_run_io(client: Any, run_id: str, kind: str, items: list[dict[str, Any]]) -> None:
    """Add model links (``kind`` ``model_inputs`` or ``model_outputs``), each once."""
    client.flush(run_id)
    current = _read_run_io(client, run_id)
    have = list(current.get(kind) or [])
    for item in items:
        if item not in have:
            have.append(item)
    current[kind] = have
    writer = client.writer(run_id)
    writer.put_record_file(RUN_IO_FILE, dump_yaml(current))
    writer.mark_dirty("run")
    writer.checkpoint()


# -- MLflow's REST shape, search ----------------------------------------------------------

# record status <-> MLflow's proto enum name (LoggedModelStatus)
STATUS_PROTO = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}
PROTO_STATUS = {v: k for k, v in STATUS_PROTO.items()}


def status_from_any(value: Any) -> str:
    """``READY``/``FAILED``/``PENDING`` from a record name, MLflow's proto name or number.

    Raises:
        InvalidParameter: naming the unknown status.
    """
    numbers = {1: "PENDING", 2: "READY", 3: "FAILED"}
    if isinstance(value, int) and value in numbers:
        return numbers[value]
    text = str(value).upper()
    if text in STATUS_PROTO:
        return text
    if text in PROTO_STATUS:
        return PROTO_STATUS[text]
    raise InvalidParameter(
        f"Invalid logged model status {value!r}: expected one of " + ", ".join(sorted(PROTO_STATUS))
    )


def model_json(rec: dict[str, Any], artifact_uri: str) -> dict[str, Any]:
    """The MLflow REST ``LoggedModel`` shape (``{info, data}``) of a record."""
    info: dict[str, Any] = {
        "model_id": rec["model_id"],
        "experiment_id": str(rec["experiment_id"]),
        "name": rec["name"],
        "artifact_uri": artifact_uri,
        "creation_timestamp_ms": int(rec["creation_timestamp"]),
        "last_updated_timestamp_ms": int(rec["last_updated_timestamp"]),
        "status": STATUS_PROTO.get(str(rec.get("status")), "LOGGED_MODEL_PENDING"),
        "tags": [{"key": k, "value": v} for k, v in (rec.get("tags") or {}).items()],
    }
    for key in ("model_type", "source_run_id", "status_message"):
        if rec.get(key):
            info[key] = rec[key]
    metrics = []
    for m in rec.get("metrics") or []:
        point = {k: m[k] for k in ("key", "value", "timestamp", "step")}
        point["model_id"] = rec["model_id"]
        for key in ("run_id", "dataset_name", "dataset_digest"):
            if m.get(key):
                point[key] = m[key]
        metrics.append(point)
    return {
        "info": info,
        "data": {
            "params": [{"key": k, "value": v} for k, v in (rec.get("params") or {}).items()],
            "metrics": metrics,
        },
    }


def create_checked(
    client: Any, experiment_id: str, source_run_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """Create a model after checking its experiment (and source run) exist; ``fields`` are
    :meth:`LoggedModelStore.create`'s (name, tags, params, model_type).

    Raises:
        InvalidParameter: a malformed experiment id or model name. ExperimentNotFound,
            RunNotFound.
    """
    from gittrack.core.validation import validate_experiment_id, validate_logged_model_name

    exp_id = validate_experiment_id(str(experiment_id))
    validate_logged_model_name(fields.get("name"))
    client.get_experiment(exp_id)
    if source_run_id:
        source_run_id = client.get_run(source_run_id).info.run_id
    return LoggedModelStore(client.repo).create(exp_id, source_run_id=source_run_id, **fields)


HISTORY_TAG = "mlflow.log-model.history"


def record_model_history(client: Any, run_id: str, model: dict[str, Any]) -> None:
    """Append an MLmodel summary to the run's ``mlflow.log-model.history`` tag (as MLflow)."""
    import json

    run = client.get_run(run_id)
    history = json.loads(run.data.tags.get(HISTORY_TAG) or "[]")
    history.append(model)
    client.set_tag(run_id, HISTORY_TAG, json.dumps(history))
