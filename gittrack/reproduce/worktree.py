"""A run's snapshot checked out in a git worktree of its own, removed afterwards.

``git worktree add --detach DIR <source commit>`` (the user's working tree, index
and HEAD are not touched), then the run's uncommitted changes are written over it,
so DIR holds exactly the code the run executed. The worktree is removed when the
``with`` block ends, also on SIGINT/SIGTERM (SIGTERM is turned into
``KeyboardInterrupt`` meanwhile so that cleanup runs).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gittrack.errors import RerunRefused


def _git(repo: Any, *args: str) -> subprocess.CompletedProcess[str]:
    # hooks off: a post-checkout hook of the user's has no business in a rerun
    return subprocess.run(
        ["git", "--git-dir", str(repo.common_dir), "-c", "core.hooksPath=/dev/null", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def check_source(repo: Any, run: Any) -> tuple[str, bool]:
    """The commit the run's code starts from, checked to be in this repository, and
    whether the run recorded a snapshot over it.

    A run logged without a snapshot (through the server, by an MLflow client) is
    rerun from the commit its ``mlflow.source.git.commit`` tag names, as committed.

    Raises:
        RerunRefused: the run recorded no source commit, or the commit is missing
            here (a shallow or partial clone).
    """
    src = (run.record.get("source") or {}).get("commit")
    snapshot = bool(src)
    if not src:
        src = run.data.tags.get("mlflow.source.git.commit")
    run8 = run.info.run_id[:8]
    if not src:
        raise RerunRefused(
            f"Run {run8} recorded no source snapshot and no mlflow.source.git.commit tag "
            "(it was logged without one, e.g. through the server): there is no code to rerun"
        )
    if src not in repo.git:
        raise RerunRefused(
            f"The source commit {src[:12]} of run {run8} is not in this repository "
            "(a shallow clone?): fetch it, e.g. `git fetch --unshallow`, then rerun"
        )
    return src, snapshot


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (as SIGINT does), so
    ``finally`` clauses run; the previous handler is restored after."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def snapshot_worktree(
    repo: Any, run: Any, src: str, tree_id: Any, dest: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """A worktree of commit ``src`` holding run ``run``'s code (tree ``tree_id``);
    yields its path.

    ``dest`` None: a new temporary directory, removed (worktree and all) after the
    block. With ``dest`` (new or empty directory): kept after the block.

    Raises:
        RerunRefused: ``dest`` is not empty, or git cannot add the worktree.
    """
    from gittrack.core.checkout import write_changes

    keep = dest is not None
    remove_stale(repo)
    if dest is None:
        prefix = f"gittrack-rerun-{run.info.run_id[:8]}-{os.getpid()}-"
        holder = Path(tempfile.mkdtemp(prefix=prefix))
        path = holder / "src"
    else:
        holder, path = None, Path(dest).absolute()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RerunRefused(f"--workdir {path} is not empty: give a new or empty directory")
    added = False
    try:
        res = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), src)
        if res.returncode != 0:
            raise RerunRefused(f"git worktree add {path} failed: {res.stderr.strip()}")
        added = True
        write_changes(repo.git, repo.git[src].tree, tree_id, path)
        yield path
    finally:
        if not keep:
            with _signals_deferred():
                if added:
                    _git(repo, "worktree", "remove", "--force", str(path))
                if holder is not None:
                    shutil.rmtree(holder, ignore_errors=True)
                _git(repo, "worktree", "prune")


_TEMP_RE = re.compile(r"^gittrack-rerun-[0-9a-f]{8}-(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def remove_stale(repo: Any) -> list[str]:
    """Remove the temporary worktrees of reruns whose process is gone (killed with
    SIGKILL, which leaves no chance to clean up); return their paths."""
    out = _git(repo, "worktree", "list", "--porcelain").stdout
    removed = []
    for line in out.splitlines():
        if not line.startswith("worktree "):
            continue
        path = Path(line[len("worktree ") :])
        m = _TEMP_RE.match(path.parent.name)
        if m is None or path.name != "src" or _alive(int(m.group(1))):
            continue
        _git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(path.parent, ignore_errors=True)
        removed.append(str(path))
    if removed:
        _git(repo, "worktree", "prune")
    return removed


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (cleanup is not cut short)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, ValueError, OSError):  # no POSIX signal masks here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
