"""``gittrack env``: the environment snapshot, and what differs between runs."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from gittrack.cli._common import handle_errors, output_options, render, repo_option

DIFF_COLUMNS = ["key", "change", "old", "new"]


def _open_repo(repo: str | None, required: bool) -> Any:
    from gittrack.core.repo import Repo
    from gittrack.errors import NoRepository

    try:
        return Repo(repo)
    except NoRepository:
        if required:
            raise
        return None


def _emit(snapshot: dict, fmt: str) -> None:
    from gittrack.env import environment

    if fmt == "json":
        click.echo(json.dumps(snapshot, indent=2, sort_keys=True))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(environment.to_yaml(snapshot))
        sys.stdout.buffer.flush()


@click.group("env", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")  # fmt: skip
@click.option("--python", default=None, metavar="PYTHON",
              help="Describe this interpreter instead of the one running gittrack.")  # fmt: skip
@repo_option
@click.pass_context
@handle_errors
def env_cmd(ctx: click.Context, fmt: str, python: str | None, repo: str | None) -> None:
    """Print the environment snapshot runs record: Python, platform, package
    versions, lock/requirements file hashes, CUDA and torch/jax versions.

    Without a repository, lock files are left out.
    """
    if ctx.invoked_subcommand is not None:
        return
    from gittrack.env import environment

    r = _open_repo(repo, required=False)
    workdir = str(r.workdir) if r is not None and r.workdir else None
    snap = environment.capture(workdir, python=python)
    for problem in snap.get("problems", []):
        click.echo(f"warning: {problem}", err=True)
    _emit(snap, fmt)


@env_cmd.command("show")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")  # fmt: skip
@repo_option
@handle_errors
def env_show_cmd(run_id: str, fmt: str, repo: str | None) -> None:
    """Print the environment run RUN_ID recorded."""
    from gittrack.env import environment

    snap = environment.run_environment(_open_repo(repo, required=True), run_id)
    if snap is None:
        raise click.ClickException(f"Run {run_id} recorded no environment")
    _emit(snap, fmt)


@env_cmd.command("diff")
@click.argument("run_a")
@click.argument("run_b", required=False)
@click.option("--source", is_flag=True,
              help="Compare RUN_A with the lock file committed in its source commit.")  # fmt: skip
@output_options
@repo_option
@handle_errors
def env_diff_cmd(run_a: str, run_b: str | None, source: bool, fmt: str, repo: str | None) -> None:
    """What differs between the environments of RUN_A and RUN_B.

    Without RUN_B: RUN_A against the current environment. With --source: the
    lock file RUN_A's source commit carries against what RUN_A ran with (what
    the run had beyond its commit shows as added). Run ids may be unique prefixes.
    """
    from gittrack.env import environment

    r = _open_repo(repo, required=True)
    old = environment.run_environment(r, run_a)
    if old is None:
        raise click.ClickException(f"Run {run_a} recorded no environment")
    if source:
        if run_b is not None:
            raise click.UsageError("--source compares one run with its own commit; give one run")
        # old = what the commit says, new = what the run had
        own = environment.source_environment(r, run_a)
        if own is None:
            raise click.ClickException(
                f"The source commit of run {run_a} has no environment lock file "
                "(install the hooks: gittrack hooks install)"
            )
        old, new = own, old
        labels = (f"run {run_a}", "its source commit")
    elif run_b is not None:
        other = environment.run_environment(r, run_b)
        if other is None:
            raise click.ClickException(f"Run {run_b} recorded no environment")
        new = other
        labels = (f"run {run_a}", f"run {run_b}")
    else:
        new = environment.capture(str(r.workdir) if r.workdir else None)
        labels = (f"run {run_a}", "the current environment")
    # problems describe the capture, not the environment: leave them out
    old.pop("problems", None)
    new.pop("problems", None)
    changes = environment.diff(old, new)
    if fmt == "table" and not changes:
        click.echo(f"No differences between {labels[0]} and {labels[1]}.")
        return
    rows = [_row(c) for c in changes]
    click.echo(render(rows, DIFF_COLUMNS, fmt))


def _row(change: Any) -> dict[str, Any]:
    def cell(v: Any) -> Any:
        return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v

    return {"key": change.key, "change": change.kind, "old": cell(change.old),
            "new": cell(change.new)}  # fmt: skip
