"""Reading run records out of git: refs, records, metric histories, derived status."""

from __future__ import annotations

import contextlib
import gc
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import Metric, Run, RunData, RunInfo, RunStatus
from gittrack.core.locks import is_held_elsewhere
from gittrack.core.records import formats as records
from gittrack.core.records import history
from gittrack.core.writer import DEFAULT_HEARTBEAT_SECONDS, get_open_writer
from gittrack.errors import AmbiguousRunId, CorruptRecord, InvalidParameter, RunNotFound
from gittrack.layout import (
    ARTIFACTS_FILE,
    EXPERIMENTS_REF,
    METRICS_FILE,
    NOTE_FILE,
    PARAMS_FILE,
    RUN_FILE,
    RUNS_PREFIX,
    TAGS_FILE,
    lock_path,
    run_ref,
)

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

STALE_HEARTBEATS = 5  # a foreign run is CRASHED after this many missed heartbeats


class Store:
    """Reads runs from a repository. Writing goes through :mod:`gittrack.core.writer`."""

    RUNS_PREFIX = RUNS_PREFIX
    EXPERIMENTS_REF = EXPERIMENTS_REF

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.git = repo.git

    # -- refs ---------------------------------------------------------------

    def run_refs(self) -> dict[str, str]:
        """run_id → commit id of every run ref."""
        out: dict[str, str] = {}
        n = len(RUNS_PREFIX)
        for ref in self.git.references.iterator():
            name = ref.name
            if name.startswith(RUNS_PREFIX):
                out[name[n:]] = str(ref.target)
        return out

    def resolve_run_id(self, prefix: str) -> str:
        """The full run id for ``prefix`` (a unique prefix is enough, as in git).

        Raises:
            RunNotFound: no run matches. AmbiguousRunId: several do.
        """
        if not isinstance(prefix, str) or not prefix:
            raise InvalidParameter(f"Invalid run id {prefix!r}")
        if self.git.references.get(run_ref(prefix)) is not None:
            return prefix
        if get_open_writer(self.repo, prefix) is not None:
            return prefix  # live in this process, first commit not written yet
        from gittrack.core.writer import open_writers

        candidates = set(self.run_refs())
        candidates.update(
            w.run_id for w in open_writers() if w.repo.common_dir == self.repo.common_dir
        )
        matches = [r for r in candidates if r.startswith(prefix)]
        if not matches:
            raise RunNotFound(prefix)
        if len(matches) > 1:
            raise AmbiguousRunId(prefix, sorted(matches))
        return matches[0]

    def run_commit(self, run_id: str) -> str:
        ref = self.git.references.get(run_ref(run_id))
        if ref is None:
            raise RunNotFound(run_id)
        return str(ref.target)

    # -- records --------------------------------------------------------------

    def read_record(self, commit: str, run_id: str | None = None) -> dict[str, Any]:
        """The parsed record files of a run commit.

        Returns a dict with ``run`` (run.yaml), ``params`` (flat, typed), ``tags``,
        ``metrics`` (summaries), ``note``, ``artifacts``.

        Raises:
            CorruptRecord: a file is missing, not YAML, unsafe, or of the wrong shape.
        """
        import yaml

        who = run_id or commit[:12]
        try:
            tree = self.git[commit].tree  # type: ignore[union-attr]
            gt = tree[records.RECORD_DIR]
        except (KeyError, ValueError, AttributeError) as exc:
            raise CorruptRecord(who, f"commit {commit[:12]} has no {records.RECORD_DIR}/") from exc

        def load(name: str, kind: type) -> Any:
            try:
                entry = gt[name]
            except KeyError:
                return kind()
            try:
                value = records.load_yaml(entry.data)
            except yaml.YAMLError as exc:
                msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
                raise CorruptRecord(who, f"{records.RECORD_DIR}/{name}: {msg}") from exc
            except AttributeError as exc:
                raise CorruptRecord(who, f"{records.RECORD_DIR}/{name} is not a file") from exc
            if value is None:
                return kind()
            if not isinstance(value, kind):
                raise CorruptRecord(
                    who,
                    f"{records.RECORD_DIR}/{name} holds a {type(value).__name__}, "
                    f"expected a {kind.__name__}",
                )
            return value

        if RUN_FILE not in gt:
            raise CorruptRecord(who, f"{records.RECORD_DIR}/{RUN_FILE} is missing")
        run = load(RUN_FILE, dict)
        for field in ("run_id", "experiment_id", "status", "start_time"):
            if field not in run:
                raise CorruptRecord(who, f"run.yaml has no {field!r}")
        note = ""
        if NOTE_FILE in gt:
            note = gt[NOTE_FILE].data.decode("utf-8", "replace")
        return {
            "run": run,
            "params": records.flatten_params(load(PARAMS_FILE, dict)),
            "tags": {str(k): str(v) for k, v in load(TAGS_FILE, dict).items()},
            "metrics": load(METRICS_FILE, dict),
            "note": note,
            "artifacts": load(ARTIFACTS_FILE, dict),
        }

    def derived_status(self, record: dict[str, Any]) -> str:
        """The status to show: RUNNING runs whose writer is gone are CRASHED."""
        status = record.get("status", "RUNNING")
        if status != RunStatus.RUNNING:
            return status
        run_id = record.get("run_id", "")
        if get_open_writer(self.repo, run_id) is not None:
            return status
        if record.get("host") == socket.gethostname():
            held = is_held_elsewhere(lock_path(self.repo.state_dir, run_id))
            if held is False:
                return RunStatus.CRASHED
            if held is True:
                return status
        heartbeat = record.get("heartbeat") or record.get("start_time") or 0
        limit = self.repo.config_float("gittrack.heartbeat-seconds", DEFAULT_HEARTBEAT_SECONDS)
        if time.time() * 1000 - heartbeat > STALE_HEARTBEATS * limit * 1000:
            return RunStatus.CRASHED
        return status

    def run_from_record(self, rec: dict[str, Any], commit: str = "") -> Run:
        r = rec["run"]
        run_id = str(r["run_id"])
        params = {k: records.param_str(v) for k, v in rec["params"].items()}
        metrics: dict[str, float] = {}
        for k, v in rec["metrics"].items():
            raw = v.get("value") if isinstance(v, dict) else None
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise CorruptRecord(
                    str(rec["run"].get("run_id")), f"metrics.yaml: {k!r} has no numeric value"
                )
            metrics[str(k)] = float(raw)
        tags = system_tags(r, rec["note"])
        tags.update(rec["tags"])
        try:
            start_time = int(r["start_time"])
            end_time = int(r["end_time"]) if r.get("end_time") is not None else None
        except (TypeError, ValueError) as exc:
            raise CorruptRecord(run_id, f"run.yaml: bad start/end time: {exc}") from exc
        info = RunInfo(
            run_id=run_id,
            experiment_id=str(r["experiment_id"]),
            run_name=str(r.get("name") or ""),
            user_id=str(r.get("user") or ""),
            status=self.derived_status(r),
            start_time=start_time,
            end_time=end_time,
            artifact_uri=str(r.get("artifact_uri") or f"runs:/{run_id}"),
            lifecycle_stage=str(r.get("lifecycle") or "active"),
        )
        return Run(info, RunData(metrics, params, tags), r, dict(rec["metrics"]), commit)

    def read_run(self, run_id: str, commit: str | None = None) -> Run:
        """The run ``run_id`` (full id) as of ``commit`` (default: its ref)."""
        commit = commit or self.run_commit(run_id)
        return self.run_from_record(self.read_record(commit, run_id), commit)

    def iter_runs(self, errors: list[CorruptRecord] | None = None) -> list[Run]:
        """Every run; unreadable ones are skipped (and appended to ``errors``)."""
        out = []
        for run_id, commit in self.run_refs().items():
            try:
                out.append(self.read_run(run_id, commit))
            except CorruptRecord as exc:
                if errors is not None:
                    errors.append(exc)
        return out

    # -- metric histories -----------------------------------------------------

    def metric_history(self, run_id: str, key: str, commit: str | None = None) -> list[Metric]:
        """Every logged point of ``key``, in the order logged."""
        steps, values, stamps = self.metric_arrays(run_id, key, commit)
        # A million new objects would trigger the cyclic GC thousands of times over
        # (it scans every tracked object): pause it while building the list.
        with gc_paused():
            return list(map(Metric, [key] * len(steps), values, stamps, steps))

    def metric_arrays(
        self, run_id: str, key: str, commit: str | None = None
    ) -> tuple[list[int], list[float], list[int]]:
        """(steps, values, timestamps) of ``key``."""
        commit = commit or self.run_commit(run_id)
        chunks = history.history_chunks(self.git, commit, key)
        if chunks is None:
            return [], [], []
        return history.load_history(self.repo, self.git, chunks, run=run_id, key=key)

    def metric_keys(self, run_id: str, commit: str | None = None) -> list[str]:
        commit = commit or self.run_commit(run_id)
        mdir = history.metric_tree(self.git, commit)
        if mdir is None:
            return []
        return sorted(records.filename_to_key(e.name) for e in mdir)


# run.yaml field -> the system tag MLflow keeps it in (and the same for ``source:``)
_RUN_TAGS = (
    ("name", "mlflow.runName"),
    ("user", "mlflow.user"),
    ("source_name", "mlflow.source.name"),
    ("source_type", "mlflow.source.type"),
)
_SOURCE_TAGS = (
    ("commit", "mlflow.source.git.commit"),
    ("branch", "mlflow.source.git.branch"),
    ("remote_url", "mlflow.source.git.repoURL"),
)


def system_tags(run: dict[str, Any], note: str) -> dict[str, str]:
    """The ``mlflow.*`` tags MLflow would set, derived from run.yaml."""
    src = run.get("source") or {}
    tags = {tag: str(run[field]) for field, tag in _RUN_TAGS if run.get(field)}
    tags.update((tag, str(src[field])) for field, tag in _SOURCE_TAGS if src.get(field))
    if src.get("commit") or src.get("dirty"):
        tags["gittrack.source.dirty"] = "true" if src.get("dirty") else "false"
    if note:
        tags["mlflow.note.content"] = note
    if run.get("parent_run_id"):
        tags["mlflow.parentRunId"] = str(run["parent_run_id"])
    return tags


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for a bulk allocation (re-enabled after,
    if it was enabled before)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
