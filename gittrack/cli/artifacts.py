"""Artifact commands: ``artifacts ls|get|gc|fsck``; ``gc`` and ``fsck`` are top-level too."""

from __future__ import annotations

import sys
from typing import Any

import click

from gittrack.cli._common import client, handle_errors, output_options, render, repo_option


def _size(n: int | None) -> str | None:
    if n is None:
        return None
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return None  # pragma: no cover


@click.group("artifacts")
def artifacts_cmd() -> None:
    """List and download the artifacts of runs; check and clean the store (gc, fsck)."""


@artifacts_cmd.command("ls")
@click.argument("run")
@click.argument("path", required=False, default=None)
@click.option("-r", "--recursive", is_flag=True, help="List every file below PATH, with its hash.")
@output_options
@repo_option
@handle_errors
def ls_cmd(run: str, path: str | None, recursive: bool, fmt: str, repo: str | None) -> None:
    """List the files and folders of RUN's artifacts directly under PATH (the root by default)."""
    from gittrack.artifacts import manifest, read
    from gittrack.artifacts.paths import clean_artifact_path

    c = client(repo)
    rows: list[dict[str, Any]]
    if recursive:
        _, _, entries = read.run_manifest(c.repo, run)
        folder = clean_artifact_path(path)
        chosen = manifest.select(entries, folder) if folder else entries
        if not chosen and fmt == "table":
            click.echo(f"run {run} has no artifacts")
            return
        rows = [
            {
                "path": p,
                "size": e["size"] if fmt != "table" else _size(e["size"]),
                "where": e["where"],
                "sha256": e["sha256"] if fmt != "table" else e["sha256"][:12],
            }
            for p, e in sorted(chosen.items())
        ]
        click.echo(render(rows, ["path", "size", "where", "sha256"], fmt))
        return
    infos = read.list_artifacts(c.repo, run, path)
    if not infos and fmt == "table":
        where = f" under {path!r}" if clean_artifact_path(path) else ""
        click.echo(f"run {run} has no artifacts{where}")
        return
    rows = [
        {
            "path": i.path + ("/" if i.is_dir and fmt == "table" else ""),
            "is_dir": i.is_dir,
            "size": i.file_size if fmt != "table" else _size(i.file_size),
        }
        for i in infos
    ]
    click.echo(
        render(rows, ["path", "size"] if fmt == "table" else ["path", "is_dir", "size"], fmt)
    )


@artifacts_cmd.command("get")
@click.argument("run")
@click.argument("path", required=False, default="")
@click.option(
    "-o",
    "--output",
    "dest",
    default=".",
    show_default=True,
    metavar="DIR",
    help="Folder to download into; the artifact lands at DIR/PATH.",
)
@repo_option
@handle_errors
def get_cmd(run: str, path: str, dest: str, repo: str | None) -> None:
    """Download PATH (a file or folder; everything by default) of RUN's artifacts, verified."""
    from gittrack.artifacts import read

    c = client(repo)
    click.echo(read.download_artifacts(c.repo, run, path, dest))


@click.command("gc")
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--grace",
    type=float,
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Keep unreferenced objects younger than this (a run in another process may be "
    "about to commit them); 0 removes all.",
)
@repo_option
@handle_errors
def gc_cmd(dry_run: bool, grace: float, repo: str | None) -> None:
    """Remove artifact store objects that no run references."""
    from gittrack.artifacts.gc import collect_garbage

    c = client(repo)
    report = collect_garbage(c.repo, dry_run=dry_run, grace_seconds=grace)
    verb = "would remove" if dry_run else "removed"
    if dry_run:
        for sha, size in report.removed:
            click.echo(f"{sha}  {_size(size)}")
    click.echo(
        f"{verb} {len(report.removed)} unreferenced object(s), {_size(report.freed_bytes)}, "
        f"from {report.store_url}; {report.referenced} referenced object(s) kept"
    )
    if report.kept_recent:
        click.echo(
            f"kept {len(report.kept_recent)} unreferenced object(s) younger than {grace:g} s "
            "(use --grace 0 to remove them)"
        )
    if report.cache_removed:
        click.echo(f"{verb} {report.cache_removed} unreferenced object(s) from the local cache")


@click.command("fsck")
@click.option("--quick", is_flag=True, help="Check store objects by presence and size only.")
@repo_option
@handle_errors
def fsck_cmd(quick: bool, repo: str | None) -> None:
    """Check that every artifact of every run resolves and matches its sha256."""
    from gittrack.artifacts.fsck import fsck

    c = client(repo)
    report = fsck(c.repo, verify=not quick)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    click.echo(
        f"checked {report.runs} run(s), {report.artifacts} artifact(s), "
        f"{report.objects} store object(s): "
        + ("ok" if report.ok else f"{len(report.problems)} problem(s)")
    )
    if not report.ok:
        sys.exit(1)


# `gittrack artifacts gc|fsck` are the same commands as `gittrack gc|fsck`.
artifacts_cmd.add_command(gc_cmd)
artifacts_cmd.add_command(fsck_cmd)
