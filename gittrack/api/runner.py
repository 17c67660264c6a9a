"""``gittrack run -- CMD``: run a command as a run, capturing its output and exit status."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from typing import Any

from gittrack.core.entities import RunStatus

OUTPUT_LIMIT = 8 * 1024 * 1024  # keep at most the last 8 MiB of each stream
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?w?(\.exe)?$")
_PYTHON_OPTS_WITH_VALUE = frozenset({"-W", "-X", "-Q"})


def command_source_name(command: list[str]) -> str:
    """What ``mlflow.source.name`` is for ``command``, as MLflow records it for a script.

    ``python [options] train.py ...`` → the script's absolute path (when it exists);
    ``python -m pkg.mod`` → ``pkg.mod``; ``python -c CODE`` → ``<interactive>``; any
    other command → its program (absolute when it is a path that exists).

    Example: ``command_source_name(["python", "-u", "train.py"])`` → ``"/repo/train.py"``.
    """

    def path_of(arg: str) -> str:
        return os.path.abspath(arg) if os.path.exists(arg) else arg

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
    from gittrack.cli.runs import child_env, start_pumps
    from gittrack.core.writer import open_run_writer

    exp_id = "0"
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    writer = client._create_writer(exp_id, tags=tags or {}, run_name=run_name)
    writer.set_record(command=shlex.join(command), source_name=command_source_name(command))
    run_id = writer.run_id
    lock = writer.detach()
    try:
        proc = subprocess.Popen(
            command, env=child_env(run_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        w = open_run_writer(client.repo, run_id, resume=True, held_lock=lock)
        w.put_record_file("logs/stderr.txt", f"cannot start {command[0]!r}: {exc}\n".encode())
        w.end(RunStatus.FAILED)
        print(f"gittrack: cannot start {command[0]!r}: {exc}")
        return 127
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
    w.end(status)
    return code if code >= 0 else 128 - code
