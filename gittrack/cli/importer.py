"""``gittrack import mlflow SOURCE``: bring an MLflow store's history into the repository."""

from __future__ import annotations

import click

from gittrack.cli._common import handle_errors, repo_option
from gittrack.importer.pipeline import BATCH


@click.group("import")
@handle_errors
def import_cmd() -> None:
    """Import runs from another tracker."""


@import_cmd.command("mlflow")
@click.argument("source")
@click.option("--experiment", "experiments", multiple=True, help="Only this experiment (repeat).")
@click.option("--since", help="Only runs started on or after this date (YYYY-MM-DD, UTC).")
@click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
@click.option("--verify", is_flag=True, help="Compare the source with the repository instead.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=BATCH,
    show_default=True,
    help="Runs per batch: written as one pack, then the mapping is committed; an "
    "interrupted import resumes at the batch it stopped in.",
)
@repo_option
@handle_errors
def mlflow_cmd(
    source: str,
    experiments: tuple[str, ...],
    since: str | None,
    dry_run: bool,
    verify: bool,
    quiet: bool,
    batch_size: int,
    repo: str | None,
) -> None:
    """Import every experiment and run of the MLflow store SOURCE.

    SOURCE is a tracking URI: sqlite:///mlflow.db, postgresql://..., mysql://...,
    a mlruns folder (or file:// URI), or http(s)://host:port of an `mlflow server`.
    Re-running imports only what is new or changed. See docs/import.md.
    """
    from gittrack.core.repo import Repo
    from gittrack.importer import import_mlflow, verify_mlflow

    target = Repo(repo)
    names = list(experiments) or None
    if verify:
        diffs = verify_mlflow(target, source, experiments=names, since=since)
        for line in diffs:
            click.echo(line)
        if diffs:
            raise click.ClickException(f"{len(diffs)} difference(s) with {source}")
        click.echo(f"No difference with {source}")
        return
    report = import_mlflow(
        target,
        source,
        experiments=names,
        since=since,
        dry_run=dry_run,
        quiet=quiet,
        batch_size=batch_size,
    )
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{report.source}: {report.experiments} experiment(s); {verb} {report.new} new and "
        f"{report.changed} changed run(s), {report.unchanged} unchanged"
        + ("" if dry_run else f"; {report.points} metric points, {report.bytes} artifact bytes")
        + f" in {report.seconds:.1f} s"
    )
    for run_id, problems in sorted(report.missing.items()):
        for p in problems:
            click.echo(f"run {run_id}: artifact {p}", err=True)
    for run_id, error in sorted(report.failed.items()):
        click.echo(f"run {run_id}: not imported: {error}", err=True)
    if report.failed:
        raise SystemExit(1)
