"""Merging two diverged histories of one registered model (``refs/gittrack/registry/<key>``).

Two clones that both changed one registered model hold two histories of its
records (``registered_model.yaml`` and ``versions/<n>.yaml``). The merge is a
three-way merge against the last commit both share (the *base*; none when the
two clones created the name independently):

* **Versions.** A version in the base, or new on the remote, is published: it keeps
  its number. Versions this clone made since the base are unpublished: they are
  renumbered, in their order, after the highest number the remote or the base knows
  (remote v1 stays v1, local v1 becomes v2); a local version whose number is free
  keeps it. Aliases of this clone that point at a renumbered version follow it.
* **Fields** (description, stage, status, ...; of the model and of each version):
  changed on one side only, that side's value; changed on both to the same value,
  that value; tags and aliases are merged key by key the same way. Timestamps take
  the earliest creation and the latest update; a tombstone (``deleted: true``) on
  either side wins.
* **Conflicts.** The same alias moved to different versions on both sides (or the
  same tag, description, ... changed to different values), an alias left pointing at
  a version the other side deleted, or new versions of a model the other side
  deleted: nothing is merged, the ref stays as it was here, and each conflict is
  reported with both values. Nothing stored is lost either way.

The result of a clean merge is a merge commit with this clone's commit as first
parent and the remote's as second, whose message lists what it changed (renumbered
versions and the alias moves they carry, the remote's alias moves), so ``git log``
of the ref keeps reading as the model's history, aliases included.

:func:`merge_states` works on parsed records; :func:`merge_registry` reads both tips
through the store (:mod:`gittrack.core.registry`, its bounded reader and checks) and
writes the merge commit under the model's lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gittrack.core.registry import ModelState

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

_MISSING: Any = object()

# fields merged by rule instead of three-way
_EARLIEST = ("creation_timestamp",)
_LATEST = ("last_updated_timestamp",)
_TOMBSTONE = "deleted"
_PER_KEY = ("tags", "aliases")
_SINGULAR = {"tags": "tag", "aliases": "alias"}
# what a model record holds right after it is created, before anybody changed it
_FRESH_MODEL: dict[str, Any] = {"description": None, "tags": {}, "aliases": {}, "deleted": False}


@dataclass
class MergeResult:
    """What :func:`merge_states` decided.

    Attributes:
        state: the merged records (meaningless when ``conflicts`` is not empty).
        renumbered: local version number -> its number after the merge (only those that moved).
        conflicts: one line per conflict, naming the thing and both values.
        changes: lines for the merge commit's message (what changed relative to ours).
    """

    state: ModelState
    renumbered: dict[int, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts


def _shown(value: Any) -> str:
    if value is _MISSING or value is None:
        return "(none)"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return str(value)


def _merge_mapping(
    base: Mapping[str, Any],
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    what: str,
    conflicts: list[str],
    *,
    per_key: tuple[str, ...] = _PER_KEY,
) -> dict[str, Any]:
    """Three-way merge of two mappings, key by key (see the module docstring)."""
    out: dict[str, Any] = {}
    keys = list(ours) + [k for k in theirs if k not in ours]
    for key in keys:
        b = base.get(key, _MISSING)
        o = ours.get(key, _MISSING)
        t = theirs.get(key, _MISSING)
        if o == t:
            value = o
        elif key in _EARLIEST and o is not _MISSING and t is not _MISSING:
            value = min((v for v in (o, t) if isinstance(v, int)), default=o)
        elif key in _LATEST and o is not _MISSING and t is not _MISSING:
            value = max((v for v in (o, t) if isinstance(v, int)), default=o)
        elif key == _TOMBSTONE:
            value = bool(o is True or t is True)
        elif o == b:
            value = t
        elif t == b:
            value = o
        elif key in per_key and all(isinstance(v, dict) or v is _MISSING for v in (b, o, t)):
            value = _merge_mapping(
                {} if b is _MISSING else b,
                {} if o is _MISSING else o,
                {} if t is _MISSING else t,
                f"{what} {_SINGULAR.get(key, key)}",
                conflicts,
                per_key=(),
            )
        else:
            conflicts.append(
                f"{what} {key}: {_shown(o)} here, {_shown(t)} on the remote (was {_shown(b)})"
            )
            value = t
        if value is not _MISSING:
            out[key] = value
    return out


def merge_states(
    base: ModelState | None, ours: ModelState, theirs: ModelState, label: str
) -> MergeResult:
    """Three-way merge of one registered model's records (see the module docstring).

    Args:
        base: the records at the merge base, or None when the histories share no commit.
        ours: this clone's records (unpublished changes included).
        theirs: the remote's records (published).
        label: how messages name the model, e.g. ``model 'churn'``.
    """
    conflicts: list[str] = []
    changes: list[str] = []
    b_versions = base.versions if base is not None else {}
    # no shared commit (the name was created in both clones): compare with a fresh record
    b_model = base.model if base is not None else dict(_FRESH_MODEL)

    # -- versions: keep the published numbers, move ours after them -----------------
    mine_new = sorted(n for n in ours.versions if n not in b_versions)
    top = max([*theirs.versions, *b_versions], default=0)
    renumbered: dict[int, int] = {}
    taken = set(theirs.versions) | set(b_versions)
    following = top + 1
    for n in mine_new:
        if n not in taken and n >= following:
            new = n  # free and in order: keeps its number
        else:
            new = following
        following = new + 1
        taken.add(new)
        if new != n:
            renumbered[n] = new

    versions: dict[int, dict[str, Any]] = {}
    for n, record in theirs.versions.items():
        if n in b_versions and n in ours.versions:
            versions[n] = _merge_mapping(
                b_versions[n], ours.versions[n], record, f"{label} version {n}", conflicts
            )
        else:
            versions[n] = dict(record)
    for n, record in b_versions.items():
        if n not in versions:  # the remote lost a published version: keep ours (or the base's)
            versions[n] = dict(ours.versions.get(n, record))
    for n in mine_new:
        record = dict(ours.versions[n])
        new = renumbered.get(n, n)
        if "version" in record:
            record["version"] = new
        versions[new] = record

    # -- the model record: ours with its aliases following the renumbering ---------
    # (the reader checked the records: aliases map names to version numbers)
    mine_model = dict(ours.model)
    mine_aliases: dict[str, int] = dict(ours.model.get("aliases") or {})
    if renumbered:
        mine_model["aliases"] = {a: renumbered.get(v, v) for a, v in mine_aliases.items()}
    model = _merge_mapping(b_model, mine_model, theirs.model, label, conflicts)

    # -- what the merged records must hold ---------------------------------------
    merged_aliases: dict[str, int] = dict(model.get("aliases") or {})
    for alias, v in sorted(merged_aliases.items()):
        target = versions.get(v)
        if target is None:
            conflicts.append(f"{label} alias {alias}: points at version {v}, which does not exist")
        elif target.get(_TOMBSTONE) is True:
            side = "here" if ours.versions.get(v, {}).get(_TOMBSTONE) is True else "on the remote"
            conflicts.append(
                f"{label} alias {alias}: points at version {v}, which was deleted {side}"
            )
    if model.get(_TOMBSTONE) is True:
        live_new = [
            n
            for n, rec in versions.items()
            if n not in b_versions and rec.get(_TOMBSTONE) is not True
        ]
        if live_new and not (ours.model.get(_TOMBSTONE) and theirs.model.get(_TOMBSTONE)):
            conflicts.append(
                f"{label} was deleted on one side while the other added version(s) "
                f"{', '.join(str(n) for n in sorted(live_new))}"
            )

    # -- the merge commit's message: what changed relative to ours -------------------
    for n, new in sorted(renumbered.items()):
        changes.append(f"version {n} -> {new} (renumbered after the remote's versions)")
    for alias in sorted(set(mine_aliases) | set(merged_aliases)):
        before, after = mine_aliases.get(alias), merged_aliases.get(alias)
        if before != after:
            changes.append(f"alias {alias}: {_shown(before)} -> {_shown(after)}")
    for n in sorted(set(theirs.versions) - set(b_versions)):
        changes.append(f"version {n} from the remote")
    return MergeResult(
        state=ModelState(model=model, versions=dict(sorted(versions.items()))),
        renumbered=renumbered,
        conflicts=conflicts,
        changes=changes,
    )


@dataclass
class RegistryMerge:
    """The outcome of :func:`merge_registry` for one registry ref.

    Attributes:
        sha: the local tip afterwards (unchanged when there were conflicts).
        name: the registered model's name.
        result: the merge decided (None when one side already held the other).
    """

    sha: str
    name: str
    result: MergeResult | None = None

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok

    def renumber_note(self) -> str:
        """``your version 1 is now version 2 (alias champion follows)`` or ''."""
        if self.result is None or not self.result.renumbered:
            return ""
        aliases = self.result.state.model.get("aliases") or {}
        parts = []
        for old, new in sorted(self.result.renumbered.items()):
            follows = sorted(a for a, v in aliases.items() if v == new)
            tail = (
                f" (alias{'es' if len(follows) > 1 else ''} {', '.join(follows)} follow{'' if len(follows) > 1 else 's'})"
                if follows
                else ""
            )
            parts.append(f"your version {old} is now version {new}{tail}")
        return "; ".join(parts) + " — the remote had published its own version numbers first"


def model_name_at(repo: Repo, sha: str) -> str | None:
    """The registered model's name recorded at commit ``sha``, or None when unreadable."""
    from gittrack.core.registry import RegistryStore
    from gittrack.errors import GittrackError

    try:
        return RegistryStore(repo).read_commit(repo.git[sha]).name
    except (GittrackError, KeyError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - a YAML error: the name is unknown
        return None


def merge_registry(repo: Repo, ref: str, remote_sha: str, remote: str) -> RegistryMerge:
    """Make the local registry ref ``ref`` a merge of itself and ``remote_sha``.

    Holds the model's lock, so no local change is lost meanwhile. When the local ref is
    missing, or one side already contains the other, the ref moves (or stays); otherwise
    :func:`merge_states` decides, and a clean merge is written as a merge commit (ours
    first). With conflicts nothing is written.

    Raises:
        CorruptRecord: either side's records cannot be read.
    """
    from gittrack.core.locks import registry_lock
    from gittrack.core.registry import RegistryStore
    from gittrack.errors import CorruptRecord
    from gittrack.layout import registry_ref

    git = repo.git
    store = RegistryStore(repo)
    theirs = store.read_commit(git[remote_sha])
    name = theirs.name
    if registry_ref(name) != ref:
        raise CorruptRecord(
            None,
            f"{ref} at {remote_sha[:12]} holds model {name[:80]!r}, whose ref would be "
            f"{registry_ref(name)}; refusing to merge it",
        )
    with registry_lock(repo, name):
        current = git.references.get(ref)
        local = str(current.target) if current is not None else None
        if local is None or local == remote_sha or git.descendant_of(remote_sha, local):
            git.references.create(ref, remote_sha, force=True)
            return RegistryMerge(remote_sha, name)
        if git.descendant_of(local, remote_sha):
            return RegistryMerge(local, name)
        ours = store.read_commit(git[local])
        base_oid = git.merge_base(local, remote_sha)
        base = store.read_commit(git[base_oid]) if base_oid is not None else None
        result = merge_states(base, ours, theirs, f"model {name!r}")
        if not result.ok:
            return RegistryMerge(local, name, result)
        head = f"merge from {remote}"
        if result.changes:
            head += ": " + ", ".join(result.changes[:3])
            if len(result.changes) > 3:
                head += f" and {len(result.changes) - 3} more"
        message = f"{name}: {head}\n"
        if len(result.changes) > 3:
            message += "\n" + "".join(f"- {c}\n" for c in result.changes)
        commit = store._commit(
            name, ours.commit, result.state, ours, message, extra_parents=[theirs.commit]
        )
        return RegistryMerge(str(commit.id), name, result)
