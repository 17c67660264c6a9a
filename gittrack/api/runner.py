"""``gittrack run -- CMD``: run a command as a run, capturing its output and exit status."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from gittrack.core.entities import RunStatus

OUTPUT_LIMIT = 8 * 1024 * 1024  # keep at most the last 8 MiB of each stream
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?w?(\.exe)?$")
_PYTHON_OPTS_WITH_VALUE = frozenset({"-W", "-X", "-Q"})


def command_source_name(command: list[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """What ``mlflow.source.name`` is for ``command``, as MLflow records it for a script.

    ``python [options] train.py ...`` → the script's absolute path (when it exists);
    ``python -m pkg.mod`` → ``pkg.mod``; ``python -c CODE`` → ``<interactive>``; any
    other command → its program (absolute when it is a path that exists). Relative
    paths are taken from ``cwd`` (default: this process's working directory).

    Example: ``command_source_name(["python", "-u", "train.py"])`` → ``"/repo/train.py"``.
    """

    def path_of(arg: str) -> str:
        full = os.path.abspath(os.path.join(cwd, arg) if cwd is not None else arg)
        return full if os.path.exists(full) else arg

    if not command:
        return ""
    if not _PYTHON.match(os.path.basename(command[0])):
        return path_of(command[0])
    args = iter(command[1:])
    for arg in args:
        if arg == "-m":
            return next(args, command[0])
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:]
        if arg == "-c" or arg.startswith("-c"):
            return "<interactive>"
        if arg in _PYTHON_OPTS_WITH_VALUE:
            next(args, None)
            continue
        if arg == "--":
            continue
        if arg.startswith("-") and arg != "-":
            continue
        return path_of(arg)
    return command[0]  # an interactive interpreter


def run_command(
    client: Any,
    command: list[str],
    *,
    run_name: str | None = None,
    experiment: str | None = None,
    tags: dict[str, str] | None = None,
) -> int:
    """Run ``command`` inside a new run; return the command's exit code.

    The child gets ``GITTRACK_RUN_ID`` (and ``MLFLOW_RUN_ID``) so its own gittrack
    calls log into this run; this process lends it the run's lock meanwhile.
    """
    exp_id = "0"
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    return execute(client, command, experiment_id=exp_id, run_name=run_name, tags=tags)[1]


def execute(
    client: Any,
    command: list[str],
    *,
    experiment_id: str = "0",
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    on_exit: Callable[[Any], None] | None = None,
) -> tuple[str, int]:
    """Run ``command`` in directory ``cwd`` (default: this process's) as a new run of
    ``client``'s repository.

    The run records the command, the working directory (relative to the repository's
    top, as ``cwd``), the output and the exit status: FINISHED (exit 0), KILLED (ended
    by SIGINT, SIGTERM or SIGKILL) or FAILED. ``on_exit(writer)`` is called after the
    command ended, before the run is closed.

    Returns:
        ``(run_id, exit code)``; a command killed by signal N gives ``128 + N``, one
        that cannot be started ``127``.
    """
    from gittrack.cli.runs import child_env, start_pumps
    from gittrack.core.writer import open_run_writer

    writer = client._create_writer(experiment_id, tags=tags or {}, run_name=run_name)
    where = os.path.abspath(cwd if cwd is not None else os.getcwd())
    writer.set_record(
        command=shlex.join(command),
        source_name=command_source_name(command, where),
        cwd=_relative_cwd(client, where),
    )
    run_id = writer.run_id
    lock = writer.detach()
    try:
        proc = subprocess.Popen(
            command,
            cwd=where,
            env=child_env(run_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        w = open_run_writer(client.repo, run_id, resume=True, held_lock=lock)
        w.put_record_file("logs/stderr.txt", f"cannot start {command[0]!r}: {exc}\n".encode())
        if on_exit is not None:
            on_exit(w)
        w.end(RunStatus.FAILED)
        print(f"gittrack: cannot start {command[0]!r}: {exc}")
        return run_id, 127
    out, err, pumps = start_pumps(proc, OUTPUT_LIMIT)
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, lambda s, f: proc.send_signal(s))
        except ValueError:  # not the main thread
            pass
    try:
        code = proc.wait()
        for t in pumps:
            t.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    w = open_run_writer(client.repo, run_id, resume=True, held_lock=lock)
    w.put_record_file("logs/stdout.txt", bytes(out[-OUTPUT_LIMIT:]) or None)
    w.put_record_file("logs/stderr.txt", bytes(err[-OUTPUT_LIMIT:]) or None)
    w.set_record(exit_code=code)
    if code == 0:
        status = RunStatus.FINISHED
    elif code < 0 and -code in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        status = RunStatus.KILLED
    else:
        status = RunStatus.FAILED
    if on_exit is not None:
        on_exit(w)
    w.end(status)
    return run_id, (code if code >= 0 else 128 - code)


def _relative_cwd(client: Any, where: str) -> str | None:
    """``where`` relative to the top of the working tree (``.`` for the top), or
    ``None`` when it is outside (or the repository is bare)."""
    top = client.repo.workdir
    if top is None:
        return None
    rel = os.path.relpath(os.path.realpath(where), os.path.realpath(top))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel.replace(os.sep, "/")
