"""Sharing runs through git remotes: push, fetch/pull, and remote setup.

Runs travel as ordinary git refs under ``refs/gittrack/`` through the user's
own ``git`` (see :mod:`gittrack.remote.gitexec`). Every ref is planned explicitly
against ``git ls-remote``, so a run ref that diverged on either side is
reported with both shas and never silently overwritten:

* A plain :func:`push` (everything, nothing forced) first compares against the remote's
  refs as the last push or fetch recorded them (:func:`gittrack.remote.refs.known_remote_refs`)
  and makes one non-forcing wildcard ``git push``; only when git refuses a ref (the remote
  moved) or a ref needs merging does it plan against ``git ls-remote`` as below.
* :func:`push` sends new and fast-forwarded refs with ``git push`` of explicit
  ``<sha>:<ref>`` refspecs (no ``+``: git and the server refuse any
  non-fast-forward too; a push of everything uses the equivalent wildcard); ``force=True`` overwrites diverged ones with a
  ``--force-with-lease`` on the sha it saw, and says what it overwrote.
* :func:`fetch` downloads objects only (``git fetch --refmap= --stdin``, no
  ref updated by git) and then moves local refs itself: new refs are created,
  fast-forwards applied, diverged refs left alone (or, with ``force=True``,
  overwritten after saving the old sha under ``refs/gittrack-backup/``).
  A run being written by a live process here is never moved.
* The experiments ref is merged when both sides changed it
  (:mod:`gittrack.remote.merge`), so it never blocks a push or pull.
* :func:`pull` is fetch, then the query index refresh and, on request, the
  artifact prefetch. Nothing in the working tree or on any branch is touched.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gittrack.core.retry import Backoff, call_with_retry
from gittrack.core.validation import is_run_id_prefix
from gittrack.errors import AmbiguousRunId, InvalidParameter, RemoteError, RemoteMoved, RunNotFound
from gittrack.layout import (
    BACKUP_PREFIX,
    EXPERIMENTS_REF,
    INCOMING_PREFIX,
    NAMESPACE,
    REFSPEC,
    RUN_FILE,
    RUNS_PREFIX,
    STAMP_REF,
    lock_path,
    record_path,
)
from gittrack.remote.gitexec import git_message, run_git
from gittrack.remote.refs import (
    RefOutcome,
    Remote,
    SyncResult,
    is_registry_ref,
    is_run_ref,
    known_remote_refs,
    known_remote_text,
    list_remote_refs,
    local_refs,
    local_refs_text,
    parse_push_porcelain,
    parse_refs_text,
    push_reason,
    registry_label,
    relation,
    remote_stamp,
    repo_cwd,
    resolve_remote,
    run_id_of,
    save_known_remote_refs,
    short,
    stamp_blob,
    stamp_of,
)
from gittrack.remote.setup import setup_commands, setup_remote

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

CHUNK_BYTES = 100_000  # refspecs per `git push` command line (Linux allows ~2 MB in all)
WILDCARD_MIN = 500  # this many refs to move: one wildcard refspec instead of naming each
PUSH_REFSPEC = REFSPEC


__all__ = [
    "SyncResult",
    "fetch",
    "pull",
    "push",
    "resolve_remote",
    "setup_commands",
    "setup_remote",
]


def _open(repo: Repo | str | None) -> Repo:
    from gittrack.core.repo import Repo as _Repo

    return repo if isinstance(repo, _Repo) else _Repo(repo)


def _progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    try:
        return sys.stderr.isatty()
    except (ValueError, AttributeError):
        return False


def resolve_run_refs(prefixes: Iterable[str], *pools: Iterable[str]) -> list[str]:
    """Run id prefixes → full run refs, looked up in ``pools`` of ref names.

    Raises:
        RunNotFound: a prefix matches no run. AmbiguousRunId: it matches several.
        InvalidParameter: a prefix that is not hex.
    """
    ids = sorted({run_id_of(r) for pool in pools for r in pool if is_run_ref(r)})
    out: list[str] = []
    for prefix in prefixes:
        p = prefix.strip().lower()
        if p.startswith(RUNS_PREFIX):
            p = p[len(RUNS_PREFIX) :]
        if not is_run_id_prefix(p):
            raise InvalidParameter(f"Invalid run id {prefix!r}: run ids are hexadecimal")
        matches = [i for i in ids if i.startswith(p)]
        if not matches:
            raise RunNotFound(prefix)
        if len(matches) > 1 and p not in matches:
            raise AmbiguousRunId(prefix, matches)
        out.append(RUNS_PREFIX + (p if p in matches else matches[0]))
    return out


def _runs_of_experiment(repo: Repo, refs: dict[str, str], experiment: str) -> set[str]:
    """Run refs whose run.yaml names ``experiment`` (an id, or a name resolved to its id)."""
    import pygit2

    from gittrack.core.experiments import Experiments
    from gittrack.core.records import formats as records

    wanted = {str(experiment)}
    found = Experiments(repo).get_by_name(experiment)
    if found is not None:
        wanted.add(str(found.experiment_id))
    out: set[str] = set()
    git = repo.git
    for ref, sha in refs.items():
        if not is_run_ref(ref):
            continue
        try:
            blob = git[sha].peel(pygit2.Commit).tree[record_path(RUN_FILE)].peel(pygit2.Blob)
            run = records.load_yaml(blob.data) or {}
        except Exception:  # noqa: BLE001 - an unreadable record is not in any experiment
            continue
        if str(run.get("experiment_id")) in wanted:
            out.add(ref)
    return out


def fetch_objects(
    repo: Repo,
    remote: Remote,
    wanted: dict[str, str],
    *,
    progress: bool,
    direct: bool = False,
) -> None:
    """Download what the remote refs ``wanted`` (ref → sha) need, moving no ref of ours.

    Few refs: named on ``git fetch --stdin`` with no destination (nothing is
    written, not even FETCH_HEAD). Many (git's want handling grows with the
    square of explicit refspecs): one wildcard into a scratch namespace
    ``refs/gittrack-incoming/<remote>/``, deleted afterwards. ``direct=True``
    (only when every differing ref is missing here, so git can only create
    refs): the non-forcing wildcard straight into ``refs/gittrack/``.

    Raises:
        RemoteError: git failed and a wanted commit did not arrive (message from git).
    """
    if not wanted:
        return
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", "--refmap="]
    args += ["--progress"] if progress else ["--quiet"]
    scratch = None
    lines = None
    if direct:
        args += [remote.name, REFSPEC]
    elif len(wanted) >= WILDCARD_MIN:
        slug = hashlib.sha1(remote.url.encode("utf-8")).hexdigest()[:12]
        scratch = f"{INCOMING_PREFIX}{slug}/"
        args += [remote.name, f"+{NAMESPACE}*:{scratch}*"]
    else:
        args += ["--stdin", remote.name]
        lines = "".join(r + "\n" for r in wanted)
    try:
        result = run_git(repo_cwd(repo), args, input=lines, echo_stderr=progress)
    finally:
        if scratch:
            _delete_refs(repo, scratch)
    git = repo.git
    if result.returncode != 0 and any(sha not in git for sha in wanted.values()):
        raise RemoteError(
            f"Fetching from {remote.label} ({remote.url}) failed: {git_message(result)}\n"
            "Local runs are unchanged."
        )


def _delete_refs(repo: Repo, prefix: str) -> None:
    doomed = [r.name for r in repo.git.references.iterator() if r.name.startswith(prefix)]
    if doomed:
        run_git(
            repo_cwd(repo),
            ["update-ref", "--stdin"],
            input="".join(f"delete {r}\n" for r in doomed),
        )


# --- fetch / pull --------------------------------------------------------------


def _update_local_ref(repo: Repo, ref: str, new: str, old: str | None) -> str | None:
    """Move ``ref`` from ``old`` to ``new`` here; return None, or why it was not moved.

    A run whose lock is held (a live writer in another process) is never moved.
    """
    git = repo.git
    lock = None
    if is_run_ref(ref) and old is not None:
        from gittrack.core.locks import FileLock

        lock = FileLock(lock_path(repo.state_dir, run_id_of(ref)))
        if not lock.acquire(block=False):
            return "the run is being written by a live process here; pull again when it ends"
    try:
        current = git.references.get(ref)
        now = str(current.target) if current is not None else None
        if now == new:  # git's wildcard fetch created it already
            return None
        if now != old:
            return f"it changed here meanwhile (now {short(now)}); run the command again"
        git.references.create(ref, new, force=old is not None)
        return None
    finally:
        if lock is not None:
            lock.release()


def _backup(repo: Repo, ref: str, sha: str) -> str:
    name = BACKUP_PREFIX + ref[len(NAMESPACE) :] + "/" + sha[:12]
    repo.git.references.create(name, sha, force=True)
    return name


def fetch(
    repo: Repo | str | None = None,
    remote: str | None = None,
    runs: Sequence[str] = (),
    *,
    force: bool = False,
    progress: bool | None = None,
) -> SyncResult:
    """Bring the remote's runs (all, or the named run id prefixes) and experiments here.

    New runs are created, runs newer on the remote fast-forward, runs newer here
    stay, diverged runs are reported (``force=True`` overwrites them here, keeping
    the old sha under ``refs/gittrack-backup/``). Branches, the index and the
    working tree are not touched.

    Returns:
        SyncResult with one outcome per remote ref.
    Raises:
        UnknownRemote, RemoteError: bad or unreachable remote (nothing changed locally).
        RunNotFound / AmbiguousRunId: a named run is not on the remote.
    """
    repo = _open(repo)
    show = _progress(progress)
    target = resolve_remote(repo, remote)
    result = SyncResult(remote=target, direction="fetch")
    git = repo.git

    listed: dict[str, str] = {}

    def fetch_once() -> tuple[dict[str, str], dict[str, str]]:
        remote_refs = list_remote_refs(repo, target)
        listed.clear()
        listed.update(remote_refs)
        if runs:
            chosen = set(resolve_run_refs(runs, remote_refs))
            remote_refs = {r: s for r, s in remote_refs.items() if r in chosen or not is_run_ref(r)}
        here = local_refs(repo)
        missing = {
            ref: sha for ref, sha in remote_refs.items() if sha != here.get(ref) and sha not in git
        }
        only_new = not runs and all(here.get(r) in (None, s) for r, s in remote_refs.items())
        direct = only_new and len(missing) >= WILDCARD_MIN
        fetch_objects(repo, target, missing, progress=show, direct=direct)
        lost = [ref for ref in missing if remote_refs[ref] not in git]
        if lost:  # the remote moved under us: list and fetch again (fetching is idempotent)
            raise RemoteMoved(
                f"{target.label}: {len(lost)} refs changed on the remote while fetching "
                f"(e.g. {lost[0]}); run the command again"
            )
        return remote_refs, here

    remote_refs, here = call_with_retry(
        fetch_once,
        idempotent=True,
        retryable=lambda e: isinstance(e, RemoteMoved),
        backoff=Backoff(retries=2, first=0.0, jitter=0.0),
    )
    for ref, rsha in sorted(remote_refs.items()):
        lsha = here.get(ref)
        rel = relation(git, lsha, rsha)
        outcome = RefOutcome(ref=ref, action="", local=lsha, remote=rsha)
        if is_registry_ref(ref):
            outcome.label = registry_label(repo, ref, lsha or rsha)
        if rel == "same":
            outcome.action = "up-to-date"
        elif rel == "ahead":
            outcome.action = "ahead"
        elif ref == EXPERIMENTS_REF and rel in ("behind", "diverged", "missing-local"):
            from gittrack.remote.merge import merge_experiments

            merged = merge_experiments(repo, rsha)
            outcome.action = {"diverged": "merged", "behind": "updated"}.get(rel, "new")
            outcome.local = merged
        elif is_registry_ref(ref) and rel in ("behind", "diverged", "missing-local") and not force:
            _merge_registry_ref(repo, outcome, target.label)
        elif rel in ("missing-local", "behind") or (rel == "diverged" and force):
            why = _update_local_ref(repo, ref, rsha, lsha)
            if why:
                outcome.action, outcome.reason = "failed", why
            elif rel == "diverged":
                saved = _backup(repo, ref, lsha or "")
                outcome.action = "forced"
                outcome.reason = (
                    f"local {short(lsha)} replaced by remote {short(rsha)}; "
                    f"the old one is kept as {saved}"
                )
            else:
                outcome.action = "new" if lsha is None else "updated"
            if is_registry_ref(ref):
                outcome.label = registry_label(repo, ref, rsha)
        else:  # diverged, not forced
            outcome.action = "rejected"
            outcome.reason = "diverged"
        result.outcomes.append(outcome)
    if len(result.by_action("new")) >= WILDCARD_MIN:
        # thousands of new loose ref files make every later ref listing slow: pack them,
        # as `git gc` would (git locks each ref it packs, so live writers are safe)
        run_git(repo_cwd(repo), ["pack-refs", "--all"])
    save_known_remote_refs(repo, target, listed)
    return result


def pull(
    repo: Repo | str | None = None,
    remote: str | None = None,
    runs: Sequence[str] = (),
    *,
    force: bool = False,
    artifacts: bool = False,
    progress: bool | None = None,
) -> SyncResult:
    """:func:`fetch`, then refresh the query index (if this repository has one) and,
    with ``artifacts=True``, download the new runs' large artifacts into the cache.

    Returns/raises as :func:`fetch`.
    """
    from gittrack.remote import extras as remote_extras

    repo = _open(repo)
    result = fetch(repo, remote, runs, force=force, progress=progress)
    note = remote_extras.refresh_index(repo)
    if note:
        result.notes.append(note)
    if artifacts:
        arrived = [
            o.local or o.remote or ""
            for o in result.outcomes
            if is_run_ref(o.ref) and o.action in ("new", "updated", "forced", "up-to-date")
        ]
        result.notes.extend(remote_extras.prefetch_artifacts(repo, arrived))
    return result


# --- push --------------------------------------------------------------------


def push(
    repo: Repo | str | None = None,
    remote: str | None = None,
    runs: Sequence[str] = (),
    *,
    experiment: str | None = None,
    force: bool = False,
    delete: Sequence[str] = (),
    artifacts: bool = True,
    progress: bool | None = None,
) -> SyncResult:
    """Send runs (all, the named run id prefixes, or one experiment's) and the experiments ref.

    Only refs that are new or fast-forward are sent; refs newer on the remote are
    left for a pull; diverged refs are rejected with both shas unless ``force``
    (then overwritten, guarded by a lease on the sha seen). ``delete`` removes the
    named runs from the remote. Large artifacts of the pushed runs are uploaded
    first (``artifacts=False`` skips); a run whose artifacts cannot be uploaded is
    not pushed, so the remote never holds a run pointing at data it cannot get.

    Returns:
        SyncResult with one outcome per ref considered.
    Raises:
        UnknownRemote, RemoteError: bad or unreachable remote (nothing changed).
        RunNotFound / AmbiguousRunId / InvalidParameter: bad run id.
    """
    repo = _open(repo)
    show = _progress(progress)
    target = resolve_remote(repo, remote)
    result = SyncResult(remote=target, direction="push")
    here_text = local_refs_text(repo)
    plain = not (runs or experiment is not None or force or delete)
    record = known_remote_text(repo, target) if plain else None
    known: dict[str, str] | None = None
    if record is not None and here_text == record:  # the common case: no parsing
        words = here_text.split()  # "<sha> <ref>" lines (no symbolic ref: it equals the record)
        here = known = dict(zip(words[1::2], words[0::2]))
    else:
        here = parse_refs_text(here_text) or {}
        known = parse_refs_text(record, strict=True) if record is not None else None
    moved: dict[str, RefOutcome] = {}  # refs a push against the recorded state moved
    if record is not None and known is not None:
        if _nothing_new(repo, target, here, known, record, result):
            return result
        if _push_known(repo, target, here, known, record, artifacts, show, result):
            return result
        moved = {o.ref: o for o in result.outcomes if o.action in ("new", "updated")}
        result = SyncResult(remote=target, direction="push")
    if runs or experiment is not None:
        selected: set[str] = set(resolve_run_refs(runs, here)) if runs else set()
        if experiment is not None:
            selected |= _runs_of_experiment(repo, here, experiment)
        if EXPERIMENTS_REF in here:
            selected.add(EXPERIMENTS_REF)
    else:
        selected = set(here)
    remote_refs = list_remote_refs(repo, target)
    deletes = resolve_run_refs(delete, here, remote_refs) if delete else []
    selected -= set(deletes)
    git = repo.git
    unknown = {
        r: remote_refs[r]
        for r in selected
        if r in remote_refs and remote_refs[r] != here[r] and remote_refs[r] not in git
    }
    if unknown:  # learn how they relate: bring their objects (no ref moves)
        fetch_objects(repo, target, unknown, progress=show)

    send: list[tuple[str, str]] = []  # (sha, ref)
    leases: dict[str, str] = {}
    outcomes: dict[str, RefOutcome] = {}
    for ref in sorted(selected):
        lsha, rsha = here[ref], remote_refs.get(ref)
        rel = relation(git, lsha, rsha)
        o = outcomes[ref] = RefOutcome(ref=ref, action="", local=lsha, remote=rsha)
        merged = False
        if is_registry_ref(ref):
            o.label = registry_label(repo, ref, lsha)
        if rel == "diverged" and ref == EXPERIMENTS_REF and rsha is not None:
            from gittrack.remote.merge import merge_experiments

            lsha = o.local = merge_experiments(repo, rsha)
            rel = relation(git, lsha, rsha)
            merged = True
        elif rel == "diverged" and is_registry_ref(ref) and rsha is not None and not force:
            if not _merge_registry_ref(repo, o, target.label):
                continue  # a conflict: reported, nothing sent
            lsha = o.local or lsha
            rel = relation(git, lsha, rsha)
            merged = True
        if rel == "same":
            o.action = "up-to-date"
        elif rel == "behind":
            o.action = "behind"
        elif rel in ("missing-remote", "ahead"):
            o.action = "new" if rsha is None else "merged" if merged else "updated"
            send.append((lsha, ref))
        elif rel == "unknown":  # the fetch above did not bring it: treat as diverged
            o.action, o.reason = "rejected", "diverged"
        elif force:
            o.action = "forced"
            o.reason = f"remote {short(rsha)} replaced by local {short(lsha)}"
            send.append((lsha, ref))
            leases[ref] = rsha or ""
        else:
            o.action, o.reason = "rejected", "diverged"
    for ref in deletes:
        rsha = remote_refs.get(ref)
        o = outcomes[ref] = RefOutcome(ref=ref, action="deleted", local=here.get(ref), remote=rsha)
        if rsha is None:
            o.action, o.reason = "failed", "not on the remote, nothing to delete"
        else:
            send.append(("", ref))
            leases[ref] = rsha
    if not runs and experiment is None:
        for ref, rsha in remote_refs.items():
            if is_run_ref(ref) and ref not in here and ref not in outcomes:
                outcomes[ref] = RefOutcome(ref=ref, action="remote-only", remote=rsha)

    if artifacts:
        send = _upload_artifacts(repo, send, outcomes, result.notes)

    if send:
        wildcard = (
            len(send) >= WILDCARD_MIN
            and not leases
            and selected == set(here)
            and not any(o.action == "failed" for o in outcomes.values())
        )
        stamp = stamp_blob(repo, _recorded(remote_refs, outcomes.values()))  # if all land
        _git_push(repo, target, send, leases, outcomes, show, wildcard, result.notes, stamp)
    for ref, o in moved.items():  # sent by the first attempt: say so, not "up to date"
        if ref in outcomes and outcomes[ref].action == "up-to-date":
            outcomes[ref] = o
    result.outcomes = list(outcomes.values())
    _remember(repo, target, remote_refs, result.outcomes)
    return result


MOVED = ("new", "updated", "forced", "merged", "up-to-date")
_PUSHED = {"*": "new", " ": "updated", "=": "up-to-date"}  # git's porcelain flag -> action


def _upload_artifacts(
    repo: Repo, send: list[tuple[str, str]], outcomes: dict[str, RefOutcome], notes: list[str]
) -> list[tuple[str, str]]:
    """Upload the large artifacts of the runs in ``send`` ((sha, ref) pairs) that the store
    lacks; a run whose artifacts cannot be there fails and is left out of what is returned."""
    from gittrack.remote import extras as remote_extras

    to_send = {ref: sha for sha, ref in send if sha and is_run_ref(ref)}
    problems, said = remote_extras.upload_artifacts(repo, to_send)
    notes.extend(said)
    for ref, why in problems.items():
        outcomes[ref].action, outcomes[ref].reason = "failed", f"artifacts missing: {why}"
    return [(sha, ref) for sha, ref in send if ref not in problems]


def _recorded(listed: dict[str, str], outcomes: Iterable[RefOutcome]) -> dict[str, str]:
    """The remote's refs as ``listed`` plus what ``outcomes`` moved there."""
    known = dict(listed)
    for o in outcomes:
        if o.action in MOVED and o.local:
            known[o.ref] = o.local
        elif o.action == "deleted":
            known.pop(o.ref, None)
    return known


def _remember(
    repo: Repo,
    target: Remote,
    listed: dict[str, str],
    outcomes: Iterable[RefOutcome],
    *,
    recorded: bool = False,
) -> None:
    """Record the remote's refs as ``listed`` (``recorded``: read from the record) plus what
    this push moved there."""
    known = _recorded(listed, outcomes)
    if known != listed or (not recorded and known_remote_refs(repo, target) != known):
        save_known_remote_refs(repo, target, known)


def _nothing_new(
    repo: Repo,
    target: Remote,
    here: dict[str, str],
    known: dict[str, str],
    record: str,
    result: SyncResult,
) -> bool:
    """Whether a push of everything has nothing to do, decided without a ``git push``: every
    ref ``here`` is as the remote's ``record`` (parsed: ``known``) has it, and the remote's
    push stamp is still the one naming that record (no gittrack push changed the remote
    since; see :func:`gittrack.remote.refs.stamp_blob`). Then ``result`` says so (each ref
    up to date, the record's other runs only on the remote), as the wildcard push would."""
    if known is not here and any(known.get(ref) != sha for ref, sha in here.items()):
        return False
    if remote_stamp(repo, target) != stamp_of(record):
        return False  # recreated, pushed to by another clone, or never stamped: push
    result.outcomes = [RefOutcome(ref, "up-to-date", sha, sha) for ref, sha in here.items()]
    if known is not here:
        result.outcomes += [
            RefOutcome(ref=ref, action="remote-only", remote=sha)
            for ref, sha in known.items()
            if ref not in here and is_run_ref(ref)
        ]
    return True


def _push_known(
    repo: Repo,
    target: Remote,
    here: dict[str, str],
    known: dict[str, str],
    record: str,
    artifacts: bool,
    show: bool,
    result: SyncResult,
) -> bool:
    """Push everything against the remote's refs as the last push or fetch recorded them,
    without listing the remote first: the large artifacts of the runs that differ from the
    record are uploaded, then one ``git push`` of the non-forcing wildcard, in which git
    compares every ref with the remote's and refuses any non-fast-forward (runs held back
    for their artifacts: the others by name). When the remote's push stamp still names
    ``record`` (no gittrack push changed it since) and fewer than :data:`WILDCARD_MIN` refs
    moved, only those are named, atomic with the new stamp: git's report then covers them,
    not every ref (at 100,000 runs parsing that report cost more than git's own push of one
    ref over the floor). Returns False when the plan needs the remote's
    listing: a ref that is not a fast-forward of what was recorded (e.g. the experiments
    ref to merge; nothing was sent), or a ref git refused because the remote moved since
    (``result.outcomes`` then holds what was sent): the caller plans against
    ``git ls-remote``."""
    git = repo.git
    changed = {ref: sha for ref, sha in here.items() if known.get(ref) != sha}
    for ref, sha in changed.items():
        rsha = known.get(ref)
        if rsha is not None and relation(git, sha, rsha) != "ahead":
            return False
    outcomes: dict[str, RefOutcome] = {}
    for ref, sha in here.items():
        rsha = known.get(ref)
        action = "up-to-date" if ref not in changed else "new" if rsha is None else "updated"
        outcomes[ref] = RefOutcome(ref=ref, action=action, local=sha, remote=rsha)
    for ref in known.keys() - here.keys():
        if is_run_ref(ref):
            outcomes[ref] = RefOutcome(ref=ref, action="remote-only", remote=known[ref])
    send = sorted((sha, ref) for ref, sha in changed.items())
    if artifacts and send:
        send = _upload_artifacts(repo, send, outcomes, result.notes)
    pushed = bool(send) or len(send) == len(changed)
    if (
        send
        and len(send) == len(changed)
        and len(send) < WILDCARD_MIN
        and remote_stamp(repo, target) == stamp_of(record)
    ):  # the remote is as recorded: name what moves (the refs git would send), stamped
        stamp = stamp_blob(repo, {**known, **here})
        _git_push(repo, target, send, {}, outcomes, show, False, result.notes, stamp, atomic=True)
    elif len(send) == len(changed):
        # nothing held back: one wildcard push, in which git compares every ref with the
        # remote's actual one (so a remote that lost refs since the record gets them again),
        # atomic with the stamp naming the record it leaves (`_nothing_new` reads it)
        planned = sorted((sha, ref) for ref, sha in here.items())
        report = _push_stamped(repo, target, planned, {**known, **here}, outcomes, show, result)
        for ref, (flag, _summary) in report.items():
            o = outcomes.get(ref)
            if o is not None and o.action != "rejected" and flag in _PUSHED:
                o.action = _PUSHED[flag]
    elif send:  # some runs held back (their artifacts): name the others
        stamp = stamp_blob(repo, _recorded(known, outcomes.values()))
        _git_push(repo, target, send, {}, outcomes, show, False, result.notes, stamp)
    if pushed and any(o.reason.startswith("diverged") for o in outcomes.values()):
        result.notes.clear()
        result.outcomes = [o for o in outcomes.values() if o.action in ("new", "updated")]
        return False  # the remote moved since it was recorded: plan against its listing
    result.outcomes = list(outcomes.values())
    _remember(repo, target, known, result.outcomes, recorded=True)
    return True


def _push_stamped(
    repo: Repo,
    target: Remote,
    planned: list[tuple[str, str]],
    leaves: dict[str, str],
    outcomes: dict[str, RefOutcome],
    show: bool,
    result: SyncResult,
) -> dict[str, tuple[str, str]]:
    """The wildcard push of ``planned`` with ``--atomic`` and the stamp naming ``leaves``
    (the refs the remote holds when every ref goes): all of it lands, or none. A remote that
    cannot take that (no atomic pushes, or it refuses the stamp ref alone) gets the wildcard
    without the stamp, as before stamps (its no-op pushes keep making the wildcard push)."""
    stamp = stamp_blob(repo, leaves)
    said = len(result.notes)
    try:
        report = _git_push(
            repo, target, planned, {}, outcomes, show, True, result.notes, stamp, atomic=True
        )
    except RemoteError as exc:
        if "atomic" not in str(exc):
            raise
        report = {}  # the remote does not do atomic pushes
    flag, summary = report.get(STAMP_REF, ("?", ""))
    if report and (flag != "!" or "atomic" in summary):
        return report  # sent, or refused because of a run (the caller looks at those)
    if report and not any("atomic" in s for f, s in report.values() if f == "!"):
        return report  # every ref refused for the same reason (e.g. the remote's guard)
    for o in outcomes.values():  # the stamp was the problem: as `_push_known` planned them
        if o.local is not None:
            o.reason = ""
            o.action = (
                "up-to-date" if o.local == o.remote else "new" if o.remote is None else "updated"
            )
    del result.notes[said:]
    return _git_push(repo, target, planned, {}, outcomes, show, True, result.notes)


def _batches(specs: list[str], limit: int = CHUNK_BYTES) -> list[list[str]]:
    out: list[list[str]] = [[]]
    size = 0
    for spec in specs:
        if out[-1] and size + len(spec) + 1 > limit:
            out.append([])
            size = 0
        out[-1].append(spec)
        size += len(spec) + 1
    return out


def _merge_registry_ref(repo: Repo, outcome: RefOutcome, remote_label: str) -> bool:
    """Merge the diverged registry ref of ``outcome`` with the remote's tip (see
    :mod:`gittrack.remote.registry_merge`); record the result in ``outcome``.

    Returns:
        True when merged (``outcome.local`` is the merge commit), False on a conflict or an
        unreadable side (``outcome`` is then rejected with the reason).
    """
    from gittrack.errors import GittrackError
    from gittrack.remote.registry_merge import merge_registry

    assert outcome.remote is not None
    try:
        done = merge_registry(repo, outcome.ref, outcome.remote, remote_label)
    except GittrackError as exc:
        outcome.action, outcome.reason = "rejected", f"unreadable: {exc}"
        return False
    outcome.label = f"model {done.name!r}"
    if not done.ok:
        assert done.result is not None
        outcome.action = "rejected"
        outcome.reason = (
            "conflict: "
            + "; ".join(done.result.conflicts)
            + ". Nothing was changed here. Make this clone agree (e.g. `gittrack models alias "
            "NAME ALIAS VERSION` to the remote's version) and pull again, or take the "
            "remote's state with `gittrack pull --force` (yours is kept as a backup ref)"
        )
        return False
    if done.result is None:  # one side held the other: the ref moved (or stayed)
        outcome.action = "new" if outcome.local is None else "updated"
    else:
        outcome.action = "merged"
        outcome.reason = done.renumber_note()
    outcome.local = done.sha
    return True


def _git_push(
    repo: Repo,
    target: Remote,
    send: list[tuple[str, str]],
    leases: dict[str, str],
    outcomes: dict[str, RefOutcome],
    show: bool,
    wildcard: bool,
    notes: list[str],
    stamp: str | None = None,
    *,
    atomic: bool = False,
) -> dict[str, tuple[str, str]]:
    """``git push --porcelain`` of ``send``; fold git's per-ref report into ``outcomes``
    and return it (ref → (flag, summary)).

    Explicit ``<sha>:<ref>`` refspecs (``:<ref>`` deletes) go in command lines of
    at most :data:`CHUNK_BYTES`, each forced ref with its ``--force-with-lease``.
    With ``wildcard`` the non-forcing refspec ``refs/gittrack/*:refs/gittrack/*``
    is used instead: git sends what differs and refuses every non-fast-forward.
    ``stamp`` (a blob here) goes to the remote's :data:`STAMP_REF` with the first command
    line; ``atomic``: ``git push --atomic`` (one command line only).
    """
    base = ["push", "--porcelain", "--no-follow-tags", "--no-recurse-submodules"]
    if os.environ.get("GITTRACK_PUSHING_RUNS"):
        # called from gittrack's pre-push hook during a branch push: the user's
        # pre-push hooks ran for that push already; do not run them again for the runs
        base.append("--no-verify")
    base += ["--progress"] if show else ["--no-progress"]
    if atomic:
        base.append("--atomic")
    if wildcard:
        batches = [[PUSH_REFSPEC]]
    else:
        specs = []
        for sha, ref in send:
            if ref in leases:
                specs.append(f"--force-with-lease={ref}:{leases[ref]}")
            specs.append(f"{sha}:{ref}")
        batches = _batches(specs)
    if stamp:
        batches[0].append(f"+{stamp}:{STAMP_REF}")
    report: dict[str, tuple[str, str]] = {}
    failure = ""
    said: list[str] = []  # what the server printed ("remote: ..." lines)
    for batch in batches:
        flags = [a for a in batch if a.startswith("--")]
        refspecs = [a for a in batch if not a.startswith("--")]
        res = run_git(repo_cwd(repo), base + flags + [target.name] + refspecs, echo_stderr=show)
        got = parse_push_porcelain(res.stdout)
        report.update(got)
        said += [
            ln[len("remote:") :].strip()
            for ln in res.stderr.replace("\r", "\n").splitlines()
            if ln.startswith("remote:") and ln[len("remote:") :].strip()
        ]
        if res.returncode != 0 and not got:
            killed = f" (killed by signal {-res.returncode})" if res.returncode < 0 else ""
            failure = f"git push failed{killed}: {git_message(res)}"
            if not report:
                raise RemoteError(
                    f"Pushing to {target.label} ({target.url}) failed{killed}: "
                    f"{git_message(res)}\nLocal runs are unchanged; a push is safe to run again."
                )
            break
    planned = {ref for _sha, ref in send}
    for ref, o in outcomes.items():
        if ref not in planned:
            continue
        flag, summary = report.get(ref, ("?", ""))
        if flag == "!":
            o.action, o.reason = "rejected", push_reason(summary)
            told = [ln for ln in said if ref in ln]
            if told and o.reason.startswith("remote refused"):
                o.reason = "remote refused: " + told[0].split(ref, 1)[1].lstrip(": ")
        elif flag == "=":
            o.action = "up-to-date"
        elif flag == "?":
            o.action = "failed"
            o.reason = failure or "git did not report this ref; push again"
    if said and any(o.action == "rejected" for o in outcomes.values()):
        shown = [ln for ln in said if not any(r in ln for r in planned)][:10]
        notes.extend(f"the remote said: {ln}" for ln in shown)
    if wildcard:  # refs git pushed that appeared after the plan was made
        for ref, (flag, _summary) in report.items():
            if ref not in outcomes and flag in "*+ " and ref.startswith(NAMESPACE):
                outcomes[ref] = RefOutcome(ref=ref, action="new" if flag == "*" else "updated")
    return report
