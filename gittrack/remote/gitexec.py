"""Running the user's own ``git`` executable for network operations.

Transport goes through ``git`` (not libgit2) so the user's ssh keys, credential
helpers, proxies, ``url.*.insteadOf`` rules and protocol v2 ref-prefix
filtering all apply exactly as for ``git fetch``/``git push``.

On a terminal, git's own progress (objects, bytes, speed) is passed through to
stderr as it happens while the text is also kept for error messages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from gittrack.errors import RepositoryError

ZERO_SHA = "0" * 40


class RemoteError(RepositoryError):
    """A git remote could not be reached, read or written (message says which and why)."""


class UnknownRemote(RemoteError):
    """A remote name that is not configured in the repository."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(
            f"No such remote {name!r} (configured remotes: {listed}). "
            f"Add it with `git remote add {name} URL`, or give a URL."
        )
        self.name = name


@dataclass
class GitResult:
    """What a finished git process returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def git_executable() -> str:
    """The ``git`` on PATH (``GITTRACK_GIT`` overrides). Raises RemoteError when absent."""
    exe = os.environ.get("GITTRACK_GIT") or shutil.which("git")
    if not exe:
        raise RemoteError(
            "The `git` executable was not found on PATH; gittrack uses it to talk to remotes"
        )
    return exe


def git_env() -> dict[str, str]:
    """The environment for git: the user's, without prompts when nobody can answer them."""
    env = dict(os.environ)
    stdin_tty = False
    try:
        stdin_tty = sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):
        pass
    if not stdin_tty:
        # no terminal: a credential prompt would hang forever, so fail instead
        env.setdefault("GIT_TERMINAL_PROMPT", "0")
    return env


def _pump(src: IO[bytes], sink: list[bytes], echo: IO[bytes] | None) -> None:
    while True:
        chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
        if not chunk:
            break
        sink.append(chunk)
        if echo is not None:
            try:
                echo.write(chunk)
                echo.flush()
            except (OSError, ValueError):
                echo = None


def run_git(
    cwd: str | os.PathLike[str],
    args: Sequence[str],
    *,
    input: str | None = None,
    echo_stderr: bool = False,
    on_start: object = None,
) -> GitResult:
    """Run ``git ARGS`` in ``cwd``; return its exit code and output (never raises on exit code).

    With ``echo_stderr`` git's stderr (its progress meter) is copied to ours live.
    ``on_start``, if callable, is called with the :class:`subprocess.Popen` once started.

    Raises:
        RemoteError: when git cannot be started at all.
    """
    argv = [git_executable(), *args]
    try:
        proc = subprocess.Popen(
            argv,
            cwd=os.fspath(cwd),
            env=git_env(),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise RemoteError(f"Cannot run git: {exc}") from exc
    if callable(on_start):
        on_start(proc)
    out: list[bytes] = []
    err: list[bytes] = []
    echo = getattr(sys.stderr, "buffer", None) if echo_stderr else None
    assert proc.stdout is not None and proc.stderr is not None
    t_out = threading.Thread(target=_pump, args=(proc.stdout, out, None), daemon=True)
    t_err = threading.Thread(target=_pump, args=(proc.stderr, err, echo), daemon=True)
    t_out.start()
    t_err.start()
    if input is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(input.encode("utf-8"))
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
    t_out.join()
    t_err.join()
    rc = proc.wait()
    return GitResult(
        args=list(args),
        returncode=rc,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
    )


def git_message(result: GitResult) -> str:
    """git's own explanation of a failure: its ``fatal:``/``error:`` lines, else all of stderr."""
    lines = [ln.strip() for ln in result.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    important = [ln for ln in lines if ln.startswith(("fatal:", "error:", "remote:", "ssh:"))]
    text = "\n".join(important or lines[-5:])
    return text or f"git {' '.join(result.args[:1])} exited with status {result.returncode}"
