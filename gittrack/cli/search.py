"""``gittrack search``: MLflow's run filter over the index, as a table, JSON or CSV."""

from __future__ import annotations

from typing import Any

import click

from gittrack.cli._common import (
    client,
    fmt_time,
    handle_errors,
    output_options,
    quiet_index_log,
    render,
    repo_option,
    report_broken,
)

BASE_COLUMNS = ["run_id", "run_name", "status", "start_time", "source.branch"]


def _flatten(run: dict[str, Any]) -> dict[str, Any]:
    row = {
        "run_id": run["run_id"],
        "run_name": run["run_name"],
        "experiment_id": run["experiment_id"],
        "status": run["status"],
        "user_id": run["user_id"],
        "artifact_uri": run["artifact_uri"],
        "lifecycle_stage": run["lifecycle_stage"],
        "start_time": fmt_time(run["start_time"]),
        "end_time": fmt_time(run["end_time"]),
        "commit": run["commit"],
        "source.commit": run["source_commit"],
        "source.branch": run["source_branch"],
        "source.dirty": run["source_dirty"],
    }
    if "branches" in run:
        row["source.branches"] = ",".join(run["branches"])
    for kind in ("metrics", "params", "tags"):
        for k, v in run[kind].items():
            row[f"{kind}.{k}"] = v
    return row


@click.command("search")
@click.argument("filter_string", required=False, default="")
@click.option(
    "--order-by", "order_by", multiple=True, metavar="KEY [ASC|DESC]",
    help="Sort key, e.g. 'metrics.acc DESC'; repeat for several (default: newest first).",
)  # fmt: skip
@click.option(
    "--branch", "branches", multiple=True, metavar="NAME",
    help="Only runs whose source commit is reachable from this branch; repeat, or '*' for all.",
)  # fmt: skip
@click.option(
    "--experiment", "experiments", multiple=True, metavar="NAME_OR_ID",
    help="Only runs of this experiment; repeat for several (default: all experiments).",
)  # fmt: skip
@click.option(
    "--columns", default=None, metavar="COL,COL,...",
    help="Columns to show, e.g. run_id,metrics.acc,params.lr "
    "(default: run_id, run_name, status, start_time, source.branch, then all metrics and params).",
)  # fmt: skip
@click.option(
    "--max-results", "max_results", type=int, default=1000, show_default=True,
    help="Show at most this many runs.",
)  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="Include deleted runs.")
@output_options
@repo_option
@handle_errors
def search_cmd(
    filter_string: str,
    order_by: tuple[str, ...],
    branches: tuple[str, ...],
    experiments: tuple[str, ...],
    columns: str | None,
    max_results: int,
    show_all: bool,
    fmt: str,
    repo: str | None,
) -> None:
    """Find runs with MLflow's filter syntax.

    \b
    Examples:
      gittrack search "metrics.acc > 0.9 AND params.lr = '0.01'" --order-by "metrics.acc DESC"
      gittrack search "tags.`mlflow.user` = 'ana'" --branch main --branch feature-x
      gittrack search --columns run_id,metrics.loss,params.lr --format csv
    """
    from gittrack.errors import InvalidParameter
    from gittrack.query.search import search_page

    c = client(repo)
    exp_ids = None
    if experiments:
        exp_ids = []
        for e in experiments:
            exp = c.get_experiment_by_name(e)
            exp_ids.append(
                exp.experiment_id if exp is not None else c.get_experiment(e).experiment_id
            )
    with quiet_index_log():
        page = search_page(
            c.repo,
            exp_ids,
            filter_string,
            "ALL" if show_all else "ACTIVE_ONLY",
            max_results,
            list(order_by) or None,
            None,
            list(branches) or None,
        )
    report_broken(page.broken)
    rows = [_flatten(r) for r in page.runs]
    if columns:
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        known = set(BASE_COLUMNS) | set(rows[0] if rows else ()) | set(_flatten_keys())
        for col in cols:
            if col not in known and not col.startswith(("metrics.", "params.", "tags.")):
                raise InvalidParameter(
                    f"Unknown column {col!r}: use one of {', '.join(sorted(_flatten_keys()))} "
                    "or metrics.<key>, params.<key>, tags.<key>"
                )
    else:
        cols = list(BASE_COLUMNS)
        if branches:
            cols.append("source.branches")
        for kind in ("metrics.", "params."):
            cols += sorted({k for r in rows for k in r if k.startswith(kind)})
    if fmt == "table" and not rows:
        click.echo("No runs match.")
    else:
        click.echo(render(rows, cols, fmt))
    if page.token:
        click.echo(
            f"(more runs match; showing the first {max_results}: raise --max-results)", err=True
        )


def _flatten_keys() -> list[str]:
    return [
        "run_id", "run_name", "experiment_id", "status", "user_id", "artifact_uri",
        "lifecycle_stage", "start_time", "end_time", "commit", "source.commit",
        "source.branch", "source.dirty", "source.branches",
    ]  # fmt: skip
