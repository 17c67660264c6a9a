"""Rerunning a run from its id and comparing the result: ``gittrack rerun``.

:func:`rerun` checks the run's snapshot out in a worktree of its own
(:mod:`.worktree`), runs the command that made it there the way ``gittrack run``
does (:mod:`.command`), records the result as a new run tagged
``gittrack.rerunOf=<original id>``, and compares the two (:mod:`.compare`). With
``env="check"`` it first refuses when packages the run imports changed
(:mod:`.imports`). See docs/reproduce.md.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.reproduce.compare import DIFFERS, Difference

RERUN_TAG = "gittrack.rerunOf"
DEFAULT_TOLERANCE = 1e-6

__all__ = ["DEFAULT_TOLERANCE", "RERUN_TAG", "Difference", "RerunResult", "rerun", "reruns_of"]


@dataclass
class RerunResult:
    """What :func:`rerun` did and found.

    ``differences`` holds one row per param, metric and artifact of either run
    (verdict ``same`` included) and one per environment entry that changed.
    """

    original_id: str
    run_id: str
    status: str  # the new run's status: FINISHED, FAILED, KILLED
    exit_code: int  # the command's (128 + N when killed by signal N)
    command: list[str]
    cwd: str
    tolerance: float
    overrides: dict[str, str] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    workdir: str | None = None  # the kept --workdir, None when it was temporary
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """The rerun's command did not finish successfully."""
        return self.status != "FINISHED"

    @property
    def reproduced(self) -> bool:
        """The command finished and no param (other than those set on purpose),
        metric (beyond the tolerance) or artifact differs."""
        return not self.failed and not any(d.verdict == DIFFERS for d in self.differences)

    @property
    def metrics_differ(self) -> bool:
        """Some metric differs beyond the tolerance (or is missing in one run)."""
        return any(d.kind == "metric" and d.verdict == DIFFERS for d in self.differences)

    @property
    def verdict(self) -> str:
        """``reproduced``, ``differs``, or ``failed`` (the command failed or was killed)."""
        if self.failed:
            return "failed"
        return "reproduced" if self.reproduced else "differs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_id": self.original_id,
            "run_id": self.run_id,
            "verdict": self.verdict,
            "status": self.status,
            "exit_code": self.exit_code,
            "command": self.command,
            "cwd": self.cwd,
            "tolerance": self.tolerance,
            "overrides": self.overrides,
            "workdir": self.workdir,
            "notes": self.notes,
            "differences": [d.to_dict() for d in self.differences],
        }


def _client(repo: Any) -> Any:
    from gittrack.api.client import Client

    return repo if isinstance(repo, Client) else Client(repo)


def reruns_of(repo: Any, run_id: str) -> list[Any]:
    """The runs tagged as reruns of ``run_id`` (a unique prefix is enough), oldest first.

    Raises:
        RunNotFound, AmbiguousRunId: no run, or several, match ``run_id``.
    """
    from gittrack.core.entities import ViewType

    c = _client(repo)
    full = c.store.resolve_run_id(run_id)
    found = c.search_runs(
        None, f"tags.`{RERUN_TAG}` = '{full}'", run_view_type=ViewType.ALL, max_results=1000
    )
    return sorted(found, key=lambda r: (r.info.start_time, r.info.run_id))


def _typed(value: Any) -> str:
    """A --set value as the param string it becomes (``5e-1`` stays as given)."""
    return value if isinstance(value, str) else str(value)


def rerun(
    run_id: str,
    *,
    repo: Any = None,
    env: str = "current",
    workdir: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> RerunResult:
    """Rerun run ``run_id`` from its snapshot and compare the new run with it.

    The run's code (its source commit plus its uncommitted changes) is checked out
    in a temporary git worktree (or ``workdir``, kept after), the recorded command
    runs there as with ``gittrack run`` (output shown and kept, ``GITTRACK_RUN_ID``
    set), and the new run is tagged ``gittrack.rerunOf=<run_id>``. Params the
    command did not log are copied from the original (``overrides`` replacing
    values; they are also given to the command as ``--KEY VALUE`` / ``KEY=VALUE``
    arguments it already has). Nothing of the original run or of your working tree
    changes.

    Args:
        run_id: the run, or a unique prefix of its id.
        repo: path, :class:`~gittrack.core.repo.Repo` or Client (default: the
            repository of the working directory).
        env: ``current`` runs in this environment and reports what differs;
            ``check`` refuses when packages the run imports have other versions.
        workdir: a new or empty directory to run in, kept afterwards.
        overrides: param key → new value.
        tolerance: relative tolerance for metric values (final and history).

    Returns:
        A :class:`RerunResult` (``.verdict``: reproduced, differs, failed).

    Raises:
        RunNotFound, AmbiguousRunId: ``run_id`` matches no run, or several.
        InvalidParameter: a bad ``env`` or ``tolerance``; an override of a param the
            run never had, or one the command takes no argument for.
        RerunRefused: no recorded command, source commit missing (shallow clone),
            command not found here, ``workdir`` not empty.
        EnvironmentMismatch: with ``env="check"``, imported packages differ.
    """
    from gittrack.api.client import Client
    from gittrack.api.runner import execute
    from gittrack.core.checkout import source_tree
    from gittrack.core.repo import Repo
    from gittrack.errors import GittrackError, InvalidParameter
    from gittrack.reproduce import command as cmdmod
    from gittrack.reproduce import compare
    from gittrack.reproduce.worktree import check_source, snapshot_worktree, terminate_raises

    if env not in ("current", "check"):
        raise InvalidParameter(f"env must be 'current' or 'check', not {env!r}")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise InvalidParameter(f"tolerance must be a number >= 0, not {tolerance!r}")
    c = _client(repo)
    git = c.repo.git
    original_id = c.store.resolve_run_id(run_id)
    original = c.get_run(original_id)
    record = c.store.read_record(original.commit, original_id)
    src, has_snapshot = check_source(c.repo, original)
    tree_id = source_tree(c, original) if has_snapshot else git[src].tree_id
    cmd = cmdmod.plan(original, git, tree_id)
    wanted = {str(k): _typed(v) for k, v in (overrides or {}).items()}
    cmd = cmdmod.apply_overrides(cmd, original_id, original.data.params, wanted)
    if env == "check":
        _check_environment(c, original_id, git, tree_id, cmd)
    exp_id = original.info.experiment_id
    try:
        if c.get_experiment(exp_id).lifecycle_stage == "deleted":
            exp_id = "0"
    except GittrackError:
        exp_id = "0"
    typed_params = record["params"]

    branch = (original.record.get("source") or {}).get("branch")

    def finish(writer: Any) -> None:
        # params the command did not log itself come from the original (or --set)
        for key, value in typed_params.items():
            if key not in writer.params:
                writer.log_param(key, wanted.get(key, value))
        # the worktree's HEAD is detached: the code is the original's, on its branch
        if branch:
            writer.set_record(source={**(writer.record.get("source") or {}), "branch": branch})

    with terminate_raises(), snapshot_worktree(c.repo, original, src, tree_id, workdir) as top:
        cmdmod.locate(cmd, top)
        wt_client = Client(Repo(top))
        print(
            f"gittrack: rerunning {original_id[:8]} ({original.info.run_name}) in {top}: "
            f"{' '.join(cmd.argv)}",
            file=sys.stderr,
            flush=True,
        )
        new_id, code = execute(
            wt_client,
            list(cmd.argv),
            experiment_id=exp_id,
            run_name=f"{original.info.run_name}-rerun",
            tags={RERUN_TAG: original_id},
            cwd=top / cmd.cwd,
            on_exit=finish,
        )
    new = c.get_run(new_id)
    result = RerunResult(
        original_id=original_id,
        run_id=new_id,
        status=new.info.status,
        exit_code=code,
        command=list(cmd.argv),
        cwd=cmd.cwd,
        tolerance=float(tolerance),
        overrides=wanted,
        workdir=str(Path(workdir).absolute()) if workdir is not None else None,
    )
    if not has_snapshot:
        result.notes.append(
            f"the run recorded no snapshot: its commit {src[:12]} (mlflow.source.git.commit) "
            "ran as committed"
        )
    skipped = (original.record.get("source") or {}).get("skipped_files") or []
    if skipped:
        result.notes.append(
            "the original's snapshot left out (too large): " + ", ".join(map(str, skipped))
        )
    if result.failed:
        return result
    new_record = c.store.read_record(new.commit, new_id)
    from gittrack.env import environment

    result.differences = [
        *compare.compare_params(original.data.params, new.data.params, wanted),
        *compare.compare_metrics(c.store, original_id, new_id, float(tolerance)),
        *compare.compare_artifacts(record["artifacts"], new_record["artifacts"]),
        *compare.compare_environments(
            environment.run_environment(c.repo, original_id),
            environment.run_environment(c.repo, new_id),
        ),
    ]
    return result


def _check_environment(c: Any, run_id: str, git: Any, tree_id: Any, cmd: Any) -> None:
    """``env="check"``: refuse when packages the run's code imports changed."""
    from gittrack.env import environment
    from gittrack.errors import RerunRefused
    from gittrack.reproduce import imports

    recorded = environment.run_environment(c.repo, run_id)
    if recorded is None:
        raise RerunRefused(
            f"Run {run_id[:8]} recorded no environment, so --env check has nothing to "
            "compare with; rerun with --env current"
        )
    python = cmd.python or sys.executable
    current = environment.capture(None, python=python)
    needed = imports.imported_distributions(imports.imported_modules(git, tree_id))
    imports.check(run_id, needed, recorded, current, python)
