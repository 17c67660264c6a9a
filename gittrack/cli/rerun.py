"""``gittrack rerun``: rerun a run from its snapshot and compare (:mod:`gittrack.reproduce`)."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from gittrack.cli._common import handle_errors, render, repo_option

COLUMNS = ["kind", "key", "original", "rerun", "verdict", "detail"]


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        out[key] = value
    return out


def _summary(result: Any) -> list[str]:
    """One line per kind of row that is not shown in full (all same)."""
    lines = []
    for kind in ("param", "artifact"):
        rows = [d for d in result.differences if d.kind == kind]
        if rows and all(d.verdict == "same" for d in rows):
            lines.append(f"{kind}s: {len(rows)} compared, all the same")
    return lines


def render_result(result: Any) -> str:
    """The verdict line and the table ``gittrack rerun`` prints."""
    head = f"rerun {result.run_id[:8]} of {result.original_id[:8]}: {result.verdict.upper()}" + (
        f" (status {result.status}, exit code {result.exit_code})" if result.failed else ""
    )
    lines = [head]
    rows = [
        d.to_dict()
        for d in result.differences
        if d.kind in ("metric", "environment") or d.verdict != "same"
    ]
    if rows:
        lines += ["", render(rows, COLUMNS, "table")]
    lines += _summary(result)
    if result.differences and not any(d.kind == "metric" for d in result.differences):
        lines.append("metrics: neither run logged any")
    if result.differences and not any(d.kind == "environment" for d in result.differences):
        lines.append("environment: no differences")
    lines += [f"note: {n}" for n in result.notes]
    if result.workdir:
        lines.append(
            f"workdir {result.workdir} kept (remove it with `git worktree remove {result.workdir}`)"
        )
    return "\n".join(lines)


@click.command("rerun")
@click.argument("run_id")
@click.option("--env", "env", type=click.Choice(["current", "check"]), default="current",
              show_default=True,
              help="current: run in this environment and report what differs; check: refuse "
              "when packages the run imports have other versions here.")  # fmt: skip
@click.option("--workdir", default=None, type=click.Path(file_okay=False),
              help="Run in this new or empty directory (kept) instead of a temporary one.")  # fmt: skip
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Give param KEY a new value (the command's --KEY/KEY= argument); repeatable.")  # fmt: skip
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-6, show_default=True,
              help="Relative tolerance for metric values and histories.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format of the comparison.")  # fmt: skip
@repo_option
@handle_errors
def rerun_cmd(
    run_id: str,
    env: str,
    workdir: str | None,
    sets: tuple[str, ...],
    tolerance: float,
    fmt: str,
    repo: str | None,
) -> None:
    """Rerun RUN_ID from its snapshot and compare the new run with it.

    The run's code is checked out in a temporary git worktree (your working tree is
    not touched), its recorded command runs there as with `gittrack run`, and the
    new run (tagged gittrack.rerunOf) is compared with the original: params,
    metrics and their histories within --tolerance, artifacts by hash, package
    versions. Exit status: 0 reproduced, 1 differs, the command's own status when
    it failed or was killed.
    """
    from gittrack.reproduce import rerun

    # with --format json, stdout is the JSON alone: the command's output goes to stderr
    echo = contextlib.redirect_stdout(sys.stderr) if fmt == "json" else contextlib.nullcontext()
    with echo:
        result = rerun(
            run_id,
            repo=repo,
            env=env,
            workdir=workdir,
            overrides=_overrides(sets),
            tolerance=tolerance,
        )
    sys.stdout.flush()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(render_result(result))
    if result.failed:
        sys.exit(result.exit_code or 1)
    sys.exit(0 if result.reproduced else 1)
