"""What a process does when it ends: commit every open writer, once, whatever API opened it.

One registry of exit steps, run in order at interpreter exit (``atexit``) and on
SIGTERM. The steps register themselves when the first writer of their kind opens:

* ``fluent`` (order 10): the fluent API ends the runs it started (FINISHED at a normal
  exit, FAILED after an uncaught exception, KILLED on SIGTERM or Ctrl-C);
* ``writers`` (order 20): every :class:`~gittrack.core.writer.RunWriter` still open in
  this process — a run made with ``Client().create_run`` included — commits its buffered
  points and releases its lock (the run stays RUNNING: ``Client`` never ends a run on
  its own, as in MLflow);
* ``rest`` (order 30): REST clients deliver their queued points to the server;
* ``auto-gc`` (order 90): ``git gc --auto`` in the background in each repository a
  writer of this process wrote to (``git config gittrack.auto-gc false`` turns it off).

On SIGTERM the steps run with status KILLED, then the signal's previous handler runs
(or the process dies of SIGTERM as it would have). A step that fails is reported on
stderr and the others still run. Nothing here runs twice in one process, and a forked
child never runs its parent's steps.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"

_steps: dict[str, tuple[int, Callable[[str], None]]] = {}
_gc_dirs: dict[str, bool] = {}  # git common dir -> run `git gc --auto` there at exit
_state = {"atexit": False, "signal": False, "pid": os.getpid(), "done": False}
_previous_sigterm: list[Any] = [None]
_guard = threading.Lock()
_tls = threading.local()


def on_exit(name: str, step: Callable[[str], None], order: int = 50) -> None:
    """Run ``step(status)`` at exit and on SIGTERM (once per ``name``; later calls with the
    same name replace it) and install the handlers if they are not yet."""
    _forget_parent()
    with _guard:
        _steps[name] = (order, step)
    install()


def wrote_to(common_dir: str | os.PathLike[str], auto_gc: bool = True) -> None:
    """Note that this process wrote objects to the repository at ``common_dir``: at exit it
    runs ``git gc --auto`` there (unless ``auto_gc`` is False)."""
    _forget_parent()
    with _guard:
        _gc_dirs[str(common_dir)] = auto_gc
    on_exit("auto-gc", _auto_gc, order=90)


def install() -> None:
    """Install the ``atexit`` hook, and the SIGTERM handler when called on the main thread
    (a later call from the main thread installs it if an earlier one could not)."""
    _forget_parent()
    if not _state["atexit"]:
        _state["atexit"] = True
        atexit.register(_at_exit)
    if _state["signal"] or threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_IGN:  # the parent wants this process to survive SIGTERM
            _state["signal"] = True
            return
        if current is not _on_sigterm:
            _previous_sigterm[0] = current if callable(current) else None
            signal.signal(signal.SIGTERM, _on_sigterm)
        _state["signal"] = True
    except (ValueError, OSError):  # embedded interpreters without signals
        pass


def _forget_parent() -> None:
    """In a forked child: start from an empty registry (the parent's writers are its own)."""
    if _state["pid"] != os.getpid():
        _state.update(pid=os.getpid(), done=False, signal=False)
        with _guard:
            _steps.clear()
            _gc_dirs.clear()


def run_steps(status: str) -> None:
    """Run every registered step now with ``status`` (once per process)."""
    with _guard:
        if _state["done"] or _state["pid"] != os.getpid():
            return
        _state["done"] = True
        steps = sorted(_steps.items(), key=lambda item: item[1][0])
    for name, (_order, step) in steps:
        try:
            step(status)
        except Exception as exc:  # at exit: report, keep running the other steps
            print(f"gittrack: at exit, {name} failed: {exc}", file=sys.stderr)


def exit_status() -> str:
    """FINISHED, or FAILED/KILLED when the interpreter is exiting on an uncaught exception."""
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_type", None)
    if last is None:
        return FINISHED
    if isinstance(last, KeyboardInterrupt) or (
        isinstance(last, type) and issubclass(last, KeyboardInterrupt)
    ):
        return KILLED
    return FAILED


def in_critical_section() -> bool:
    """True while this thread is writing a checkpoint (see :func:`critical`)."""
    return getattr(_tls, "depth", 0) > 0


class critical:  # noqa: N801 - used as a context manager, named like one
    """Marks a checkpoint in progress on this thread: a SIGTERM arriving meanwhile
    unwinds it (``SystemExit``; the checkpoint keeps its points) and the exit steps then
    run from ``atexit``, instead of re-entering the half-written checkpoint."""

    def __enter__(self) -> None:
        _tls.depth = getattr(_tls, "depth", 0) + 1

    def __exit__(self, *exc: Any) -> None:
        _tls.depth -= 1


def _at_exit() -> None:
    run_steps(KILLED if _state.get("sigterm") else exit_status())


def _on_sigterm(signum: int, frame: Any) -> None:
    if in_critical_section():
        _state["sigterm"] = True  # the runs end KILLED at atexit
        sys.exit(128 + signum)  # finish at atexit, with the checkpoint unwound intact
    run_steps(KILLED)
    previous = _previous_sigterm[0]
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _auto_gc(_status: str) -> None:
    """``git gc --auto`` in the background, detached, in each repository written to: the
    loose objects and ref files checkpoints leave get packed once there are many (git
    decides when)."""
    with _guard:
        dirs = [d for d, on in _gc_dirs.items() if on]
    for d in dirs:
        if not Path(d).is_dir():
            continue
        try:
            subprocess.Popen(
                ["git", f"--git-dir={d}", "gc", "--auto", "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return  # no git executable: nothing to tidy with
