"""Running the user's own ``git`` executable for network operations.

Transport goes through ``git`` (not libgit2) so the user's ssh keys, credential
helpers, proxies, ``url.*.insteadOf`` rules and protocol v2 ref-prefix
filtering all apply exactly as for ``git fetch``/``git push``.

On a terminal, git's own progress (objects, bytes, speed) is passed through to
stderr as it happens while the text is also kept for error messages.

A git child never outlives the command that started it: SIGTERM or SIGHUP to this
process (while a git runs, in the main thread), Ctrl-C, or any exception ends the git
and everything it started (ssh, pack-objects, remote helpers), then the signal takes its
usual course. Without a terminal, git runs in a session of its own, so its whole process
group is ended at once; on a terminal it stays in the foreground group (so ssh can still
ask for a passphrase and Ctrl-C reaches it) and its descendants are found in ``/proc``.
Only SIGKILL, which no process can catch, leaves a git running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
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


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):
        return False


def git_env() -> dict[str, str]:
    """The environment for git: the user's, without prompts when nobody can answer them."""
    env = dict(os.environ)
    if not _stdin_is_tty():
        # no terminal: a credential prompt would hang forever, so fail instead
        env.setdefault("GIT_TERMINAL_PROMPT", "0")
    return env


class _Signalled(BaseException):
    """SIGTERM/SIGHUP arrived while a git child ran (raised in the main thread)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`_Signalled` in the main thread
    (where a handler can be set), unless they are ignored; the old handlers come back
    after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Signalled(signum)

    previous: dict[int, object] = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None or signal.getsignal(sig) is signal.SIG_IGN:
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid``, children first (Linux ``/proc``; [] elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        fields = _stat(int(name)) if name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    fields = _stat(pid)
    if fields is not None:
        return fields[0] != b"Z"
    if os.path.isdir("/proc/self"):
        return False  # /proc is there, this pid is not
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except OSError:
            return []
        return [pgid]
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None and fields[0] != b"Z" and int(fields[2]) == pgid:
                out.append(int(name))
    return out


def _end(proc: subprocess.Popen[bytes], own_group: bool) -> None:
    """End ``proc`` and everything it started: SIGTERM, then SIGKILL for what is left
    after 5 s."""
    below = [] if own_group else _descendants(proc.pid)

    def send(sig: int) -> None:
        if own_group:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, sig)
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(sig)
        for pid in below:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)

    def alive() -> bool:
        if proc.poll() is None:
            return True
        if own_group:
            return bool(_group_members(proc.pid))
        return any(_running(pid) for pid in below)

    send(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive():
        send(getattr(signal, "SIGKILL", signal.SIGTERM))
    proc.wait()


def _pump(src: IO[bytes], sink: list[bytes], echo: IO[bytes] | None) -> None:
    while True:
        chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)  # type: ignore[attr-defined]
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
    own_group = os.name == "posix" and not _stdin_is_tty()
    proc: subprocess.Popen[bytes] | None = None
    signum = 0
    with _signals_raise():
        try:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=os.fspath(cwd),
                    env=git_env(),
                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=own_group,
                )
            except OSError as exc:
                raise RemoteError(f"Cannot run git: {exc}") from exc
            out, err, rc = _communicate(proc, input, echo_stderr, on_start)
        except _Signalled as exc:
            signum = exc.signum
        except BaseException:
            if proc is not None:
                _end(proc, own_group)
            raise
        if signum and proc is not None:
            _end(proc, own_group)
    if signum:
        signal.raise_signal(signum)  # the handler the caller had: by default, exit
        raise RemoteError(f"git {' '.join(args[:1])} was stopped by signal {signum}")
    return GitResult(
        args=list(args),
        returncode=rc,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
    )


def _communicate(
    proc: subprocess.Popen[bytes], input: str | None, echo_stderr: bool, on_start: object
) -> tuple[list[bytes], list[bytes], int]:
    """Feed ``input``, collect stdout and stderr (echoing stderr if asked), wait."""
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
    return out, err, proc.wait()


def git_message(result: GitResult) -> str:
    """git's own explanation of a failure: its ``fatal:``/``error:`` lines, else all of stderr."""
    lines = [ln.strip() for ln in result.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    important = [ln for ln in lines if ln.startswith(("fatal:", "error:", "remote:", "ssh:"))]
    text = "\n".join(important or lines[-5:])
    return text or f"git {' '.join(result.args[:1])} exited with status {result.returncode}"
