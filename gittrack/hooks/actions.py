"""What gittrack's git hooks do; ``python -m gittrack.hooks NAME ARGS`` runs one.

- ``pre-commit``: write the environment snapshot to the tracked lock file
  (git config ``gittrack.env-lock-path``, default
  ``.gittrack/environment.lock.yaml``) and stage it when it changed.
- ``post-commit``: note the new commit in the run that made it
  (``GITTRACK_RUN_ID`` in the environment of ``git commit``).
- ``pre-push``: when git config ``gittrack.push-runs-with-branches`` is true,
  push the run refs to the same remote as the branches.

Nothing happens while git replays commits (rebase, cherry-pick, revert), so a
rebase on a detached HEAD goes through untouched. ``git commit --no-verify``
skips ``pre-commit`` (git's own rule). These hooks never block git: the
wrappers report a failure and let git go on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from gittrack.errors import HookError
from gittrack.hooks._git import config, config_bool, git, git_text, replaying, toplevel
from gittrack.layout import ENVIRONMENT_LOCK_FILE, NAMESPACE

DEFAULT_LOCK_PATH = ENVIRONMENT_LOCK_FILE
_ZERO = "0" * 40
_OFF = {"", "false", "no", "off", "none", "0"}


def say(message: str) -> None:
    print(f"gittrack: {message}", file=sys.stderr)


def lock_path(top: Path) -> str | None:
    """The lock file's path relative to the working tree, or ``None`` when disabled.

    Raises:
        HookError: when ``gittrack.env-lock-path`` is absolute or leaves the tree.
    """
    raw = config("gittrack.env-lock-path", cwd=top)
    if raw is None:
        return DEFAULT_LOCK_PATH
    if raw.strip().lower() in _OFF:
        return None
    rel = PurePosixPath(raw.strip().replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] == ".git":
        raise HookError(
            f"git config gittrack.env-lock-path={raw!r} must be a path inside the working "
            "tree (relative, no '..', not under .git)"
        )
    return rel.as_posix()


def write_snapshot(top: Path, rel: str, python: str | None = None) -> tuple[bool, bool]:
    """Write the environment snapshot to ``top/rel`` and stage it if the index differs.

    Returns:
        ``(written, staged)``: whether the file on disk changed, whether it was staged.

    Raises:
        HookError: when the file cannot be written or staged.
        EnvironmentCaptureError: when ``python`` cannot report its environment.
    """
    from gittrack.env import environment

    snap = environment.capture(str(top), python=python)
    for problem in snap.get("problems", []):
        say(f"warning: {problem}")
    data = environment.to_yaml(snap)
    full = top / rel
    written = False
    try:
        current = full.read_bytes() if full.is_file() else None
        if current != data:
            full.parent.mkdir(parents=True, exist_ok=True)
            tmp = full.with_name(f".{full.name}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, full)
            written = True
    except OSError as exc:
        raise HookError(f"Cannot write {full}: {exc.strerror or exc}") from exc
    staged_line = git_text("ls-files", "-s", "--", rel, cwd=top)
    staged_oid = staged_line.split()[1] if staged_line else None
    staged = False
    if staged_oid != _blob_id(data):
        # -f: the path was configured on purpose, even if a .gitignore covers .gittrack/
        git("add", "-f", "--", rel, cwd=top)
        staged = True
    return written, staged


def _blob_id(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def partial_commit() -> bool:
    """True inside ``git commit PATHS`` (``--only``): git commits from a temporary
    index then, and a file staged there would be missing from the real index."""
    index = os.environ.get("GIT_INDEX_FILE", "")
    return os.path.basename(index).startswith("next-index")


def pre_commit(cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``pre-commit`` hook. Returns the exit status (0)."""
    top = toplevel(cwd)
    if top is None or replaying(top):
        return 0
    rel = lock_path(top)
    if rel is None:
        return 0
    if partial_commit():
        say(f"partial commit (git commit PATHS): {rel} is left for the next full commit")
        return 0
    python = config("gittrack.env-python", cwd=top) or None
    _, staged = write_snapshot(top, rel, python=python)
    if staged:
        say(f"environment changed: staged {rel}")
    return 0


def post_commit(cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``post-commit`` hook: note the new commit in the live run that made it.

    See :mod:`gittrack.hooks.runnotes` for how the run is found and the note kept.
    """
    from gittrack.hooks import runnotes

    top = toplevel(cwd)
    if replaying(top or cwd):
        return 0
    env_run = (os.environ.get("GITTRACK_RUN_ID") or os.environ.get("MLFLOW_RUN_ID") or "").strip()
    run_ids = [env_run] if env_run else runnotes.live_ancestor_runs(top or cwd)
    if not run_ids:
        return 0
    common = Path(git_text("rev-parse", "--git-common-dir", cwd=top or cwd))
    if not common.is_absolute():
        common = Path(top or cwd or os.getcwd()) / common
    commit = git_text("rev-parse", "HEAD", cwd=top or cwd)
    branch = git_text("rev-parse", "--abbrev-ref", "HEAD", cwd=top or cwd)
    now = int(time.time() * 1000)
    for run_id in run_ids:
        runnotes.note_commit(
            common / "gittrack", run_id, commit, "" if branch == "HEAD" else branch, now
        )
    return 0


def pre_push(args: list[str], lines: list[str], cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``pre-push`` hook: push ``refs/gittrack/*`` with the branches when enabled.

    ``args`` are git's (remote name, url); ``lines`` are git's standard input
    (``<local ref> <local sha> <remote ref> <remote sha>``). A failed run push is
    reported and does not stop the branch push.
    """
    if os.environ.get("GITTRACK_PUSHING_RUNS"):
        return 0  # the push below runs this hook again
    if not config_bool("gittrack.push-runs-with-branches", cwd=cwd):
        return 0
    branch_pushed = False
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("refs/heads/") and parts[1] != _ZERO:
            branch_pushed = True
    if not branch_pushed:
        return 0
    remote = (args[0] if args else "") or (args[1] if len(args) > 1 else "")
    if not remote:
        return 0
    if not git_text("for-each-ref", "--count=1", NAMESPACE, cwd=cwd):
        return 0
    env = {**os.environ, "GITTRACK_PUSHING_RUNS": "1"}
    cmd = [sys.executable, "-m", "gittrack", "push", remote]
    say(f"pushing runs to {remote}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        say(
            f"pushing runs to {remote} failed (exit {proc.returncode}); the branches are "
            "pushed anyway. Push the runs later with `gittrack push`."
        )
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``python -m gittrack.hooks NAME ARGS``; errors are printed, exit 1."""
    if not argv:
        say("usage: python -m gittrack.hooks pre-commit|post-commit|pre-push [ARGS]")
        return 2
    name, args = argv[0], argv[1:]
    from gittrack.errors import GittrackError

    try:
        if name == "pre-commit":
            return pre_commit()
        if name == "post-commit":
            return post_commit()
        if name == "pre-push":
            return pre_push(args, sys.stdin.read().splitlines())
    except GittrackError as exc:
        say(str(exc))
        return 1
    say(f"unknown hook {name!r}")
    return 2
