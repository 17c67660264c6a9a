"""Which command reruns a run, and in which directory: from its record and snapshot.

Two kinds of runs can be rerun:

- runs started with ``gittrack run -- CMD``: run.yaml holds the command line and the
  working directory (``cwd``, relative to the top of the working tree);
- runs logged by a Python script through the fluent API (or an MLflow client): the
  tag ``mlflow.source.name`` names the script; when that script is a file of the
  run's snapshot, the rerun is ``python SCRIPT ARGS`` (ARGS from the recorded
  ``sys.argv``).

Anything else (a notebook, ``python -c``, a program outside the repository) has no
command gittrack could run, and is refused.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from gittrack.errors import InvalidParameter, RerunRefused

_PYTHON_RE = re.compile(r"^python(\d+(\.\d+)?)?$")


@dataclass(frozen=True)
class Command:
    """A command line to rerun and the directory (relative to the snapshot's top,
    ``.`` for the top) to run it in; ``origin`` says where it came from."""

    argv: tuple[str, ...]
    cwd: str
    origin: str

    @property
    def python(self) -> str | None:
        """The interpreter the command runs, when it is a Python command."""
        first = self.argv[0]
        if first == sys.executable or _PYTHON_RE.match(os.path.basename(first)):
            return shutil.which(first) or first
        return None


def _blob_in(git: Any, tree: Any, path: str) -> bool:
    import pygit2

    try:
        entry = tree[path]
    except (KeyError, ValueError):
        return False
    return entry.type == pygit2.GIT_OBJECT_BLOB


def _script_in_snapshot(git: Any, tree: Any, name: str) -> str | None:
    """The snapshot path of script ``name`` (as the run saw it, maybe absolute on
    another machine): the longest tail of its path that is a file of the snapshot."""
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    for i in range(len(parts)):
        if ".." in parts[i:]:
            continue
        cand = "/".join(parts[i:])
        if _blob_in(git, tree, cand):
            return cand
    return None


def plan(run: Any, git: Any, tree_id: Any) -> Command:
    """The command that reruns ``run``, whose source snapshot is tree ``tree_id``.

    Raises:
        RerunRefused: the run recorded no command gittrack can run (notebook,
            interactive session, a program that is not in the snapshot).
    """
    rec = run.record
    run8 = run.info.run_id[:8]
    command = str(rec.get("command") or "")
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    source_name = str(rec.get("source_name") or "")
    tree = git[tree_id]
    if words and rec.get("cwd") is not None:  # `gittrack run -- CMD`
        return Command(tuple(words), str(rec["cwd"]), "the recorded command")
    script_name = run.data.tags.get("mlflow.source.name") or source_name
    script = _script_in_snapshot(git, tree, script_name) if script_name else None
    if script is None and words and source_name == words[0] and not os.path.isabs(source_name):
        # `gittrack run -- CMD` before run.yaml had `cwd` (a script's own run records
        # its path made absolute)
        return Command(tuple(words), ".", "the recorded command")
    if script is not None and script.endswith(".py"):
        cwd, args, first = ".", [], script
        if words and os.path.basename(words[0]) == os.path.basename(script):
            args = words[1:]
            typed = PurePosixPath(words[0].replace("\\", "/"))
            if not typed.is_absolute() and ".." not in typed.parts:
                tail = str(typed)
                if script == tail or script.endswith("/" + tail):
                    cwd = script[: len(script) - len(tail)].rstrip("/") or "."
                    first = tail
        return Command((sys.executable, first, *args), cwd, f"script {script} (mlflow.source.name)")
    if rec.get("source_type") == "NOTEBOOK" or script_name == "<notebook>":
        why = "it was logged from a notebook"
    elif script_name in ("<interactive>", "") or (words and words[0] in ("-c", "-")):
        why = "it was logged from an interactive session or `python -c`"
    else:
        why = (
            f"it was logged by {script_name!r}, which is not a script in the run's snapshot "
            "(an embedding program)"
        )
    raise RerunRefused(
        f"Run {run8} has no recorded command to rerun: {why}. gittrack rerun needs a run "
        "started with `gittrack run -- CMD`, or logged by a Python script of the repository "
        "(named by the mlflow.source.name tag)."
    )


def apply_overrides(
    cmd: Command, run_id: str, params: dict[str, str], overrides: dict[str, Any]
) -> Command:
    """``cmd`` with the arguments that set each overridden param given its new value:
    ``--KEY VALUE``, ``--KEY=VALUE`` or ``KEY=VALUE`` (``_`` and ``-`` in KEY alike).

    Raises:
        InvalidParameter: a key the run never had, or one the command has no
            argument for (gittrack cannot pass it a new value).
    """
    argv = list(cmd.argv)
    for key, value in overrides.items():
        if key not in params:
            had = ", ".join(sorted(params)) or "none"
            raise InvalidParameter(
                f"--set {key}: run {run_id[:8]} never had a param {key!r} (its params: {had})"
            )
        names = {key, key.replace("_", "-"), key.replace("-", "_")}
        text = str(value)
        found = False
        for i, arg in enumerate(argv):
            for name in names:
                if arg == f"--{name}" and i + 1 < len(argv):
                    argv[i + 1] = text
                    found = True
                elif arg.startswith(f"--{name}="):
                    argv[i] = f"--{name}={text}"
                    found = True
                elif arg.startswith(f"{name}=") or arg.startswith(f"+{name}="):
                    argv[i] = arg.split("=", 1)[0] + "=" + text
                    found = True
        if not found:
            raise InvalidParameter(
                f"--set {key}: the command `{shlex.join(cmd.argv)}` has no argument "
                f"--{key} VALUE, --{key}=VALUE or {key}=VALUE, so gittrack cannot give "
                f"{key!r} a new value"
            )
    return replace(cmd, argv=tuple(argv))


def locate(cmd: Command, top: Path) -> None:
    """Check that the program of ``cmd`` exists here, run from ``top``/``cmd.cwd``.

    Raises:
        RerunRefused: the program is neither on PATH nor a file of the snapshot.
    """
    first = cmd.argv[0]
    where = top / cmd.cwd
    if os.sep in first or (os.altsep and os.altsep in first):
        path = Path(first) if os.path.isabs(first) else where / first
        if path.is_file():
            return
        raise RerunRefused(
            f"The recorded command {first!r} does not exist on this machine "
            f"(looked for {path}); command: `{shlex.join(cmd.argv)}`"
        )
    if shutil.which(first) is None:
        raise RerunRefused(
            f"The recorded command {first!r} is not found on this machine (not on PATH); "
            f"command: `{shlex.join(cmd.argv)}`"
        )
