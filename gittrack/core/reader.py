"""Reading run records out of git: refs, records, metric histories, derived status."""

from __future__ import annotations

import contextlib
import gc
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import Metric, Run, RunData, RunInfo, RunStatus
from gittrack.core.live import DEFAULT_HEARTBEAT_SECONDS, get_open_writer, open_writers
from gittrack.core.locks import is_held_elsewhere
from gittrack.core.records import check, history
from gittrack.core.records import formats as records
from gittrack.core.records import summary as run_summary
from gittrack.errors import AmbiguousRunId, CorruptRecord, InvalidParameter, RunNotFound
from gittrack.layout import (
    ARTIFACTS_FILE,
    EXPERIMENTS_REF,
    INPUTS_FILE,
    METRICS_FILE,
    NOTE_FILE,
    PARAMS_FILE,
    RUN_FILE,
    RUNS_PREFIX,
    SUMMARY_FILE,
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

    def read_record(
        self,
        commit: str,
        run_id: str | None = None,
        *,
        summary: bool = True,
        check_summary: bool = False,
    ) -> dict[str, Any]:
        """The parsed record files of a run commit.

        ``run_id`` is the id of the ref the commit came from: run.yaml must name it.
        A finished run's ``summary.json`` (:mod:`gittrack.core.records.summary`) supplies
        the documents of the files whose blob ids it names, unparsed; ``summary=False``
        parses every file; ``check_summary=True`` (the guard) parses every file too and
        raises CorruptRecord when the summary names a file's blob id but holds another
        document than the file parses to (the index would trust it).

        Returns a dict with ``run`` (run.yaml), ``params`` (flat, typed), ``tags``,
        ``metrics`` (summaries), ``note``, ``artifacts``, ``inputs`` (dataset inputs, a
        list; entries of another shape are left out).

        Raises:
            CorruptRecord: a file is missing, not a file, not YAML, unsafe, over a limit
                of :mod:`gittrack.core.records.safeyaml`, or of the wrong shape
                (:mod:`gittrack.core.records.check`).
        """
        import pygit2
        import yaml

        who = run_id or commit[:12]
        try:
            tree = self.git[commit].peel(pygit2.Commit).tree
            gt: Any = tree[records.RECORD_DIR]
        except (KeyError, ValueError, AttributeError, pygit2.GitError) as exc:
            raise CorruptRecord(who, f"commit {commit[:12]} has no {records.RECORD_DIR}/") from exc
        _require_folder(who, records.RECORD_DIR, gt)

        def blob(name: str) -> bytes | None:
            """The bytes of ``.gittrack/<name>``, None when absent."""
            try:
                entry = gt[name]
            except KeyError:
                return None
            _require_file(who, f"{records.RECORD_DIR}/{name}", entry)
            return entry.data

        known: dict[str, tuple[str, Any]] = {}  # file -> (blob id, document): the summary
        if (summary or check_summary) and SUMMARY_FILE in gt:
            with contextlib.suppress(CorruptRecord):  # not a file, too big: ignored
                raw = blob(SUMMARY_FILE)
                known = run_summary.docs(raw) if raw else {}

        def parsed(name: str) -> Any:
            """The YAML value of ``.gittrack/<name>``, None when absent or empty."""
            hit = known.get(name)
            if hit is not None and not check_summary:
                try:
                    entry = gt[name]
                except KeyError:
                    return None
                if str(entry.id) == hit[0]:  # not parsed here: its size does not matter
                    _require_file(who, f"{records.RECORD_DIR}/{name}", entry, sized=False)
                    return hit[1]
            data = blob(name)
            if data is None:
                return None
            try:
                value = records.load_yaml(data)
            except yaml.YAMLError as exc:
                msg = " ".join(str(exc).split()) or exc.__class__.__name__
                raise CorruptRecord(
                    who, f"{records.RECORD_DIR}/{name}: {msg} (the file is not valid safe YAML)"
                ) from exc
            if (
                hit is not None
                and str(gt[name].id) == hit[0]
                and run_summary.differs(hit[1], value)
            ):
                raise CorruptRecord(who, f"{run_summary.PATH} does not match {name}")
            return value

        def load(name: str, kind: type) -> Any:
            value = parsed(name)
            if value is None:
                return kind()
            if not isinstance(value, kind):
                raise CorruptRecord(
                    who,
                    f"{records.RECORD_DIR}/{name} holds a {type(value).__name__}, "
                    f"expected a {kind.__name__}",
                )
            problem = check.mapping_keys_problem(f"{records.RECORD_DIR}/{name}", value)
            if problem:
                raise CorruptRecord(who, problem)
            return value

        if RUN_FILE not in gt:
            raise CorruptRecord(who, f"{records.RECORD_DIR}/{RUN_FILE} is missing")
        run = load(RUN_FILE, dict)
        problem = check.run_yaml_problem(run, run_id)
        if problem:
            raise CorruptRecord(who, problem)
        note = ""
        raw_note = blob(NOTE_FILE)
        if raw_note is not None:
            note = raw_note.decode("utf-8", "replace")
        try:
            params = records.flatten_params(load(PARAMS_FILE, dict))
        except ValueError as exc:
            raise CorruptRecord(who, str(exc)) from exc
        raw_inputs = parsed(INPUTS_FILE)
        inputs = (
            [i for i in raw_inputs if isinstance(i, dict)] if isinstance(raw_inputs, list) else []
        )
        return {
            "run": run,
            "params": params,
            "tags": {k: str(v) for k, v in load(TAGS_FILE, dict).items()},
            "metrics": load(METRICS_FILE, dict),
            "note": note,
            "artifacts": load(ARTIFACTS_FILE, dict),
            "inputs": inputs,
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
        mdir = self.metric_dir(run_id, commit, key)
        if mdir is None:
            return [], [], []
        for name in sorted(e.name for e in mdir):
            _require_file(run_id, f"metric {key!r} chunk {name}", mdir[name])
        return history.load_history(
            self.repo, self.git, history.chunk_list(mdir), run=run_id, key=key
        )

    def metric_keys(self, run_id: str, commit: str | None = None) -> list[str]:
        """The keys with a metric history in the run (as of ``commit``).

        Raises:
            CorruptRecord: ``.gittrack/metrics`` is not a folder of folders.
        """
        mdir = self.metric_dir(run_id, commit or self.run_commit(run_id))
        if mdir is None:
            return []
        for entry in mdir:
            _require_folder(run_id, f"{records.RECORD_DIR}/metrics/{entry.name}", entry)
        return sorted(records.filename_to_key(e.name) for e in mdir)

    def metric_dir(self, run_id: str, commit: str, key: str | None = None) -> Any:
        """The tree ``.gittrack/metrics`` (or its folder for ``key``), None when absent.

        Raises:
            CorruptRecord: an entry on the way is not a folder.
        """
        import pygit2

        node: Any = self.git[commit].peel(pygit2.Commit).tree
        parts = [records.RECORD_DIR, "metrics"]
        if key is not None:
            parts.append(records.key_to_filename(key))
        for i, part in enumerate(parts):
            try:
                node = node[part]
            except KeyError:
                return None
            _require_folder(run_id, "/".join(parts[: i + 1]), node)
        return node


def _require_folder(run_id: str, what: str, entry: Any) -> None:
    """Raise CorruptRecord unless the tree entry ``entry`` is a folder."""
    import pygit2

    if entry.filemode != pygit2.GIT_FILEMODE_TREE:
        raise CorruptRecord(run_id, f"{what} is a {_entry_kind(entry)}, not a folder")


_FILE_MODES = (0o100644, 0o100755)  # pygit2.GIT_FILEMODE_BLOB, ..._BLOB_EXECUTABLE


def _require_file(run_id: str, what: str, entry: Any, sized: bool = True) -> None:
    """Raise CorruptRecord unless ``entry`` is a file (not a folder, symlink or gitlink)
    within the record size limit (unless not ``sized``: a file not read)."""
    if entry.filemode not in _FILE_MODES:
        raise CorruptRecord(run_id, f"{what} is a {_entry_kind(entry)}, not a file")
    if sized and entry.size > records.RECORD_LIMITS.max_bytes:
        raise CorruptRecord(
            run_id,
            f"{what}: {entry.size:,} bytes, over the limit of "
            f"{records.RECORD_LIMITS.max_bytes:,} bytes for a record",
        )


def _entry_kind(entry: Any) -> str:
    """What a tree entry is, in words, for an error message."""
    import pygit2

    return {
        pygit2.GIT_FILEMODE_TREE: "folder",
        pygit2.GIT_FILEMODE_LINK: "symbolic link",
        pygit2.GIT_FILEMODE_COMMIT: "submodule (gitlink)",
    }.get(entry.filemode, "file")


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
