"""Refs on both sides of a remote: naming the remote, listing refs, comparing shas, reporting.

The pieces :mod:`gittrack.remote.transfer` plans a push or fetch with: which remote,
what it holds under ``refs/gittrack/`` (``git ls-remote``), what we hold, how
two shas of one ref relate (same, ahead, behind, diverged), and the per-ref
outcomes with the one-line summary the CLI prints.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gittrack.core.validation import GITTRACK_RUN_ID_RE
from gittrack.errors import RemoteError, UnknownRemote
from gittrack.layout import (
    EXPERIMENTS_REF,
    NAMESPACE,
    REGISTRY_PREFIX,
    RUNS_PREFIX,
    STAMP_REF,
    run_id_of_ref,
)
from gittrack.remote.gitexec import git_message, run_git

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

_URLISH = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/:]+@[^/:]+:|^[^/:]+:[^/]")


@dataclass(frozen=True)
class Remote:
    """A remote as git knows it: a configured name (``origin``) or a URL/path."""

    name: str
    url: str
    configured: bool

    @property
    def label(self) -> str:
        return self.name


def repo_cwd(repo: Repo) -> str:
    """The directory to run git in: the working tree, or the git dir of a bare repository."""
    return os.fspath(repo.workdir or repo.gitdir)


def default_remote_name(repo: Repo) -> str | None:
    """The remote of the current branch's upstream, else ``origin``, else the only remote."""
    git = repo.git
    names = [n for n in git.remotes.names() if n is not None]
    try:
        branch = None if git.head_is_detached or git.head_is_unborn else git.head.shorthand
    except Exception:  # noqa: BLE001 - an unreadable HEAD just means no upstream
        branch = None
    if branch:
        upstream = repo.config(f"branch.{branch}.remote")
        if upstream and upstream in names:
            return str(upstream)
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    return None


def looks_like_url(text: str) -> bool:
    """True for ``https://…``, ``git@host:path``, ``/abs/path``, ``./rel`` and existing paths."""
    return bool(_URLISH.match(text)) or text.startswith(("/", "./", "../")) or os.path.exists(text)


def resolve_remote(repo: Repo, name: str | None = None) -> Remote:
    """The remote called ``name`` (default: the upstream's, else ``origin``), or a URL.

    Raises:
        UnknownRemote: ``name`` is neither a configured remote nor a URL/path.
        RemoteError: no name given and no default remote can be chosen.
    """
    names = [n for n in repo.git.remotes.names() if n is not None]
    if name is None:
        name = default_remote_name(repo)
        if name is None:
            if not names:
                raise RemoteError(
                    "This repository has no remotes. Add one with `git remote add origin URL`."
                )
            raise RemoteError(
                f"Several remotes and none is the default ({', '.join(names)}): name one."
            )
    if name in names:
        url = repo.git.remotes[name].url or ""
        return Remote(name=name, url=url, configured=True)
    if looks_like_url(name):
        return Remote(name=name, url=name, configured=False)
    raise UnknownRemote(name, names)


_RUN_REF = re.compile(re.escape(RUNS_PREFIX) + GITTRACK_RUN_ID_RE.pattern.lstrip("^"))
_REF_LINE = re.compile(r"^([0-9a-f]{40}) (" + re.escape(NAMESPACE) + r"[^\n]*)$", re.MULTILINE)


def is_run_ref(ref: str) -> bool:
    """Whether ``ref`` is ``refs/gittrack/runs/<a gittrack run id>`` (one regex call: a push
    or pull of 100,000 runs asks this of every ref)."""
    return _RUN_REF.match(ref) is not None


run_id_of = run_id_of_ref


def local_refs_text(repo: Repo) -> str:
    """Every ref under ``refs/gittrack/`` here as ``<sha> <ref>`` lines by ref name: the
    form of :func:`save_known_remote_refs`'s record when the two agree (a symbolic ref's
    line starts with ``symref``; :func:`parse_refs_text` leaves it out: not a run).

    One ``git for-each-ref`` (packed refs read in C): at 10,000 runs ~20x cheaper
    than walking every ref of the repository through pygit2."""
    fmt = "--format=%(if)%(symref)%(then)symref %(end)%(objectname) %(refname)"
    result = run_git(repo_cwd(repo), ["for-each-ref", fmt, NAMESPACE])
    if result.returncode != 0:
        raise RemoteError(f"Cannot list the local refs: {git_message(result)}")
    return result.stdout


def parse_refs_text(text: str, *, strict: bool = False) -> dict[str, str] | None:
    """``<sha> <ref>`` lines (:func:`local_refs_text`, the record) → ref → sha. Other lines
    (symbolic refs) are left out, or with ``strict`` make it None (a record not written by
    :func:`save_known_remote_refs`)."""
    found = _REF_LINE.findall(text)
    if strict and len(found) != text.count("\n") + (not text.endswith("\n") and bool(text)):
        return None
    return {ref: sha for sha, ref in found}


def local_refs(repo: Repo) -> dict[str, str]:
    """Every direct ref under ``refs/gittrack/`` here → its sha (symbolic refs are not runs)."""
    return parse_refs_text(local_refs_text(repo)) or {}


def list_remote_refs(repo: Repo, remote: Remote, *, progress: bool = False) -> dict[str, str]:
    """``git ls-remote REMOTE refs/gittrack/*``: the remote's gittrack refs → sha.

    Raises:
        RemoteError: the remote cannot be reached or read (git's message included).
    """
    result = run_git(repo_cwd(repo), ["ls-remote", remote.name, NAMESPACE + "*"])
    if result.returncode != 0:
        raise RemoteError(
            f"Cannot read remote {remote.label} ({remote.url}): {git_message(result)}\n"
            "Nothing was changed locally."
        )
    refs: dict[str, str] = {}
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith(NAMESPACE) and not ref.endswith("^{}"):
            refs[ref] = sha
    return refs


def _remote_key(remote: Remote) -> str:
    import hashlib

    return hashlib.sha1(f"{remote.name}\0{remote.url}".encode()).hexdigest()[:16]


def _known_refs_file(repo: Repo, remote: Remote) -> Path:
    from gittrack.layout import remote_refs_path, state_dir

    return remote_refs_path(state_dir(repo.common_dir), _remote_key(remote))


def _record_text(refs: dict[str, str]) -> str:
    """The record of ``refs`` (ref → sha) as it is stored: ``<sha> <ref>`` lines by ref."""
    return "".join(f"{sha} {ref}\n" for ref, sha in sorted(refs.items()))


def known_remote_text(repo: Repo, remote: Remote) -> str | None:
    """The record of :func:`known_remote_refs` as stored, or None (none, or unreadable)."""
    try:
        return _known_refs_file(repo, remote).read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return None


def known_remote_refs(repo: Repo, remote: Remote) -> dict[str, str] | None:
    """The remote's ``refs/gittrack/`` as the last push or fetch here left them (ref → sha),
    or None when no push or fetch has recorded them (or the record is unreadable: not
    written by save_known_remote_refs, so the remote is listed instead)."""
    text = known_remote_text(repo, remote)
    return parse_refs_text(text, strict=True) if text is not None else None


def save_known_remote_refs(repo: Repo, remote: Remote, refs: dict[str, str]) -> None:
    """Record ``refs`` (ref → sha) as the remote's state (atomically; a failure to write
    only means the next push lists the remote)."""
    path = _known_refs_file(repo, remote)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(_record_text(refs), "ascii")
        os.replace(tmp, path)
    except (OSError, UnicodeEncodeError):
        tmp.unlink(missing_ok=True)


def forget_known_remote_refs(repo: Repo, remote: Remote) -> None:
    """Drop the recorded state of ``remote`` (the next push lists it)."""
    _known_refs_file(repo, remote).unlink(missing_ok=True)


# -- the push stamp (layout.STAMP_REF) ------------------------------------------------------
#
# Every gittrack push sets the remote's stamp in the same `git push` to :func:`stamp_blob`
# of the record it leaves when every ref it sends lands (a push of everything against the
# record, `transfer._push_known`, with ``--atomic``: the stamp moves only if every ref did).
# So while the remote's stamp is :func:`stamp_blob` of our record, no gittrack push changed
# the remote since it matched that record: a push with nothing new reads one ref
# (:func:`remote_stamp`) instead of the remote's every ref. (A push whose refs did not all
# land leaves a stamp whose record nobody holds: its own record is what did land.)


def _stamp_data(record: str) -> bytes:
    import hashlib

    digest = hashlib.sha256(record.encode("ascii")).hexdigest()
    return f"gittrack push stamp\nrefs sha256 {digest}\n".encode("ascii")


def stamp_of(record: str) -> str:
    """The sha of :func:`stamp_blob` of the record text ``record`` (nothing written)."""
    import pygit2

    return str(pygit2.hash(_stamp_data(record)))


def stamp_blob(repo: Repo, refs: dict[str, str]) -> str:
    """Write the stamp naming ``refs`` (ref → sha: what a push leaves on the remote) here;
    its sha, to push to :data:`STAMP_REF`."""
    return str(repo.git.create_blob(_stamp_data(_record_text(refs))))


def _stamp_repo(repo: Repo) -> Path | None:
    """The bare repository the stamps are fetched into (created on first use; its config
    includes ours, so remotes, URL rewrites and credentials are ours), or None when it
    cannot be made."""
    import shutil

    from gittrack.layout import stamp_repo_path, state_dir

    path = stamp_repo_path(state_dir(repo.common_dir))
    if (path / "HEAD").is_file():
        return path
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        made = run_git(path.parent, ["init", "-q", "--bare", os.fspath(tmp)])
        if made.returncode != 0:
            return None
        ours = os.fspath(Path(repo.common_dir).resolve() / "config")
        quoted = ours.replace("\\", "\\\\").replace('"', '\\"')
        with open(tmp / "config", "a", encoding="utf-8") as f:
            f.write(f'[include]\n\tpath = "{quoted}"\n[core]\n\tbare = true\n')
        os.rename(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return path if (path / "HEAD").is_file() else None  # another process made it
    return path


def remote_stamp(repo: Repo, remote: Remote) -> str | None:
    """The sha the remote's :data:`STAMP_REF` points at, or None when it has none (or it
    cannot be read now: the caller then pushes as without a stamp).

    One ``git fetch`` of that ref alone, with protocol v2 (which asks the remote for that
    ref's prefix only, over every transport), into :func:`_stamp_repo`: a fetch into this
    repository would read every run ref here twice (git's negotiation and its
    connectivity check)."""
    import pygit2

    scratch = _stamp_repo(repo)
    if scratch is None:
        return None
    dest = f"refs/stamps/{_remote_key(remote)}"
    args = ["-c", "protocol.version=2", f"--git-dir={os.fspath(scratch)}", "fetch", "-q"]
    args += ["--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", "--no-prune"]
    args += ["--no-auto-maintenance", "--refmap=", remote.name, f"+{STAMP_REF}:{dest}"]
    if run_git(repo_cwd(repo), args).returncode != 0:
        return None  # no stamp there, or the remote cannot be read: the push will say
    try:
        ref = pygit2.Repository(os.fspath(scratch)).references.get(dest)
    except pygit2.GitError:
        return None
    return str(ref.target) if ref is not None else None


def relation(git: object, local: str | None, remote: str | None) -> str:
    """How ``local`` relates to ``remote``: same, missing-local, missing-remote, ahead
    (local descends remote), behind, diverged, or unknown (remote commit not here)."""
    if local == remote:
        return "same"
    if local is None:
        return "missing-local"
    if remote is None:
        return "missing-remote"
    if remote not in git:  # type: ignore[operator]
        return "unknown"
    if git.descendant_of(local, remote):  # type: ignore[attr-defined]
        return "ahead"
    if git.descendant_of(remote, local):  # type: ignore[attr-defined]
        return "behind"
    return "diverged"


def short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"


def is_registry_ref(ref: str) -> bool:
    """Whether ``ref`` is a registered model's (``refs/gittrack/registry/<key>``)."""
    return ref.startswith(REGISTRY_PREFIX)


def registry_label(repo: Repo, ref: str, sha: str | None) -> str:
    """``model 'churn'`` (the name recorded at ``sha``), else ``model <key>``."""
    from gittrack.remote.registry_merge import model_name_at

    name = model_name_at(repo, sha) if sha else None
    return f"model {name!r}" if name is not None else f"model {ref[len(REGISTRY_PREFIX) :][:12]}"


def ref_label(ref: str) -> str:
    """``run 7f3a1b2c…`` for run refs, the ref name otherwise."""
    if is_run_ref(ref):
        return f"run {run_id_of(ref)}"
    if ref == EXPERIMENTS_REF:
        return "experiments"
    return ref


@dataclass(slots=True)
class RefOutcome:
    """What happened to one ref.

    ``action`` is one of: new, updated, forced, merged, deleted, up-to-date, ahead,
    behind, remote-only, rejected, failed. ``reason`` explains rejected/failed (and, for
    a merged registered model, the versions renumbered). ``label`` names the thing when
    the ref alone does not (``model 'churn'``).
    """

    ref: str
    action: str
    local: str | None = None
    remote: str | None = None
    reason: str = ""
    label: str = ""

    @property
    def what(self) -> str:
        return self.label or ref_label(self.ref)

    @property
    def needs_attention(self) -> bool:
        """Rejected, failed, forced, or a merge that renumbered versions: worth a line."""
        return self.action in ("rejected", "failed", "forced") or (
            self.action == "merged" and bool(self.reason)
        )

    def describe(self) -> str:
        """One line for a person: what, both shas, why, and what to do."""
        what = self.what
        shas = f"local {short(self.local)}, remote {short(self.remote)}"
        if self.action == "rejected":
            return f"rejected {what} ({self.reason}): {shas}"
        if self.action == "failed":
            return f"failed {what}: {self.reason}"
        if self.action == "forced":
            return f"overwrote {what}: {self.reason}"
        if self.action == "merged" and self.reason:
            return f"merged {what}: {self.reason}"
        return f"{self.action} {what}: {shas}"


@dataclass
class SyncResult:
    """The outcome of one push or fetch against one remote."""

    remote: Remote
    direction: str  # "push" | "fetch"
    outcomes: list[RefOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bytes_transferred: int | None = None

    def by_action(self, action: str) -> list[RefOutcome]:
        return [o for o in self.outcomes if o.action == action]

    @property
    def rejected(self) -> list[RefOutcome]:
        return [o for o in self.outcomes if o.action in ("rejected", "failed")]

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        """``origin: pushed 132 runs (130 new, 2 updated), 3 up to date, 1 rejected (diverged): 7f3a…``."""
        runs = [o for o in self.outcomes if _RUN_REF.match(o.ref)]
        run_refs = {o.ref for o in runs}
        count = Counter([o.action for o in runs])
        verb = "pushed" if self.direction == "push" else "fetched"
        parts: list[str] = []
        moved = count["new"] + count["updated"] + count["forced"]
        if moved:
            detail = ", ".join(
                f"{count[k]} {label}"
                for k, label in (("new", "new"), ("updated", "updated"), ("forced", "forced"))
                if count[k]
            )
            parts.append(f"{verb} {moved} run{'s' if moved != 1 else ''} ({detail})")
        if count["deleted"]:
            parts.append(f"deleted {count['deleted']}")
        if count["up-to-date"]:
            parts.append(f"{count['up-to-date']} up to date")
        if count["ahead"]:
            parts.append(f"{count['ahead']} newer here (push to share)")
        if count["behind"]:
            parts.append(f"{count['behind']} newer on the remote (pull to update)")
        if count["remote-only"]:
            parts.append(f"{count['remote-only']} only on the remote")
        models = Counter(
            o.action
            for o in self.outcomes
            if o.action in ("new", "updated", "merged", "forced") and is_registry_ref(o.ref)
        )
        if models:
            n = sum(models.values())
            detail = ", ".join(f"{c} {a}" for a, c in sorted(models.items()))
            parts.append(f"{n} registered model{'s' if n != 1 else ''} ({detail})")
        for o in self.outcomes:
            if o.action not in ("new", "updated", "merged", "forced"):
                continue
            if o.ref not in run_refs and not is_registry_ref(o.ref):
                parts.append(f"{ref_label(o.ref)} {o.action}")
        bad = self.rejected
        if bad:
            reasons = Counter(o.reason.split(":")[0] for o in bad)
            why = ", ".join(f"{r}" for r in reasons)
            shown = ", ".join(
                short(run_id_of(o.ref)) if is_run_ref(o.ref) else o.what for o in bad[:5]
            )
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            parts.append(f"{len(bad)} rejected ({why}): {shown}{more}")
        if not parts:
            parts.append("nothing to do" if not self.outcomes else "everything up to date")
        return f"{self.remote.label}: " + ", ".join(parts)


_PORCELAIN = re.compile(r"^([^\t\n])\t[^\t\n]*:([^\t\n]*)(?:\t([^\n]*))?$", re.MULTILINE)


def parse_push_porcelain(stdout: str) -> dict[str, tuple[str, str]]:
    """``git push --porcelain`` output → dst ref → (flag, summary).

    Flags: ' ' fast-forward, '+' forced, '-' deleted, '*' new, '!' rejected, '=' up to date.
    (One regex over the output: a wildcard push of 100,000 runs reports each.)
    """
    return {dst: (flag, summary.strip()) for flag, dst, summary in _PORCELAIN.findall(stdout)}


def push_reason(summary: str) -> str:
    """A rejection summary like ``[remote rejected] (pre-receive hook declined)`` → a reason."""
    m = re.search(r"\(([^)]*)\)\s*$", summary)
    inner = m.group(1) if m else summary.strip("[] ")
    if "non-fast-forward" in inner or "fetch first" in inner:
        return "diverged: the remote changed since it was listed; pull, then push again"
    if "stale info" in inner:
        return (
            "diverged: the remote changed since it was listed (lease failed); nothing overwritten"
        )
    if summary.startswith("[remote rejected]"):
        return f"remote refused: {inner}"
    return inner or "rejected"
