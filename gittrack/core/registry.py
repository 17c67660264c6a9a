"""The model registry as records in the repository: registered models, versions, aliases.

A registered model lives on its own ref, ``refs/gittrack/registry/<sha256 of its name>``
(:func:`gittrack.layout.registry_ref`), one commit per change. The commit's tree::

    registered_model.yaml   format, name, description, tags, aliases {alias: version},
                            creation/last-updated time (ms), deleted (bool), renamed_to
    versions/<n>.yaml       one per version: name, version (int), source, run_id, model_id,
                            run_link, status, status_message, current_stage, description,
                            tags, user_id, creation/last-updated time (ms), signature
                            (summary), deleted (a tombstone: a deleted version keeps its file)

Every change is one commit whose message says what changed (``alias champion: 3 -> 4``),
so ``git log`` of the ref is the model's history; :meth:`RegistryStore.alias_history`
reads alias moves from the records of that log, not from the messages. Version numbers
are ``max(existing, tombstones included) + 1``: a number is never reused. Deleting a model
marks ``registered_model.yaml`` deleted and tombstones every version; creating the name
again continues on the same ref (and its numbering). Renaming writes the model to the new
name's ref (its first commit's parent is the old tip, so history follows) and leaves a
deleted record with ``renamed_to`` on the old one.

Writers in several processes are serialised by a lock file per name; each change re-reads
the tip under the lock, so none is lost (as :mod:`gittrack.core.logged_models`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import ModelVersion, RegisteredModel
from gittrack.core.locks import FileLock, registry_lock
from gittrack.core.records.formats import dump_yaml, load_yaml
from gittrack.core.validation import (
    validate_alias_name,
    validate_model_name,
    validate_model_version,
    validate_registry_tag,
)
from gittrack.errors import (
    AlreadyExists,
    CorruptRecord,
    InvalidParameter,
    ModelVersionNotFound,
    RegisteredModelNotFound,
)
from gittrack.layout import (
    REGISTERED_MODEL_FILE,
    REGISTRY_PREFIX,
    REGISTRY_VERSIONS_DIR,
    registry_ref,
    registry_version_file,
    registry_version_of_path,
    registry_version_path,
)

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

FORMAT_VERSION = 1

# MLflow's legacy stages (mlflow/entities/model_registry/model_version_stages.py)
STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
ALL_STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
ACTIVE_STAGES = (STAGE_STAGING, STAGE_PRODUCTION)
_CANONICAL_STAGES = {s.lower(): s for s in ALL_STAGES}

# what MLflow's SQL store writes over the fields of a deleted version
REDACTED = {
    "source": "REDACTED-SOURCE-PATH",
    "run_id": "REDACTED-RUN-ID",
    "run_link": "REDACTED-RUN-LINK",
    "description": None,
    "user_id": None,
    "status_message": None,
}


def now_ms() -> int:
    return int(time.time() * 1000)


def canonical_stage(stage: Any) -> str:
    """MLflow's spelling of a stage name (case-insensitive).

    Raises:
        InvalidParameter: not one of None, Staging, Production, Archived (MLflow's message).
    """
    found = _CANONICAL_STAGES.get(str(stage).lower()) if stage is not None else None
    if found is None:
        raise InvalidParameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
        )
    return found


MODELS_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelsUri:
    """A parsed ``models:/`` URI: exactly one of ``version``, ``stage``, ``alias``, or
    ``latest`` (all None: ``models:/name`` with no suffix is a logged model id)."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False


def is_models_uri(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith(MODELS_SCHEME)


def logged_model_id(uri: str) -> str | None:
    """The logged model id ``models:/m-<id>`` names, or None for any other URI."""
    if not is_models_uri(uri):
        return None
    rest = uri[len(MODELS_SCHEME) :]
    if "/" in rest or "@" in rest or not rest.startswith("m-"):
        return None
    return rest


def parse_models_uri(uri: str) -> ModelsUri:
    """``models:/name/3``, ``models:/name/latest``, ``models:/name/Production``,
    ``models:/name@alias``, or ``models:/m-<id>`` (a logged model), as MLflow parses them.

    Raises:
        InvalidParameter: not one of those forms (names the URI).
    """
    bad = InvalidParameter(
        f"Not a proper models:/ URI: {uri!r}. Models URIs must be of the form "
        "'models:/model_name/suffix' or 'models:/model_name@alias' where suffix is a model "
        "version, stage, or the string 'latest' and where alias is a registered model alias. "
        "Only one of suffix or alias can be defined at a time."
    )
    if not is_models_uri(uri):
        raise bad
    parts = uri[len(MODELS_SCHEME) :].split("/")
    if len(parts) > 2 or parts[0].strip() == "":
        raise bad
    if len(parts) == 2:
        name, suffix = parts
        if suffix.strip() == "":
            raise bad
        if suffix.isascii() and suffix.isdigit():
            return ModelsUri(name, version=int(suffix))
        if suffix.lower() == "latest":
            return ModelsUri(name, latest=True)
        return ModelsUri(name, stage=suffix)
    if "@" in parts[0]:
        name, _, alias = parts[0].rpartition("@")
        if not name or not alias.strip():
            raise bad
        return ModelsUri(name, alias=alias)
    return ModelsUri(parts[0])


@dataclass
class ModelState:
    """One commit of a registered model's ref: its record and its versions' records."""

    model: dict[str, Any]
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit: Any = None

    @property
    def name(self) -> str:
        return str(self.model["name"])

    @property
    def deleted(self) -> bool:
        return bool(self.model.get("deleted"))

    def live_versions(self) -> list[dict[str, Any]]:
        """The versions that are not deleted, lowest number first."""
        return [v for n, v in sorted(self.versions.items()) if not v.get("deleted")]

    def version(self, number: Any) -> dict[str, Any]:
        """The record of a live version.

        Raises:
            InvalidParameter: not an integer. ModelVersionNotFound.
        """
        n = validate_model_version(number)
        rec = self.versions.get(n)
        if rec is None or rec.get("deleted"):
            raise ModelVersionNotFound(self.name, n)
        return rec

    def aliases_of(self, number: int) -> list[str]:
        return [a for a, v in (self.model.get("aliases") or {}).items() if int(v) == number]

    def copy(self) -> ModelState:
        """A deep copy of the records (the commit is shared)."""
        return ModelState(copy.deepcopy(self.model), copy.deepcopy(self.versions), self.commit)

    def next_version(self) -> int:
        return max(self.versions, default=0) + 1


# -- records <-> entities -----------------------------------------------------------------


def version_entity(state: ModelState, rec: dict[str, Any]) -> ModelVersion:
    n = int(rec["version"])
    return ModelVersion(
        name=state.name,
        version=str(n),
        creation_timestamp=rec.get("creation_timestamp"),
        last_updated_timestamp=rec.get("last_updated_timestamp"),
        description=rec.get("description"),
        user_id=rec.get("user_id"),
        current_stage=str(rec.get("current_stage") or STAGE_NONE),
        source=rec.get("source"),
        run_id=rec.get("run_id"),
        status=str(rec.get("status") or "READY"),
        status_message=rec.get("status_message"),
        tags=dict(rec.get("tags") or {}),
        run_link=rec.get("run_link"),
        aliases=state.aliases_of(n),
        model_id=rec.get("model_id"),
        signature=dict(rec["signature"]) if isinstance(rec.get("signature"), dict) else None,
    )


def latest_per_stage(state: ModelState) -> list[dict[str, Any]]:
    """The newest live version of each stage (MLflow's ``latest_versions``)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in state.live_versions():
        latest[str(rec.get("current_stage") or STAGE_NONE)] = rec
    return sorted(latest.values(), key=lambda r: int(r["version"]))


def model_entity(state: ModelState) -> RegisteredModel:
    m = state.model
    return RegisteredModel(
        name=state.name,
        creation_timestamp=m.get("creation_timestamp"),
        last_updated_timestamp=m.get("last_updated_timestamp"),
        description=m.get("description"),
        latest_versions=[version_entity(state, r) for r in latest_per_stage(state)],
        tags=dict(m.get("tags") or {}),
        aliases={a: str(v) for a, v in (m.get("aliases") or {}).items()},
    )


# -- checking records read from git ------------------------------------------------------


# MLflow's ModelVersionStatus names
VERSION_STATUSES = ("READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION")
_TEXT_FIELDS = ("description",)
_VERSION_TEXT_FIELDS = (
    "name",
    "source",
    "run_id",
    "model_id",
    "run_link",
    "status_message",
    "description",
    "user_id",
)
_TIMES = ("creation_timestamp", "last_updated_timestamp")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _common_problem(rec: dict[str, Any], text_fields: tuple[str, ...]) -> str | None:
    """What the model and version records share: texts, times, tags, the tombstone."""
    for key in text_fields:
        if not isinstance(rec.get(key), (str, type(None))):
            return f"{key} {rec.get(key)!r} is not a string"
    for key in _TIMES:
        if not isinstance(rec.get(key), (int, type(None))) or isinstance(rec.get(key), bool):
            return f"{key} {rec.get(key)!r} is not a time in milliseconds"
    if not isinstance(rec.get("deleted", False), bool):
        return f"deleted {rec.get('deleted')!r} is not true or false"
    if "format" in rec and not _is_int(rec["format"]):
        return f"format {rec['format']!r} is not an integer"
    tags = rec.get("tags") or {}
    if not isinstance(tags, dict):
        return "tags is not a mapping"
    for key, value in tags.items():
        if not isinstance(value, str):
            return f"tag {key!r} has the value {value!r}, not a string"
        try:
            validate_registry_tag(key, value)
        except InvalidParameter as exc:
            return str(exc.message)
    return None


def registered_model_problem(rec: Any) -> str | None:
    """Why ``rec`` (a parsed ``registered_model.yaml``) is not a record the store writes,
    or None. The one rule set: the store's reader and the remote's guard apply it."""
    if not isinstance(rec, dict):
        return "is not a mapping"
    try:
        validate_model_name(rec.get("name"))
    except InvalidParameter as exc:
        return f"name: {exc.message}"
    why = _common_problem(rec, _TEXT_FIELDS)
    if why:
        return why
    if not isinstance(rec.get("renamed_to"), (str, type(None))):
        return f"renamed_to {rec.get('renamed_to')!r} is not a name"
    aliases = rec.get("aliases") or {}
    if not isinstance(aliases, dict):
        return "aliases is not a mapping"
    for alias, version in aliases.items():
        try:
            validate_alias_name(alias)
        except InvalidParameter as exc:
            return f"alias: {exc.message}"
        if not _is_int(version) or version < 1:
            return f"alias {alias!r} points at {version!r}, not a version number"
    return None


def model_version_problem(rec: Any, number: int) -> str | None:
    """Why ``rec`` (a parsed ``versions/<number>.yaml``) is not a version record the store
    writes, or None (see :func:`registered_model_problem`)."""
    if not isinstance(rec, dict):
        return "is not a mapping"
    if not _is_int(rec.get("version")) or rec["version"] != number:
        return f"holds version {rec.get('version')!r}, not {number}"
    why = _common_problem(rec, _VERSION_TEXT_FIELDS)
    if why:
        return why
    if rec.get("status") is not None and rec["status"] not in VERSION_STATUSES:
        return f"status {rec['status']!r} is not one of {', '.join(VERSION_STATUSES)}"
    stage = rec.get("current_stage")
    if stage is not None and stage not in ALL_STAGES:
        return f"current_stage {stage!r} is not one of {', '.join(ALL_STAGES)}"
    return None


def _check_model_record(rec: Any, commit: Any) -> dict[str, Any]:
    why = registered_model_problem(rec)
    if why:
        where = f"{REGISTERED_MODEL_FILE} of commit {str(commit.id)[:12]}"
        raise CorruptRecord(None, f"{where}: {why}")
    return dict(rec)


def _check_version_record(rec: Any, number: int, commit: Any) -> dict[str, Any]:
    why = model_version_problem(rec, number)
    if why:
        where = f"{registry_version_path(number)} of commit {str(commit.id)[:12]}"
        raise CorruptRecord(None, f"{where}: {why}")
    return dict(rec)


def _load(data: bytes, path: str, commit: Any) -> Any:
    """A registry record through the bounded reader; bad YAML (or not UTF-8, or over a
    limit) is a :class:`CorruptRecord` naming the file and the commit."""
    import yaml

    try:
        return load_yaml(data)
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split()) or exc.__class__.__name__
        raise CorruptRecord(
            None,
            f"registry record {path} of commit {str(commit.id)[:12]}: {msg} "
            "(the file is not valid safe YAML)",
        ) from exc


# parsed, checked records by blob id, shared by the listings of this process (see ``scan``)
SCAN_CACHE_MAX = 200_000
_SCAN_CACHE: dict[Any, Any] = {}


class RegistryStore:
    """Create, read, change and list the registered models of one repository."""

    def __init__(self, repo: Repo, blob_cache: dict[Any, Any] | None = None) -> None:
        """``blob_cache`` (for readers of many commits, e.g. the remote's guard): parsed and
        checked records by blob id, filled by :meth:`read_commit` and shared between calls;
        its records must not be changed."""
        self.repo = repo
        self.blob_cache = blob_cache

    # -- reading -------------------------------------------------------------------

    def _tip(self, name: str) -> Any:
        ref = self.repo.git.references.get(registry_ref(name))
        return None if ref is None else self.repo.git[ref.target]

    def read_commit(self, commit: Any) -> ModelState:
        """The model and versions one commit of a registry ref holds (checked)."""
        import pygit2

        tree = commit.tree
        try:
            blob = tree[REGISTERED_MODEL_FILE].peel(pygit2.Blob)
        except (KeyError, ValueError, pygit2.InvalidSpecError):
            raise CorruptRecord(
                None, f"registry commit {str(commit.id)[:12]} has no {REGISTERED_MODEL_FILE} file"
            ) from None
        cache = self.blob_cache
        model = cache.get(blob.id) if cache is not None else None
        if model is None:
            model = _check_model_record(_load(blob.data, REGISTERED_MODEL_FILE, commit), commit)
            if cache is not None:
                cache[blob.id] = model
        versions: dict[int, dict[str, Any]] = {}
        if REGISTRY_VERSIONS_DIR in tree:
            folder = tree[REGISTRY_VERSIONS_DIR]
            if folder.type_str != "tree":
                raise CorruptRecord(
                    None,
                    f"registry commit {str(commit.id)[:12]}: {REGISTRY_VERSIONS_DIR} is not a folder",
                )
            for entry in folder.peel(pygit2.Tree):
                number = registry_version_of_path(entry.name)
                if number is None:
                    continue
                path = registry_version_path(number)
                if entry.type_str != "blob":
                    raise CorruptRecord(
                        None, f"registry commit {str(commit.id)[:12]}: {path} is not a file"
                    )
                key = (entry.id, number)
                rec = cache.get(key) if cache is not None else None
                if rec is None:
                    rec = _check_version_record(
                        _load(entry.peel(pygit2.Blob).data, path, commit), number, commit
                    )
                    if cache is not None:
                        cache[key] = rec
                versions[number] = rec
        return ModelState(model, versions, commit)

    def read(self, name: str) -> ModelState | None:
        """The tip state of ``name`` (deleted or not), or None when it never existed."""
        commit = self._tip(name)
        return None if commit is None else self.read_commit(commit)

    def get(self, name: str) -> ModelState:
        """The live model ``name``.

        Raises:
            InvalidParameter: a bad name. RegisteredModelNotFound: none, or deleted.
        """
        validate_model_name(name)
        state = self.read(name)
        if state is None or state.deleted:
            raise RegisteredModelNotFound(name)
        return state

    def refs(self) -> Iterator[str]:
        for ref in self.repo.git.references:
            if ref.startswith(REGISTRY_PREFIX):
                yield ref

    def scan(self) -> tuple[list[ModelState], dict[str, str]]:
        """Every live registered model by name, and the refs that cannot be read
        (ref -> why): bad records, or a record whose name is not the one its ref is for.

        The records are shared with a process-wide cache of parsed records by blob id (a blob
        id names its content, so an entry never goes stale): read them, do not change them.
        """
        reader = self._cached_reader()
        out, broken = [], {}
        for ref in self.refs():
            try:
                state = reader.read_commit(self.repo.git[self.repo.git.references[ref].target])
                if registry_ref(state.name) != ref:
                    raise CorruptRecord(
                        None, f"it holds the model {state.name[:80]!r}, whose ref is another"
                    )
            except CorruptRecord as exc:
                broken[ref] = exc.message
                continue
            if not state.deleted:
                out.append(state)
        out.sort(key=lambda s: s.name)
        return out, broken

    def all(self) -> list[ModelState]:
        """Every live registered model (unreadable ones are skipped: :meth:`scan` names
        them), by name."""
        return self.scan()[0]

    def _cached_reader(self) -> RegistryStore:
        """A reader sharing the process-wide cache of parsed records by blob id (or this
        store's own cache): what it reads must not be changed."""
        if self.blob_cache is not None:
            return self
        if len(_SCAN_CACHE) > SCAN_CACHE_MAX:
            _SCAN_CACHE.clear()
        return RegistryStore(self.repo, _SCAN_CACHE)

    def history(self, name: str, limit: int | None = None) -> list[tuple[Any, ModelState]]:
        """``(commit, state)`` along the first-parent log of the ref, newest first (records
        shared with the blob cache, as :meth:`scan`'s: a commit only parses the files it
        changed)."""
        validate_model_name(name)
        reader = self._cached_reader()
        commit = self._tip(name)
        out: list[tuple[Any, ModelState]] = []
        while commit is not None and (limit is None or len(out) < limit):
            out.append((commit, reader.read_commit(commit)))
            commit = commit.parents[0] if commit.parents else None
        return out

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every alias move of ``name``, oldest first: ``{alias, old, new, time, author,
        commit, message}`` (``old``/``new`` a version number or None), read by comparing
        the records of consecutive commits of the ref."""
        events: list[dict[str, Any]] = []
        entries = list(reversed(self.history(name)))
        before: dict[str, int] = {}
        for commit, state in entries:
            after = {a: int(v) for a, v in (state.model.get("aliases") or {}).items()}
            for alias in sorted(set(before) | set(after)):
                if before.get(alias) != after.get(alias):
                    events.append(
                        {
                            "alias": alias,
                            "old": before.get(alias),
                            "new": after.get(alias),
                            "time": int(commit.commit_time) * 1000,
                            "author": commit.author.name,
                            "commit": str(commit.id),
                            "message": commit.message.strip(),
                        }
                    )
            before = after
        return events

    # -- writing -------------------------------------------------------------------

    def _lock(self, name: str) -> FileLock:
        return registry_lock(self.repo, name)

    def _commit(
        self,
        name: str,
        parent: Any,
        state: ModelState,
        before: ModelState | None,
        message: str,
        extra_parents: Sequence[Any] = (),
    ) -> Any:
        """Write ``state`` as a commit on ``name``'s ref (parent ``parent``, then
        ``extra_parents``: a merge); version blobs that did not change since ``before``
        are reused."""
        import pygit2

        git = self.repo.git
        blob = pygit2.GIT_FILEMODE_BLOB
        old_tree = before.commit.tree if before is not None and before.commit is not None else None
        vb = git.TreeBuilder()
        for n, rec in sorted(state.versions.items()):
            fname = registry_version_file(n)
            if (
                before is not None
                and old_tree is not None
                and before.versions.get(n) == rec
                and REGISTRY_VERSIONS_DIR in old_tree
                and fname in old_tree[REGISTRY_VERSIONS_DIR].peel(pygit2.Tree)
            ):
                oid = old_tree[REGISTRY_VERSIONS_DIR].peel(pygit2.Tree)[fname].id
            else:
                oid = git.create_blob(dump_yaml(rec))
            vb.insert(fname, oid, blob)
        tb = git.TreeBuilder()
        tb.insert(REGISTERED_MODEL_FILE, git.create_blob(dump_yaml(state.model)), blob)
        if state.versions:
            tb.insert(REGISTRY_VERSIONS_DIR, vb.write(), pygit2.GIT_FILEMODE_TREE)
        sig = self.repo.signature()
        parents = [parent.id] if parent is not None else []
        parents += [p.id for p in extra_parents]
        oid = git.create_commit(None, sig, sig, message, tb.write(), parents)
        git.references.create(registry_ref(name), oid, force=True)
        state.commit = git[oid]
        return state.commit

    def update(
        self, name: str, change: Callable[[ModelState], str], *, bump: bool = False
    ) -> ModelState:
        """Apply ``change(state) -> commit message`` to the live model under its lock.

        ``bump`` sets the model's ``last_updated_timestamp`` (MLflow bumps it for version
        changes, descriptions and renames, not for tags or aliases).

        Raises:
            InvalidParameter: a bad name. RegisteredModelNotFound. What ``change`` raises
                (then nothing is written).
        """
        validate_model_name(name)
        with self._lock(name):
            state = self.read(name)
            if state is None or state.deleted:
                raise RegisteredModelNotFound(name)
            # change a copy: the records read may be shared with a blob cache
            before, state = state, state.copy()
            message = change(state)
            if bump:
                state.model["last_updated_timestamp"] = now_ms()
            self._commit(name, before.commit, state, before, f"{name}: {message}")
        return state

    def create(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> ModelState:
        """Register the name ``name`` (no versions yet).

        Raises:
            InvalidParameter: a bad name. AlreadyExists: a live model has that name.
        """
        validate_model_name(name)
        t = now_ms()
        with self._lock(name):
            old = self.read(name)
            if old is not None and not old.deleted:
                raise AlreadyExists(f"Registered Model (name={name}) already exists.")
            model: dict[str, Any] = {
                "format": FORMAT_VERSION,
                "name": name,
                "description": description,
                "tags": dict(tags or {}),
                "aliases": {},
                "creation_timestamp": t,
                "last_updated_timestamp": t,
                "deleted": False,
            }
            # a name created again keeps its tombstoned versions: numbers are never reused
            versions = dict(old.versions) if old is not None else {}
            state = ModelState(model, versions)
            self._commit(name, old.commit if old else None, state, old, f"{name}: create")
        return state

    def rename(self, name: str, new_name: str) -> ModelState:
        """Move model ``name`` (its versions, aliases, tags) to ``new_name``.

        Raises:
            InvalidParameter: a bad name. RegisteredModelNotFound. AlreadyExists: the new
                name is taken.
        """
        validate_model_name(name)
        validate_model_name(new_name, "new_name")
        if new_name == name:  # as MLflow: nothing to do (and one lock, not the same one twice)
            return self.get(name)
        first, second = sorted([name, new_name], key=lambda n: registry_ref(n))
        with self._lock(first), self._lock(second):
            state = self.read(name)
            if state is None or state.deleted:
                raise RegisteredModelNotFound(name)
            if new_name == name:
                return state
            target = self.read(new_name)
            if target is not None and not target.deleted:
                raise AlreadyExists(f"Registered Model (name={new_name}) already exists.")
            if target is not None and target.versions:
                raise AlreadyExists(
                    f"Registered Model (name={new_name}) was deleted but keeps the tombstones "
                    f"of versions {', '.join(map(str, sorted(target.versions)))}; its numbers "
                    "are never reused, so another model cannot be renamed to it"
                )
            before = state.copy()
            t = now_ms()
            moved = state.copy()
            moved.model["name"] = new_name
            moved.model["last_updated_timestamp"] = t
            moved.model.pop("renamed_to", None)
            for rec in moved.versions.values():
                rec["name"] = new_name
                rec["last_updated_timestamp"] = t
            # the new ref's history starts from the old tip (first parent: git log shows where
            # it came from); a deleted model of the new name stays an ancestor (second parent),
            # so the new name's ref only moves forward and a pushed history is never dropped
            self._commit(
                new_name,
                state.commit,
                moved,
                before,
                f"{new_name}: rename from {name}",
                extra_parents=[target.commit] if target is not None else (),
            )
            gone = before.copy()
            gone.model.update(deleted=True, renamed_to=new_name, last_updated_timestamp=t)
            for rec in gone.versions.values():
                rec["deleted"] = True
            self._commit(name, before.commit, gone, before, f"{name}: rename to {new_name}")
        return moved

    def delete(self, name: str) -> None:
        """Delete model ``name``: its record marked deleted, every version tombstoned."""

        def change(state: ModelState) -> str:
            state.model["deleted"] = True
            state.model["aliases"] = {}
            for rec in state.versions.values():
                if not rec.get("deleted"):
                    rec.update(deleted=True, **REDACTED)
            return "delete"

        self.update(name, change, bump=True)

    def create_version(self, name: str, fields: dict[str, Any]) -> tuple[ModelState, int]:
        """Add the next version of ``name`` with ``fields`` (source, run_id, ...).

        Returns:
            The new state and the version number.
        """
        made: list[int] = []

        def change(state: ModelState) -> str:
            n = state.next_version()
            t = now_ms()
            rec: dict[str, Any] = {
                "format": FORMAT_VERSION,
                "name": state.name,
                "version": n,
                "source": None,
                "run_id": None,
                "model_id": None,
                "run_link": None,
                "status": "READY",
                "status_message": None,
                "current_stage": STAGE_NONE,
                "description": None,
                "tags": {},
                "user_id": None,
                "signature": None,
                "creation_timestamp": t,
                "last_updated_timestamp": t,
                "deleted": False,
            }
            rec.update(fields)
            state.versions[n] = rec
            made.append(n)
            return f"version {n}: create from {rec.get('source')}"

        state = self.update(name, change, bump=True)
        return state, made[0]

    def update_version(
        self,
        name: str,
        version: Any,
        change: Callable[[ModelState, dict[str, Any]], str],
        *,
        bump: bool = False,
        touch: bool = True,
    ) -> ModelState:
        """Apply ``change(state, version record) -> message`` to a live version (``touch``
        sets its ``last_updated_timestamp``; MLflow does not for tags).

        Raises:
            ModelVersionNotFound (and :meth:`update`'s errors).
        """
        n = validate_model_version(version)

        def outer(state: ModelState) -> str:
            rec = state.version(n)
            message = change(state, rec)
            if touch:
                rec["last_updated_timestamp"] = now_ms()
            return f"version {n}: {message}"

        return self.update(name, outer, bump=bump)


def resolve_models_uri(client: Any, model_uri: str) -> Any:
    """The version a ``models:/`` URI names, asked of ``client`` (local or REST):
    ``models:/name/3``, ``models:/name@alias``, ``models:/name/latest``, ``models:/name/<stage>``.

    Raises:
        InvalidParameter: a malformed URI, an alias the model does not have, or a
            logged model id (``models:/m-...``), which names no registered version.
        RegisteredModelNotFound, ModelVersionNotFound, NotFound: no version there.
    """
    from gittrack.core.validation import RESERVED_ALIAS_LATEST
    from gittrack.errors import InvalidParameter, NotFound

    uri = parse_models_uri(model_uri)
    if uri.version is not None:
        return client.get_model_version(uri.name, uri.version)
    if uri.alias is not None:
        return client.get_model_version_by_alias(uri.name, uri.alias)
    if uri.latest:
        return client.get_model_version_by_alias(uri.name, RESERVED_ALIAS_LATEST)
    if uri.stage is not None:
        found = client.get_latest_versions(uri.name, [uri.stage])
        if not found:
            raise NotFound(
                f"No versions of model with name '{uri.name}' and stage '{uri.stage}' found"
            )
        return found[0]
    raise InvalidParameter(
        f"{model_uri!r} names a logged model by id, not a registered model version; "
        "use models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest"
    )
