"""The server-side guard of a shared repository (``remotes/pre-receive`` runs :func:`main`).

It checks the updates of refs under ``refs/gittrack/`` (everything else passes) with
the client's own reader — :meth:`gittrack.core.reader.Store.read_record`, with its
bounded YAML loader and :mod:`gittrack.core.records.check` — so the server refuses
exactly what a client could not read. It refuses:

* a run ref not named ``refs/gittrack/runs/<32 hex>``, or whose commit's record is
  unreadable or malformed;
* any change to a **finished** run (FINISHED, FAILED, KILLED) other than a
  fast-forward that changes only what the design allows after the end
  (:data:`MUTABLE_AFTER_END`: tags, the note, the run name, the lifecycle — delete and
  restore — and artifacts); params, metrics and their history, the status, times and
  the code snapshot stay as they were;
* an update of ``refs/gittrack/experiments`` that is not a descendant of the old commit
  or that drops an experiment id;
* an update of a registered model's ref ``refs/gittrack/registry/<key>`` that is not a
  fast-forward; that brings a commit whose records do not read or check (the store's
  own reader, :meth:`gittrack.core.registry.RegistryStore.read_commit`) or whose aliases
  point at a missing or deleted version; whose tip names a model whose key is not the
  ref's; or that drops a published version, replaces it (another source, run, model or
  creation time under its number: a renumbering), or brings a deleted version back —
  a version is deleted by its tombstone (``deleted: true``), never by removing its file;
* deleting a ``refs/gittrack/`` ref, unless ``git config gittrack.allowDeletes true``.

Under ``git receive-pack`` the pushed objects sit in a quarantine directory until the
hooks accept them; the guard reads them there (``GIT_QUARANTINE_PATH``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from gittrack.core.validation import artifact_manifest, is_gittrack_run_id, is_sha256
from gittrack.layout import (
    ARTIFACTS_DIR,
    ARTIFACTS_FILE,
    EXPERIMENTS_FILE,
    EXPERIMENTS_REF,
    NAMESPACE,
    NOTE_FILE,
    RECORD_DIR,
    REGISTRY_PREFIX,
    RUN_FILE,
    RUNS_PREFIX,
    SUMMARY_FILE,
    TAGS_FILE,
    registry_key,
)

if TYPE_CHECKING:
    from gittrack.core.reader import Store
    from gittrack.core.registry import ModelState, RegistryStore

ZERO = "0" * 40
NS = NAMESPACE
RUNS = RUNS_PREFIX
EXPERIMENTS = EXPERIMENTS_REF

# What may change on a finished run (the rest of its commit must stay byte for byte):
# files of .gittrack/ and fields of run.yaml. docs/design.md lists the same.
MUTABLE_FILES = (TAGS_FILE, NOTE_FILE, ARTIFACTS_FILE, ARTIFACTS_DIR, SUMMARY_FILE)
MUTABLE_RUN_FIELDS = ("name", "lifecycle", "heartbeat", "pid", "host")
MUTABLE_AFTER_END = MUTABLE_FILES + tuple(f"{RUN_FILE}:{f}" for f in MUTABLE_RUN_FIELDS)

Update = tuple[str, str, str]  # (old, new, ref)

# A published version may change (stage, tags, description, status, its tombstone) but
# not what it is: these fields must stay as they were while it is live.
VERSION_IDENTITY = ("source", "run_id", "model_id", "creation_timestamp")
MAX_REGISTRY_COMMITS = 10_000  # new commits of one registry ref checked in one push


class Guard:
    """Checks ref updates against one repository (objects in quarantine included)."""

    def __init__(self, git_dir: str = ".") -> None:
        from gittrack.core.reader import Store
        from gittrack.core.repo import Repo

        self.git_dir = git_dir
        self.repo = Repo(git_dir)
        quarantine = os.environ.get("GIT_QUARANTINE_PATH")
        if quarantine:
            self.repo.git.odb.add_disk_alternate(quarantine)
        self.store: Store = Store(self.repo)
        self._registry: RegistryStore | None = None
        self.allow_deletes = str(self.repo.config("gittrack.allowDeletes", "false")).lower() in (
            "true",
            "yes",
            "on",
            "1",
        )

    # -- one update ---------------------------------------------------------------

    def check(self, old: str, new: str, ref: str) -> str | None:
        """Why the update ``old`` → ``new`` of ``ref`` is refused, or None to accept it."""
        if not ref.startswith(NS):
            return None
        if new == ZERO:
            return (
                None
                if self.allow_deletes
                else (
                    "deleting gittrack refs is not allowed here "
                    "(the repository's owner can allow it: git config gittrack.allowDeletes true)"
                )
            )
        if ref == EXPERIMENTS:
            return self._check_experiments(old, new)
        if ref.startswith(REGISTRY_PREFIX):
            return self._check_registry(ref[len(REGISTRY_PREFIX) :], old, new)
        if ref.startswith(RUNS):
            run_id = ref[len(RUNS) :]
            if not is_gittrack_run_id(run_id):
                return "malformed run ref: the name must be 32 lowercase hex characters"
            why = self._check_record(run_id, new)
            if why:
                return f"malformed run record: {why}"
            if old != ZERO:
                return self._check_finished(run_id, old, new)
            return None
        return None

    def _record(self, run_id: str, sha: str) -> dict[str, Any]:
        """The parsed record at ``sha`` (raises CorruptRecord), read and checked exactly as
        the client reads it (``Store.read_record`` → ``gittrack.core.records.check``)."""
        # every file parsed; the summary (the documents the index reads unparsed) must hold
        # the very documents of the files whose blob ids it names
        rec = self.store.read_record(sha, run_id, summary=False, check_summary=True)
        self.store.run_from_record(rec, sha)  # metric values: as get_run reads them
        artifact_manifest(run_id, rec["artifacts"])  # the one rule: sha256 hex, paths confined
        return rec

    def _check_record(self, run_id: str, sha: str) -> str | None:
        from gittrack.errors import GittrackError

        try:
            self._record(run_id, sha)
        except GittrackError as exc:
            text = str(exc)
            _, sep, what = text.partition(": record is unreadable: ")
            return what if sep else text
        return None

    def _check_finished(self, run_id: str, old: str, new: str) -> str | None:
        """A finished run changes only by a fast-forward within :data:`MUTABLE_AFTER_END`."""
        from gittrack.core.entities import RunStatus
        from gittrack.errors import GittrackError

        try:
            before = self._record(run_id, old)
        except GittrackError:
            return None  # the old state is unreadable: the new one was checked above
        if before["run"].get("status") not in RunStatus.TERMINAL:
            return None
        if not self._descends(new, old):
            return (
                f"run {run_id} is finished ({old[:12]}) and this update is not a "
                f"fast-forward ({new[:12]}): finished runs are immutable here"
            )
        changed = self._changed_after_end(old, new)
        if changed:
            return (
                f"run {run_id} is finished: {', '.join(changed)} cannot change after the end "
                f"(only {', '.join(MUTABLE_FILES[:3])}, the run name, lifecycle and artifacts "
                "may)"
            )
        return None

    def _changed_after_end(self, old: str, new: str) -> list[str]:
        """What differs between two commits of a run beyond :data:`MUTABLE_AFTER_END`."""
        import pygit2

        git = self.repo.git
        a, b = git[old].peel(pygit2.Commit).tree, git[new].peel(pygit2.Commit).tree
        changed: list[str] = []
        names = {str(e.name) for e in a} | {str(e.name) for e in b}
        for name in sorted(names - {RECORD_DIR}):
            if _entry(a, name) != _entry(b, name):
                changed.append(f"the code snapshot ({name})")
        ga, gb = _subtree(git, a, RECORD_DIR), _subtree(git, b, RECORD_DIR)
        files = {str(e.name) for e in ga} | {str(e.name) for e in gb}
        for name in sorted(files - set(MUTABLE_FILES)):
            if _entry(ga, name) == _entry(gb, name):
                continue
            if name == RUN_FILE:
                from gittrack.core.records import formats as records

                ra = records.load_yaml(ga[name].data) or {}
                rb = records.load_yaml(gb[name].data) or {}
                for key in sorted(set(ra) | set(rb), key=str):
                    if key not in MUTABLE_RUN_FIELDS and ra.get(key) != rb.get(key):
                        changed.append(f"run.yaml {key}")
            elif name == "metrics":
                changed.append("the metric history")
            else:
                changed.append(name)
        return changed

    def _check_experiments(self, old: str, new: str) -> str | None:
        """The experiments ref moves only forward and keeps every experiment id."""
        from gittrack.core.records import formats as records

        def table(sha: str) -> tuple[dict[str, Any] | None, str | None]:
            try:
                blob = self.repo.git[sha].peel(_commit()).tree[EXPERIMENTS_FILE]
            except (KeyError, ValueError) as exc:
                return None, f"experiments.yaml is missing ({exc.__class__.__name__})"
            try:
                value = records.load_yaml(blob.data)
            except Exception as exc:  # a YAMLError or a bound the reader enforces
                first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
                return None, f"experiments.yaml is not valid safe YAML ({first})"
            if not isinstance(value, dict):
                return None, "experiments.yaml is not a mapping"
            return {str(k): v for k, v in value.items()}, None

        new_table, err = table(new)
        if err:
            return err
        if old == ZERO:
            return None
        old_table, old_err = table(old)
        if not self._descends(new, old):
            return (
                f"{EXPERIMENTS} may only move forward: {new[:12]} does not descend from "
                f"{old[:12]} (a forced push would drop the experiments recorded there)"
            )
        if old_table is not None and new_table is not None:
            dropped = sorted(set(old_table) - set(new_table))
            if dropped:
                return f"this update drops experiments {', '.join(dropped)}: ids are never removed"
        return None

    # -- registered models -----------------------------------------------------------

    @property
    def registry(self) -> RegistryStore:
        if self._registry is None:
            from gittrack.core.registry import RegistryStore

            self._registry = RegistryStore(self.repo, blob_cache={})
        return self._registry

    def _registry_state(self, sha: str) -> tuple[ModelState | None, str | None]:
        """(the records at commit ``sha``, None) or (None, why they cannot be read)."""
        from gittrack.errors import GittrackError

        try:
            commit = self.repo.git[sha].peel(_commit())
            return self.registry.read_commit(commit), None
        except GittrackError as exc:
            text = str(exc)
            _, sep, what = text.partition(": record is unreadable: ")
            return None, what if sep else text
        except (KeyError, ValueError) as exc:
            return None, f"commit {sha[:12]} cannot be read ({exc.__class__.__name__})"
        except Exception as exc:  # a YAMLError or a bound the reader enforces
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            return None, f"a record of commit {sha[:12]} is not valid safe YAML ({first})"

    def _check_registry(self, key: str, old: str, new: str) -> str | None:
        """See the module docstring: forward only, every new commit readable with its
        aliases on live versions, the tip's name hashing to ``key``, published versions kept."""
        if not is_sha256(key):
            return (
                "malformed registry ref: the name must be the sha256 (64 lowercase hex) "
                "of the registered model's name"
            )
        if old != ZERO and not self._descends(new, old):
            return (
                f"{REGISTRY_PREFIX}{key[:12]}... may only move forward: {new[:12]} does not "
                f"descend from {old[:12]} (a forced push would drop published versions)"
            )
        why = self._check_registry_commits(old, new)
        if why:
            return why
        tip, _ = self._registry_state(new)
        assert tip is not None  # checked with the commits above
        if registry_key(tip.name) != key:
            return (
                f"registry commit {new[:12]} holds model {tip.name[:80]!r}, whose ref is "
                f"{REGISTRY_PREFIX}{registry_key(tip.name)}, not this one"
            )
        if old == ZERO:
            return None
        before, _ = self._registry_state(old)
        if before is None:
            return None  # the old state is unreadable: the new one was checked above
        label = f"model {tip.name[:80]!r}"
        for n, was in sorted(before.versions.items()):
            now = tip.versions.get(n)
            if now is None:
                return (
                    f"{label}: version {n} is published and this update drops it (a version "
                    "is deleted by its tombstone, deleted: true, never by removing its record)"
                )
            if was.get("deleted") and not now.get("deleted"):
                return f"{label}: version {n} was deleted and cannot come back"
            if not now.get("deleted"):
                changed = [f for f in VERSION_IDENTITY if was.get(f) != now.get(f)]
                if changed:
                    return (
                        f"{label}: version {n} is published and this update replaces its "
                        f"{', '.join(changed)} (renumbered?): published versions keep their "
                        "numbers; pull to merge, your new versions are numbered after them"
                    )
        return None

    def _check_registry_commits(self, old: str, new: str) -> str | None:
        """Why a commit between ``old`` (excluded) and ``new`` is refused, or None."""
        import pygit2

        git = self.repo.git
        try:
            walker = git.walk(pygit2.Oid(hex=new), pygit2.enums.SortMode.TOPOLOGICAL)
            if old != ZERO:
                walker.hide(pygit2.Oid(hex=old))
        except (KeyError, ValueError, pygit2.GitError) as exc:
            return f"commit {new[:12]} cannot be walked ({exc.__class__.__name__})"
        for count, commit in enumerate(walker):
            if count >= MAX_REGISTRY_COMMITS:
                return (
                    f"more than {MAX_REGISTRY_COMMITS:,} new commits on one registered model "
                    "in one push"
                )
            sha = str(commit.id)
            why = _registry_tree_problem(git, commit.tree)
            if why:
                return f"malformed registry commit {sha[:12]}: {why}"
            state, why = self._registry_state(sha)
            if state is None:
                return f"malformed registry record in commit {sha[:12]}: {why}"
            for alias, version in sorted((state.model.get("aliases") or {}).items()):
                target = state.versions.get(int(version))
                if target is None or target.get("deleted"):
                    missing = "does not exist" if target is None else "is deleted"
                    return (
                        f"commit {sha[:12]}: alias {alias!r} of model {state.name[:80]!r} "
                        f"points at version {version}, which {missing}"
                    )
        return None

    def _descends(self, new: str, old: str) -> bool:
        import pygit2

        if new == old:
            return True
        try:
            return bool(self.repo.git.descendant_of(pygit2.Oid(hex=new), pygit2.Oid(hex=old)))
        except (KeyError, ValueError, pygit2.GitError):
            return False

    # -- many updates -------------------------------------------------------------

    def check_all(self, updates: Iterable[Update]) -> list[tuple[str, str]]:
        """``(ref, why)`` for each refused update, in the order of ``updates``.

        A push of many runs (:data:`PARALLEL_MIN` run refs or more) is checked by one
        forked worker per core, each with its own repository handle, on an equal share of
        the refs; the checks are the same. A worker that fails to answer has its share
        checked again here."""
        todo = list(updates)
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
        many = sum(1 for _o, _n, ref in todo if ref.startswith(RUNS)) >= PARALLEL_MIN
        if workers < 2 or not many or not hasattr(os, "fork"):
            return self._check_each(todo)
        shares = [todo[i::workers] for i in range(workers)]
        children = [_fork_worker(self.git_dir, share) for share in shares[1:]]
        refused = self._check_each(shares[0])
        for share, child in zip(shares[1:], children, strict=True):
            answer = _worker_answer(child)
            refused += self._check_each(share) if answer is None else answer
        order = {ref: i for i, (_o, _n, ref) in enumerate(todo)}
        return sorted(refused, key=lambda item: order.get(item[0], -1))

    def _check_each(self, updates: Iterable[Update]) -> list[tuple[str, str]]:
        refused = []
        for old, new, ref in updates:
            why = self.check(old, new, ref)
            if why:
                refused.append((ref, why))
        return refused


PARALLEL_MIN = 256  # run refs in one push from which the guard checks them on every core
MAX_WORKERS = 4


def _fork_worker(git_dir: str, share: list[Update]) -> tuple[int, int] | None:
    """Fork a process that checks ``share`` with a Guard of its own and writes the refused
    ``(ref, why)`` pairs as JSON to a pipe; (pid, read end), or None if it cannot start."""
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            import json

            os.close(read_end)
            refused = Guard(git_dir)._check_each(share)
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                json.dump(refused, out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _worker_answer(child: tuple[int, int] | None) -> list[tuple[str, str]] | None:
    """What a worker refused, or None when it did not finish cleanly (check again)."""
    if child is None:
        return None
    import json

    pid, read_end = child
    with os.fdopen(read_end, encoding="utf-8") as got:
        text = got.read()
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    try:
        return [(str(ref), str(why)) for ref, why in json.loads(text)]
    except (ValueError, TypeError):
        return None


def _registry_tree_problem(git: Any, tree: Any) -> str | None:
    """Why a registry commit's tree holds something else than ``registered_model.yaml`` and
    ``versions/<n>.yaml`` files, or None."""
    import pygit2

    from gittrack.layout import (
        REGISTERED_MODEL_FILE,
        REGISTRY_VERSIONS_DIR,
        registry_version_of_path,
    )

    for entry in tree:
        name = str(entry.name)
        if name == REGISTERED_MODEL_FILE and entry.filemode == pygit2.GIT_FILEMODE_BLOB:
            continue
        if name == REGISTRY_VERSIONS_DIR and entry.filemode == pygit2.GIT_FILEMODE_TREE:
            for sub in git[entry.id]:
                number = registry_version_of_path(str(sub.name))
                if number is None or sub.filemode != pygit2.GIT_FILEMODE_BLOB:
                    return (
                        f"{REGISTRY_VERSIONS_DIR}/{str(sub.name)[:80]!r} is not a version "
                        "record (<n>.yaml)"
                    )
            continue
        return (
            f"{name[:80]!r} does not belong in a registered model's commit (only "
            f"{REGISTERED_MODEL_FILE} and {REGISTRY_VERSIONS_DIR}/<n>.yaml)"
        )
    return None


def _commit() -> Any:
    import pygit2

    return pygit2.Commit


def _entry(tree: Any, name: str) -> tuple[str, int] | None:
    """(id, mode) of ``name`` in ``tree``, or None."""
    if tree is None or name not in tree:
        return None
    e = tree[name]
    return (str(e.id), e.filemode)


def _subtree(git: Any, tree: Any, name: str) -> Any:
    import pygit2

    if name not in tree:
        return []
    obj = git[tree[name].id]
    return obj if isinstance(obj, pygit2.Tree) else []


def parse_updates(argv: list[str], stdin: TextIO) -> list[Update]:
    """The updates git hands the hook: ``<ref> <old> <new>`` as arguments (the ``update``
    hook), or ``<old> <new> <ref>`` lines on stdin (``pre-receive``)."""
    if len(argv) == 4:
        return [(argv[2], argv[3], argv[1])]
    updates = []
    for line in stdin:
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates


def main(argv: list[str], stdin: TextIO = sys.stdin, stderr: TextIO = sys.stderr) -> int:
    """Run as a hook: report refused refs on stderr; returns the exit code (1 if any)."""
    updates = parse_updates(argv, stdin)
    if not any(ref.startswith(NS) for _o, _n, ref in updates):
        return 0
    refused = Guard(os.environ.get("GIT_DIR", ".")).check_all(updates)
    for ref, why in refused[:50]:
        print(f"gittrack: refusing {ref}: {why}", file=stderr)
    if len(refused) > 50:
        print(f"gittrack: ... and {len(refused) - 50} more refused refs", file=stderr)
    return 1 if refused else 0
