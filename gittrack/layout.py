"""Where gittrack keeps things, defined once: ref names, record paths, local state paths.

Refs (shared: pushed and fetched like branches)::

    refs/gittrack/runs/<run_id>       one run: a chain of commits
    refs/gittrack/experiments         experiments.yaml: experiment id -> name, ...
    refs/gittrack/models/<model_id>   one logged model: model.yaml + artifacts.yaml
    refs/gittrack/registry/<sha256>   one registered model (sha256 of its UTF-8 name):
                                      registered_model.yaml + versions/<n>.yaml
    refs/gittrack-backup/...          old tips kept by ``pull --force``
    refs/gittrack-incoming/<remote>/  fetched refs before they are merged in
    refs/gittrack-stamp/push          on a remote: what the last gittrack push left there
                                      (a blob naming a digest of the refs; see STAMP_REF)

A run commit's tree is the run's source plus ``.gittrack/`` (the record)::

    .gittrack/run.yaml                identity, status, times, source, lifecycle
    .gittrack/params.yaml             params (dotted keys nested where they do not clash)
    .gittrack/tags.yaml               user tags
    .gittrack/metrics.yaml            per-key summary (latest, min, max, count)
    .gittrack/metrics/<key>/NNNNNN.tsv metric history, 10,000 points per chunk
    .gittrack/artifacts.yaml          artifact path -> {sha256, size, where}
    .gittrack/artifacts/<path>        small artifacts' bytes (``where: git``)
    .gittrack/note.md                 the description (``mlflow.note.content``)
    .gittrack/environment.yaml        the environment the run ran in
    .gittrack/inputs.yaml             dataset inputs logged over REST
    .gittrack/summary.json            a finished run's four records parsed (what the index reads)
    .gittrack/models.yaml             logged models the run used and produced

Local state, derived and never pushed (``.git/gittrack/``, see :func:`state_dir`)::

    locks/<run_id>.lock, locks/experiments.lock,
    locks/model-<model_id>.lock,
    locks/registry-<sha256 of name>.lock          inter-process locks (flock)
    objects/sha256/<ab>/<62 hex>                  the local artifact store / cache
    cache/chunks/<ab>/<oid>                       decoded metric-history chunks
    cache/environment.json                        the pre-commit hook's last snapshot
    cache/columns.bin                             the wide run table, by column (query.frames)
    index.sqlite                                  the query index
    run-commits/<run_id>                          commits made while a run was live
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gittrack.core.validation import validate_sha256

# -- refs ---------------------------------------------------------------------------

NAMESPACE = "refs/gittrack/"
RUNS_PREFIX = NAMESPACE + "runs/"
EXPERIMENTS_REF = NAMESPACE + "experiments"
MODELS_PREFIX = NAMESPACE + "models/"
REGISTRY_PREFIX = NAMESPACE + "registry/"  # registered models, one ref per name
IMPORTS_PREFIX = NAMESPACE + "imports/"  # gittrack import: source run id -> run id maps
BACKUP_PREFIX = "refs/gittrack-backup/"
INCOMING_PREFIX = "refs/gittrack-incoming/"
REFSPEC = f"{NAMESPACE}*:{NAMESPACE}*"  # fast-forward only: no leading '+'
# The push stamp (on remotes only): every gittrack push sets it, in the same `git push`, to a
# blob naming the refs it left there (or, when it cannot know them, to a blob nobody's record
# names). Outside NAMESPACE on purpose: no `refs/gittrack/*` refspec, reader or check sees it.
STAMP_REF = "refs/gittrack-stamp/push"


def run_ref(run_id: str) -> str:
    """The ref of run ``run_id``: ``refs/gittrack/runs/<run_id>``."""
    return RUNS_PREFIX + run_id


def model_ref(model_id: str) -> str:
    """The ref of logged model ``model_id``: ``refs/gittrack/models/<model_id>``."""
    return MODELS_PREFIX + model_id


def registry_key(name: str) -> str:
    """The key of registered model ``name`` in ref and lock names: sha256 hex of its UTF-8.

    Names may hold spaces, unicode and characters git refuses in ref names; the key never does.
    """
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def registry_ref(name: str) -> str:
    """The ref of registered model ``name``: ``refs/gittrack/registry/<sha256 of name>``."""
    return REGISTRY_PREFIX + registry_key(name)


def is_run_ref(ref: str) -> bool:
    """Whether ``ref`` names a run (``refs/gittrack/runs/...``)."""
    return ref.startswith(RUNS_PREFIX)


def run_id_of_ref(ref: str) -> str:
    """The run id a run ref names (``refs/gittrack/runs/abc`` -> ``abc``)."""
    return ref[len(RUNS_PREFIX) :] if ref.startswith(RUNS_PREFIX) else ref


# -- the record in a run commit's tree ----------------------------------------------

RECORD_DIR = ".gittrack"
RUN_FILE = "run.yaml"
PARAMS_FILE = "params.yaml"
TAGS_FILE = "tags.yaml"
METRICS_FILE = "metrics.yaml"
METRICS_DIR = "metrics"
ARTIFACTS_FILE = "artifacts.yaml"
ARTIFACTS_DIR = "artifacts"
NOTE_FILE = "note.md"
ENVIRONMENT_FILE = "environment.yaml"
INPUTS_FILE = "inputs.yaml"
MODELS_FILE = "models.yaml"  # the run's links to logged models (inputs and outputs)
SUMMARY_FILE = "summary.json"  # a finished run's records parsed, for the index (records.summary)
# the YAML records a checkpoint writes, by the writer's name for them
RECORD_FILES = {
    "run": RUN_FILE,
    "params": PARAMS_FILE,
    "tags": TAGS_FILE,
    "metrics": METRICS_FILE,
    "note": NOTE_FILE,
    "artifacts": ARTIFACTS_FILE,
}
EXPERIMENTS_FILE = "experiments.yaml"  # at the root of refs/gittrack/experiments
# in the user's source tree, not in a record
ENVIRONMENT_LOCK_FILE = f"{RECORD_DIR}/environment.lock.yaml"
PROJECT_FILE = ".gittrack.yaml"


def record_path(relpath: str) -> str:
    """``.gittrack/<relpath>``: where a record file sits in a run commit's tree."""
    return f"{RECORD_DIR}/{relpath}"


def artifact_blob_relpath(path: str) -> str:
    """``artifacts/<path>`` under ``.gittrack/``: the bytes of a small artifact."""
    return f"{ARTIFACTS_DIR}/{path}"


def metric_dir_relpath(filename: str) -> str:
    """``metrics/<filename>`` under ``.gittrack/`` (``filename`` from ``key_to_filename``)."""
    return f"{METRICS_DIR}/{filename}"


def chunk_name(index: int) -> str:
    """The file name of metric-history chunk ``index``: ``000003.tsv``."""
    return f"{index:06d}.tsv"


# -- local state under .git/gittrack ------------------------------------------------

STATE_DIR = "gittrack"
LOCKS_DIR = "locks"
OBJECTS_DIR = "objects"
INDEX_FILE = "index.sqlite"
EXPERIMENTS_LOCK = "experiments"
MODEL_FILE = "model.yaml"  # at the root of a logged model's commit
# at the root of a registered model's commit: the model, and one file per version
REGISTERED_MODEL_FILE = "registered_model.yaml"
REGISTRY_VERSIONS_DIR = "versions"


def state_dir(common_dir: Path) -> Path:
    """``<git common dir>/gittrack``: local, derived state (not created here)."""
    return Path(common_dir) / STATE_DIR


def lock_path(state: Path, name: str) -> Path:
    """``<state>/locks/<name>.lock``: the lock a run id (or ``experiments``) is written under."""
    return Path(state) / LOCKS_DIR / f"{name}.lock"


def model_lock_path(state: Path, model_id: str) -> Path:
    """``<state>/locks/model-<model_id>.lock``: serialises writers of one logged model."""
    return lock_path(state, f"{_MODEL_LOCK_PREFIX}{model_id}")


def registry_lock_path(state: Path, name: str) -> Path:
    """``<state>/locks/registry-<key>.lock``: serialises writers of one registered model."""
    return lock_path(state, f"{_REGISTRY_LOCK_PREFIX}{registry_key(name)}")


def registry_version_file(version: int) -> str:
    """``<n>.yaml``: the name of version ``n``'s file in ``versions/``."""
    return f"{int(version)}.yaml"


def registry_version_path(version: int) -> str:
    """``versions/<n>.yaml``: where version ``n`` of a registered model sits in its commit."""
    return f"{REGISTRY_VERSIONS_DIR}/{registry_version_file(version)}"


def registry_version_of_path(name: str) -> int | None:
    """The version number a file name under ``versions/`` holds (``12.yaml`` -> 12), or None."""
    stem, dot, ext = name.partition(".")
    if dot and ext == "yaml" and stem.isascii() and stem.isdigit() and not stem.startswith("0"):
        return int(stem)
    return None


def locks_dir(state: Path) -> Path:
    return Path(state) / LOCKS_DIR


IMPORT_LOCK = "import"  # held by `gittrack import` for its whole run
_MODEL_LOCK_PREFIX = "model-"
_REGISTRY_LOCK_PREFIX = "registry-"


def lock_name(path: Path) -> str:
    """The name a lock file is for: a run id, ``experiments``, ``import``, ``model-…``, ``registry-…``."""
    return Path(path).name[: -len(".lock")]


def run_lock_id(path: Path) -> str | None:
    """The run id a lock file is for, or None when it is not a run's lock."""
    name = lock_name(path)
    if name in (EXPERIMENTS_LOCK, IMPORT_LOCK) or name.startswith(
        (_MODEL_LOCK_PREFIX, _REGISTRY_LOCK_PREFIX)
    ):
        return None
    return name


def objects_dir(state: Path) -> Path:
    """``<state>/objects``: the local artifact store (or the cache of a remote one)."""
    return Path(state) / OBJECTS_DIR


def index_path(state: Path) -> Path:
    """``<state>/index.sqlite``: the query index."""
    return Path(state) / INDEX_FILE


def chunk_cache_path(state: Path, oid: str) -> Path:
    """``<state>/cache/chunks/<oid[:2]>/<oid[2:]>``: a decoded metric-history chunk."""
    return Path(state) / "cache" / "chunks" / oid[:2] / oid[2:]


def columns_cache_path(state: Path) -> Path:
    """``<state>/cache/columns.bin``: the columnar copy of the index's wide run table."""
    return Path(state) / "cache" / "columns.bin"


def env_snapshot_cache_path(state: Path) -> Path:
    """``<state>/cache/environment.json``: the pre-commit hook's last snapshot and its key."""
    return Path(state) / "cache" / "environment.json"


def env_snapshot_watch_path(state: Path) -> Path:
    """``<state>/cache/environment.watch``: the lock file's path, then the files whose
    ``stat`` the pre-commit wrapper compares (shell only) before it starts Python."""
    return Path(state) / "cache" / "environment.watch"


def env_snapshot_stamp_path(state: Path) -> Path:
    """``<state>/cache/environment.stamp``: the wrapper's signature of the watched files
    when Python last found the snapshot current and staged (equal: no Python starts)."""
    return Path(state) / "cache" / "environment.stamp"


JOURNAL_DIR = "journal"
JOURNAL_SUFFIX = ".journal"
JOURNAL_TRAILER = "Gittrack-Journal"  # commit trailer: the journal entry a checkpoint covers


def journal_dir(state: Path) -> Path:
    """``<state>/journal``: the server's write-ahead journals, one file per run."""
    return Path(state) / JOURNAL_DIR


def journal_segment_path(state: Path, run_id: str, gen: str, first: int) -> Path:
    """``<state>/journal/<run_id>-<gen>-<first seq>.journal``: one segment of a run's journal
    (writes the server acknowledged before committing them; see gittrack.core.journal)."""
    return journal_dir(state) / f"{run_id.lower()}-{gen}-{first:012d}{JOURNAL_SUFFIX}"


def run_commits_path(state: Path, run_id: str) -> Path:
    """``<state>/run-commits/<run_id>``: commits made while the run was live."""
    return Path(state) / "run-commits" / run_id.lower()


def object_key(sha256: str) -> str:
    """``sha256/<ab>/<62 hex>``: where object ``sha256`` sits under a store's root.

    Every object path is built here, so a sha256 from a record can never name a
    file outside the store.

    Raises:
        InvalidParameter: ``sha256`` is not 64 lowercase hex digits.
    """
    validate_sha256(sha256)
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


def stamp_repo_path(state: Path) -> Path:
    """``<state>/remotes/stamps.git``: a bare repository without runs (its config includes
    ours) into which the remotes' push stamps are fetched: a fetch there costs nothing per
    run ref, a fetch here reads every ref."""
    return Path(state) / "remotes" / "stamps.git"


def remote_refs_path(state: Path, remote_key: str) -> Path:
    """``<state>/remotes/<key>.refs``: a remote's ``refs/gittrack/`` as last seen by a push or
    fetch (``<sha> <ref>`` lines), so a push need not list the remote when nothing moved."""
    return Path(state) / "remotes" / f"{remote_key}.refs"
