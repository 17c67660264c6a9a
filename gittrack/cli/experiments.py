"""``gittrack experiments``: list, create, rename, delete, restore experiments."""

from __future__ import annotations

import click

from gittrack.cli._common import (
    client,
    fmt_time,
    handle_errors,
    output_options,
    render,
    repo_option,
)


@click.group("experiments", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Include deleted experiments.")
@output_options
@repo_option
@click.pass_context
@handle_errors
def experiments_cmd(ctx: click.Context, show_all: bool, fmt: str, repo: str | None) -> None:
    """List experiments (or manage them with a subcommand)."""
    ctx.obj = repo
    if ctx.invoked_subcommand is not None:
        return
    c = client(repo)
    exps = c.search_experiments("ALL" if show_all else "ACTIVE_ONLY")
    rows = [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "lifecycle_stage": e.lifecycle_stage,
            "created": fmt_time(e.creation_time),
        }
        for e in exps
    ]
    click.echo(render(rows, ["experiment_id", "name", "lifecycle_stage", "created"], fmt))


@experiments_cmd.command("create")
@click.argument("name")
@click.pass_obj
@handle_errors
def create_cmd(repo: str | None, name: str) -> None:
    """Create an experiment and print its id."""
    click.echo(client(repo).create_experiment(name))


@experiments_cmd.command("rename")
@click.argument("experiment_id")
@click.argument("new_name")
@click.pass_obj
@handle_errors
def rename_cmd(repo: str | None, experiment_id: str, new_name: str) -> None:
    """Rename an experiment (its id stays)."""
    client(repo).rename_experiment(experiment_id, new_name)


def _lifecycle_cmd(action: str, doc: str) -> click.Command:
    """``gittrack experiments delete|restore ID``: ``Client.<action>_experiment``."""

    @experiments_cmd.command(action, help=doc)
    @click.argument("experiment_id")
    @click.pass_obj
    @handle_errors
    def cmd(repo: str | None, experiment_id: str) -> None:
        getattr(client(repo), f"{action}_experiment")(experiment_id)

    return cmd


delete_cmd = _lifecycle_cmd("delete", "Mark an experiment deleted.")
restore_cmd = _lifecycle_cmd("restore", "Restore a deleted experiment.")
