"""The few git calls the hooks need, through the ``git`` executable.

Hooks run inside a git command that may have set ``GIT_DIR``,
``GIT_INDEX_FILE`` (``git commit -o PATHS`` uses a temporary index) or
``GIT_WORK_TREE``; the ``git`` executable honours them, so the hooks use it
rather than opening the repository themselves.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gittrack.errors import HookError


def git(*args: str, cwd: str | os.PathLike[str] | None = None, input: bytes | None = None) -> bytes:
    """Run ``git ARGS``; return its stdout.

    Raises:
        HookError: when git is missing or exits non-zero (with git's message).
    """
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, check=False
        )
    except OSError as exc:
        raise HookError(f"Cannot run git: {exc}") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        raise HookError(f"git {' '.join(args)} failed: {msg}")
    return proc.stdout


def git_text(*args: str, cwd: str | os.PathLike[str] | None = None) -> str:
    return git(*args, cwd=cwd).decode("utf-8", "surrogateescape").strip()


def config(key: str, cwd: str | os.PathLike[str] | None = None) -> str | None:
    """``git config --get KEY`` or ``None`` when unset."""
    proc = subprocess.run(
        ["git", "config", "--get", key], cwd=cwd, capture_output=True, check=False
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def config_prefixed(prefix: str, cwd: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Every git config value whose key starts with ``prefix`` (one ``git`` call; the
    last value wins for a multi-valued key), keys lower-cased as git reports them."""
    import re

    proc = subprocess.run(
        ["git", "config", "-z", "--get-regexp", "^" + re.escape(prefix)],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    out: dict[str, str] = {}
    for item in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        key, _, value = item.partition("\n")
        if key:
            out[key] = value
    return out


def config_bool(key: str, default: bool = False, cwd: str | os.PathLike[str] | None = None) -> bool:
    """A boolean git config value as git reads it (true/yes/on/1).

    Raises:
        HookError: when the value is not a boolean.
    """
    proc = subprocess.run(
        ["git", "config", "--type=bool", "--get", key], cwd=cwd, capture_output=True, check=False
    )
    if proc.returncode == 1:
        return default
    if proc.returncode != 0:
        raise HookError(
            f"git config {key} is not a boolean: {proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    return proc.stdout.strip() == b"true"


def git_path(name: str, cwd: str | os.PathLike[str] | None = None) -> Path:
    """``git rev-parse --git-path NAME`` as an absolute path (honours core.hooksPath)."""
    base = Path(cwd or os.getcwd())
    return (base / git_text("rev-parse", "--git-path", name, cwd=cwd)).resolve()


def toplevel(cwd: str | os.PathLike[str] | None = None) -> Path | None:
    """The working tree's top directory, or ``None`` in a bare repository."""
    out = git_text("rev-parse", "--is-bare-repository", "--show-toplevel", cwd=cwd).splitlines()
    if out and out[0] == "true":
        return None
    return Path(out[1]) if len(out) > 1 else None


def replaying(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """``"rebase"``, ``"cherry-pick"`` or ``"revert"`` while git replays commits, else None."""
    return replaying_in(Path(git_text("rev-parse", "--absolute-git-dir", cwd=cwd)))


def replaying_in(gitdir: Path) -> str | None:
    """:func:`replaying` for a known (absolute) git directory: no git call."""
    for name, what in (
        ("rebase-merge", "rebase"),
        ("rebase-apply", "rebase"),
        ("CHERRY_PICK_HEAD", "cherry-pick"),
        ("REVERT_HEAD", "revert"),
        ("sequencer", "cherry-pick"),
    ):
        if (gitdir / name).exists():
            return what
    return None
