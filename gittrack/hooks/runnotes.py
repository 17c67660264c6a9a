"""Commits made while a run was live, noted by the ``post-commit`` hook.

The hook runs in its own process while the run's writer holds the run, so it
does not write the run itself: it appends ``<commit>\\t<time ms>\\t<branch>`` to
``.git/gittrack/run-commits/<run_id>``, and the run's writer copies the commits
into the tag ``gittrack.commits`` at its next checkpoint
(:func:`commits_tag`).

Which run: ``GITTRACK_RUN_ID`` (or ``MLFLOW_RUN_ID``) when ``git commit`` has
it in its environment (``gittrack run -- CMD`` sets it), else every live run on
this host whose writing process is an ancestor of the hook (a training script
that calls ``git commit`` itself).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

from gittrack.errors import HookError
from gittrack.layout import (
    RUN_FILE,
    locks_dir,
    record_path,
    run_commits_path,
    run_lock_id,
    run_ref,
)

COMMITS_TAG = "gittrack.commits"
TAG_LIMIT = 8000  # MLflow's limit on tag values
_RUN_ID_RE = re.compile(r"^[0-9a-fA-F]{8,64}$")
_tag_cache: dict[Path, tuple[tuple[int, int], str]] = {}


def notes_path(state_dir: str | os.PathLike[str], run_id: str) -> Path:
    """``<state_dir>/run-commits/<run_id>`` (``state_dir`` is ``.git/gittrack``)."""
    return run_commits_path(Path(state_dir), run_id)


def note_commit(
    state_dir: str | os.PathLike[str], run_id: str, commit: str, branch: str, time_ms: int
) -> Path:
    """Append one commit note for ``run_id``; returns the notes file.

    Raises:
        HookError: when ``run_id`` is not a run id or the file cannot be written.
    """
    if not _RUN_ID_RE.match(run_id):
        raise HookError(f"Run id {run_id!r} (from GITTRACK_RUN_ID) is not hexadecimal")
    path = notes_path(state_dir, run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{commit}\t{time_ms}\t{branch}\n")
    except OSError as exc:
        raise HookError(f"Cannot note commit in {path}: {exc.strerror or exc}") from exc
    return path


def read_commits(state_dir: str | os.PathLike[str], run_id: str) -> list[dict]:
    """The commits noted for ``run_id``, oldest first: ``{commit, time, branch}``."""
    try:
        text = notes_path(state_dir, run_id).read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].isdigit():
            branch = parts[2] if len(parts) > 2 else ""
            out.append({"commit": parts[0], "time": int(parts[1]), "branch": branch})
    return out


def commits_tag(state_dir: str | os.PathLike[str], run_id: str) -> str | None:
    """The value of tag ``gittrack.commits`` for ``run_id``: the noted commits,
    space-separated, oldest first (the newest kept when over 8000 characters);
    ``None`` when none were noted. Costs one ``stat`` when nothing changed."""
    path = notes_path(state_dir, run_id)
    try:
        st = path.stat()
    except OSError:
        return None
    sig = (st.st_mtime_ns, st.st_size)
    hit = _tag_cache.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    seen: list[str] = []
    for note in read_commits(state_dir, run_id):
        if note["commit"] not in seen:
            seen.append(note["commit"])
    value = " ".join(seen)
    while len(value) > TAG_LIMIT and seen:
        seen.pop(0)
        value = " ".join(seen)
    _tag_cache[path] = (sig, value)
    return value or None


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(
            ["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True, check=False
        ).stdout.strip()
        return int(out) if out else None
    except (OSError, ValueError):
        return None


def ancestor_pids(limit: int = 64) -> list[int]:
    """This process's parent, grandparent, ... up to init."""
    out: list[int] = []
    pid: int | None = os.getppid()
    while pid and pid > 1 and len(out) < limit and pid not in out:
        out.append(pid)
        pid = _parent_pid(pid)
    return out


def _flock_holders() -> dict[int, set[int]] | None:
    """inode → pids holding a flock on it, from ``/proc/locks``; ``None`` off Linux."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    holders: dict[int, set[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 22327 fe:00:8362119 0 EOF"; blocked waiters have "->"
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts[1:3]:
            continue
        try:
            pid, inode = int(parts[4]), int(parts[5].rsplit(":", 1)[1])
        except (ValueError, IndexError):
            continue
        holders.setdefault(inode, set()).add(pid)
    return holders


def _record_pid(repo: object, run_id: str) -> tuple[str | None, int | None]:
    """(host, pid) from the run's newest commit, or Nones when it has none yet."""
    from gittrack.core.records.formats import load_yaml

    git = repo.git  # type: ignore[attr-defined]
    ref = git.references.get(run_ref(run_id))
    if ref is None:
        return None, None
    try:
        record = load_yaml(git[ref.target].tree[record_path(RUN_FILE)].data)
    except Exception:  # an unreadable record is not ours to judge here
        return None, None
    if not isinstance(record, dict):
        return None, None
    return record.get("host"), record.get("pid")


def ancestor_holds_a_lock() -> bool:
    """False only when ``/proc/locks`` shows that no ancestor of this process holds a
    flock, so no run can be live in one: the post-commit hook's fast exit. True
    (look closer) when it does, or when there is no ``/proc`` to ask."""
    holders = _flock_holders()
    if holders is None:
        return True
    pids = set().union(*holders.values()) if holders else set()
    return bool(pids & set(ancestor_pids()))


def live_ancestor_runs(
    cwd: str | os.PathLike[str] | None = None, state_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Runs being written right now, on this host, by an ancestor of this process.

    The run locks in ``.git/gittrack/locks`` (under ``state_dir`` when given) say which
    runs are live; the holder's pid comes from ``/proc/locks`` (Linux: no repository is
    opened), else from the run record.
    """
    from gittrack.errors import GittrackError

    repo = None
    try:
        if state_dir is None:
            from gittrack.core.repo import Repo

            repo = Repo(cwd)
            state_dir = repo.state_dir
        # run locks only: experiments, import, logged-model and registry locks name no run
        locks = sorted(
            (lock, run_id)
            for lock in locks_dir(Path(state_dir)).glob("*.lock")
            if (run_id := run_lock_id(lock))
        )
    except (GittrackError, OSError):
        return []
    if not locks:
        return []
    ancestors = set(ancestor_pids())
    holders = _flock_holders()
    if holders is not None:
        # read who holds each lock; probing with flock could make a starting writer fail
        found = []
        for lock, run_id in locks:
            try:
                pids = holders.get(lock.stat().st_ino, set())
            except OSError:
                continue
            if pids & ancestors:
                found.append(run_id)
        return found
    from gittrack.core.locks import is_held_elsewhere

    if repo is None:
        from gittrack.core.repo import Repo

        try:
            repo = Repo(cwd)
        except GittrackError:
            return []
    host = socket.gethostname()
    found = []
    for lock, run_id in locks:
        try:
            if not is_held_elsewhere(lock):
                continue
        except OSError:
            continue
        rec_host, pid = _record_pid(repo, run_id)
        if rec_host == host and pid in ancestors:
            found.append(run_id)
    return found
