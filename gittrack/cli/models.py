"""``gittrack models``: the model registry — list, show (with alias history from git),
alias, register."""

from __future__ import annotations

import json
from typing import Any

import click

from gittrack.cli._common import (
    client,
    fmt_time,
    handle_errors,
    output_options,
    render,
    repo_option,
)

MODEL_COLUMNS = ["name", "latest_version", "aliases", "updated", "description"]
VERSION_COLUMNS = ["version", "stage", "aliases", "run_id", "source", "created", "description"]
HISTORY_COLUMNS = ["time", "alias", "change", "author", "commit"]


def _aliases_text(aliases: dict[str, str]) -> str:
    return ", ".join(f"{a}=v{v}" for a, v in sorted(aliases.items())) or ""


def _list(repo: str | None, fmt: str, filter_string: str | None) -> None:
    c = client(repo)
    models, token = [], None
    while True:
        page = c.search_registered_models(filter_string, max_results=1000, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            break
    for ref, why in sorted(c.registry.scan()[1].items()):
        click.echo(f"warning: {ref} skipped, its record is unreadable: {why}", err=True)
    if fmt == "json":
        click.echo(json.dumps([m.to_dict() for m in models], indent=2))
        return
    rows = [
        {
            "name": m.name,
            "latest_version": max((int(v.version) for v in m.latest_versions), default=None),
            "aliases": _aliases_text(m.aliases) or None,
            "updated": fmt_time(m.last_updated_timestamp),
            "description": m.description,
        }
        for m in models
    ]
    click.echo(render(rows, MODEL_COLUMNS, fmt))


@click.group("models", invoke_without_command=True)
@click.option("--filter", "filter_string", help="MLflow filter, e.g. \"name LIKE 'fraud%'\".")
@output_options
@repo_option
@click.pass_context
@handle_errors
def models_cmd(ctx: click.Context, filter_string: str | None, fmt: str, repo: str | None) -> None:
    """List registered models (or manage them with a subcommand)."""
    ctx.obj = repo
    if ctx.invoked_subcommand is None:
        _list(repo, fmt, filter_string)


@models_cmd.command("list")
@click.option("--filter", "filter_string", help="MLflow filter, e.g. \"name LIKE 'fraud%'\".")
@output_options
@click.pass_obj
@handle_errors
def list_cmd(repo: str | None, filter_string: str | None, fmt: str) -> None:
    """List registered models: latest version, aliases, last update."""
    _list(repo, fmt, filter_string)


def _change(event: dict[str, Any]) -> str:
    old, new = event["old"], event["new"]
    if old is None:
        return f"set -> v{new}"
    if new is None:
        return f"v{old} -> removed"
    return f"v{old} -> v{new}"


@models_cmd.command("show")
@click.argument("name")
@output_options
@click.pass_obj
@handle_errors
def show_cmd(repo: str | None, name: str, fmt: str) -> None:
    """Show a registered model, its versions and its alias history (from git log)."""
    from gittrack.core.registry import model_entity, version_entity

    c = client(repo)
    state = c.registry.get(name)
    model = model_entity(state)
    versions = [version_entity(state, rec) for rec in reversed(state.live_versions())]
    history = c.registry.alias_history(name)
    if fmt == "json":
        out = {
            "registered_model": model.to_dict(),
            "versions": [v.to_dict() for v in versions],
            "alias_history": history,
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"Registered model: {model.name}")
    if model.description:
        click.echo(f"Description: {model.description}")
    click.echo(f"Created: {fmt_time(model.creation_timestamp)}")
    click.echo(f"Updated: {fmt_time(model.last_updated_timestamp)}")
    if model.tags:
        click.echo("Tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
    click.echo("Aliases: " + (_aliases_text(model.aliases) or "none"))
    click.echo("")
    click.echo("Versions:")
    rows = [
        {
            "version": v.version,
            "stage": v.current_stage,
            "aliases": ", ".join(sorted(v.aliases)) or None,
            "run_id": v.run_id,
            "source": v.source,
            "created": fmt_time(v.creation_timestamp),
            "description": v.description,
        }
        for v in versions
    ]
    click.echo(render(rows, VERSION_COLUMNS, fmt) if rows else "  (none)")
    click.echo("")
    click.echo("Alias history (git log of the model's ref):")
    hist_rows = [
        {
            "time": fmt_time(e["time"]),
            "alias": e["alias"],
            "change": _change(e),
            "author": e["author"],
            "commit": e["commit"][:10],
        }
        for e in reversed(history)
    ]
    click.echo(render(hist_rows, HISTORY_COLUMNS, fmt) if hist_rows else "  (none)")


@models_cmd.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@click.pass_obj
@handle_errors
def alias_cmd(repo: str | None, name: str, alias: str, version: str | None, delete: bool) -> None:
    """Point ALIAS of model NAME at VERSION (one commit), or remove it with --delete."""
    c = client(repo)
    if delete:
        if version is not None:
            raise click.UsageError("give no VERSION with --delete")
        before = c.get_registered_model(name).aliases.get(alias)
        c.delete_registered_model_alias(name, alias)
        click.echo(
            f"{name}@{alias}: removed" + (f" (was v{before})" if before else " (was not set)")
        )
        return
    if version is None:
        raise click.UsageError("missing argument VERSION (or use --delete)")
    before = c.get_registered_model(name).aliases.get(alias)
    c.set_registered_model_alias(name, alias, version)
    now = c.get_model_version_by_alias(name, alias).version
    click.echo(f"{name}@{alias}: v{now}" + (f" (was v{before})" if before else ""))


@models_cmd.command("register")
@click.argument("source")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A version tag.")
@click.option("--description", help="The version's description.")
@output_options
@click.pass_obj
@handle_errors
def register_cmd(
    repo: str | None,
    source: str,
    name: str,
    tags: tuple[str, ...],
    description: str | None,
    fmt: str,
) -> None:
    """Register the model at SOURCE as a new version of NAME (created if needed).

    SOURCE is RUN[/path] (a run id or unique prefix, path default ``model``), or a
    ``runs:/...`` or ``models:/m-...`` URI.
    """
    tag_map = {}
    for item in tags:
        key, eq, value = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--tag")
        tag_map[key] = value
    if ":" not in source:
        run, _, path = source.partition("/")
        source = f"runs:/{run}/{path or 'model'}"
    v = client(repo).register(source, name, tags=tag_map, description=description)
    if fmt == "json":
        click.echo(json.dumps(v.to_dict(), indent=2))
    else:
        click.echo(f"Registered {v.name} version {v.version} from {v.source}")
