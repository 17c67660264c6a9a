"""``gittrack sync URL``: mirror the runs into a SQL database (``gittrack.mirror.sync.sync_to``)."""

from __future__ import annotations

import json
from typing import Any

import click

from gittrack.cli._common import handle_errors, repo_option


@click.command("sync")
@click.argument("url")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Keep syncing every SECONDS until interrupted (Ctrl-C).",
)
@click.option("--json", "as_json", is_flag=True, help="Print each sync's report as JSON.")
@click.option(
    "--no-prune",
    "prune",
    flag_value=False,
    default=True,
    help="Leave runs whose ref is gone from this repository as they are "
    "(for a mirror that several clones sync into).",
)
@repo_option
@handle_errors
def sync_cmd(url: str, watch: float | None, as_json: bool, prune: bool, repo: str | None) -> None:
    """Mirror experiments, runs, params, tags, metrics and artifact manifests into URL.

    URL is a SQLAlchemy database URL, e.g. sqlite:///runs.db,
    postgresql+psycopg://user:password@host/db or mysql+pymysql://user@host/db.
    Only runs whose commit moved since the last sync are copied; the schema
    is described in docs/sql-schema.md.
    """
    from gittrack.mirror.sync import SyncError, SyncReport, sync_to

    def show(report: SyncReport) -> None:
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        if watch is not None and not report.changed and not report.skipped:
            return  # quiet rounds while watching
        if as_json:
            click.echo(json.dumps(report.to_dict()))
        else:
            click.echo(report.summary())
        for run_id, why in report.skipped:
            click.echo(f"warning: skipped {run_id}: {why}", err=True)

    def failed(exc: SyncError) -> None:
        click.echo(f"Error: {exc.message} (retrying in {watch:g} s)", err=True)

    kwargs: dict[str, Any] = {"on_report": show, "prune": prune}
    if watch is not None:
        kwargs["on_error"] = failed
    try:
        sync_to(url, repo, watch, **kwargs)
    except KeyboardInterrupt:
        click.echo("Stopped watching.", err=True)
