"""Run commands: log, show, diff, run, checkout, delete, restore."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from gittrack.cli._common import (
    client,
    experiment_id,
    fmt_duration,
    fmt_time,
    handle_errors,
    output_options,
    quiet_index_log,
    render,
    repo_option,
    report_broken,
)
from gittrack.core.entities import RunStatus

LOG_COLUMNS = ["run", "name", "status", "start", "duration", "source", "branch", "metrics"]
LOG_DEFAULT_LIMIT = 50  # table output shows this many runs unless -n says otherwise


def _status_option(value: str | None) -> str | None:
    """``--status`` upper-cased, or a usage error naming the bad value and the good ones."""
    if value is None or value.upper() in RunStatus.SHOWN:
        return None if value is None else value.upper()
    raise click.BadParameter(
        f"{value!r} is not a run status; use one of {', '.join(RunStatus.SHOWN)}"
    )


def log_row(run: Any, max_metrics: int = 3) -> dict[str, Any]:
    src = run.record.get("source") or {}
    commit = src.get("commit")
    source = (commit[:8] if commit else "-") + ("*" if src.get("dirty") else "")
    metrics = " ".join(
        f"{k}={v:.4g}" for k, v in list(sorted(run.data.metrics.items()))[:max_metrics]
    )
    return {
        "run": run.info.run_id[:8],
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "lifecycle_stage": run.info.lifecycle_stage,
        "experiment_id": run.info.experiment_id,
        "start": fmt_time(run.info.start_time),
        "duration": fmt_duration(run.info.start_time, run.info.end_time),
        "source": source,
        "branch": src.get("branch"),
        "metrics": metrics,
    }


@click.command("log")
@click.option(
    "-n",
    "--max-count",
    "limit",
    type=int,
    default=None,
    help=f"Show at most N runs; 0 for all (table output shows {LOG_DEFAULT_LIMIT} by default).",
)
@click.option("--experiment", default=None, help="Only runs of this experiment (name or id).")
@click.option("--branch", default=None, help="Only runs whose source was on this branch.")
@click.option(
    "--status",
    default=None,
    callback=lambda ctx, param, value: _status_option(value),
    help=f"Only runs with this status: {', '.join(RunStatus.SHOWN)} (any case).",
)
@click.option("--all", "show_all", is_flag=True, help="Include deleted runs.")
@output_options
@repo_option
@handle_errors
def log_cmd(
    limit: int | None,
    experiment: str | None,
    branch: str | None,
    status: str | None,
    show_all: bool,
    fmt: str,
    repo: str | None,
) -> None:
    """List runs, newest first, as `git log` lists commits.

    The table shows the newest 50 runs and says how many more there are;
    ``-n N`` shows N, ``-n 0`` all. JSON and CSV list every run unless ``-n`` is given.
    """
    c = client(repo)
    exp_id = None if experiment is None else experiment_id(c, experiment)
    from gittrack.query.search import log_runs  # reads the run index, not every record

    shown = limit
    if shown is None and fmt == "table":
        shown = LOG_DEFAULT_LIMIT
    broken: dict[str, str] = {}
    with quiet_index_log():
        runs = log_runs(c, exp_id, status, branch, show_all, limit, broken)
    report_broken(broken)
    more = len(runs) - shown if shown and len(runs) > shown else 0
    rows = [log_row(run) for run in (runs[:shown] if more else runs)]
    if fmt == "table":
        cols = LOG_COLUMNS
        for row in rows:
            if row["lifecycle_stage"] == "deleted":
                row["status"] = f"{row['status']} (deleted)"
    else:
        cols = ["run_id", "experiment_id", *LOG_COLUMNS[1:3], "lifecycle_stage", *LOG_COLUMNS[3:]]
    if not rows and fmt == "table":
        if status or branch or experiment:
            click.echo("No runs match these filters.")
        else:
            click.echo("No runs yet. Log one with gittrack.start_run() or `gittrack run -- CMD`.")
        return
    click.echo(render(rows, cols, fmt))
    if more:
        click.echo(f"... {more} more run(s) not shown: use -n N to see more, -n 0 for all")


def _experiment_name(c: Any, experiment_id: str) -> str:
    """The experiment's name, or ``-`` when it cannot be read (a record without one)."""
    try:
        return str(c.get_experiment(experiment_id).name)
    except Exception:  # noqa: BLE001 - show prints what it can; the id follows anyway
        return "-"


def run_details(c: Any, run_id: str) -> dict[str, Any]:
    """Everything in a run's record, for ``show`` (and as JSON)."""
    from gittrack.reproduce import RERUN_TAG, reruns_of

    run = c.get_run(run_id)
    rec = c.store.read_record(run.commit, run.info.run_id)
    reruns = [
        {"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status}
        for r in reruns_of(c, run.info.run_id)
    ]
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "lifecycle_stage": run.info.lifecycle_stage,
        "start_time": fmt_time(run.info.start_time),
        "end_time": fmt_time(run.info.end_time),
        "duration": fmt_duration(run.info.start_time, run.info.end_time),
        "user": run.info.user_id,
        "host": run.record.get("host"),
        "command": run.record.get("command"),
        "commit": run.commit,
        "source": run.record.get("source"),
        "parent_run_id": run.record.get("parent_run_id"),
        "rerun_of": run.data.tags.get(RERUN_TAG),
        "reruns": reruns,
        "params": run.data.params,
        "metrics": rec["metrics"],
        "tags": run.data.tags,
        "note": rec["note"],
        "artifacts": rec["artifacts"],
    }


@click.command("show")
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@repo_option
@handle_errors
def show_cmd(run_id: str, fmt: str, repo: str | None) -> None:
    """Show everything recorded for RUN_ID (a unique prefix is enough)."""
    c = client(repo)
    d = run_details(c, run_id)
    if fmt == "json":
        click.echo(json.dumps(d, indent=2, default=str))
        return
    src = d["source"] or {}
    lines = [
        f"run       {d['run_id']}",
        f"name      {d['name']}",
        f"status    {d['status']}" + ("  (deleted)" if d["lifecycle_stage"] == "deleted" else ""),
        f"experiment {_experiment_name(c, d['experiment_id'])} ({d['experiment_id']})",
        f"started   {d['start_time']}   ended {d['end_time'] or '-'}   duration {d['duration'] or '-'}",
        f"user      {d['user']}@{d['host']}",
        f"command   {d['command'] or '-'}",
        f"source    {src.get('commit') or '-'}{' (dirty)' if src.get('dirty') else ''}"
        f"  branch {src.get('branch') or '-'}",
        f"record    {d['commit']}",
    ]
    if src.get("remote_url"):
        lines.append(f"remote    {src['remote_url']}")
    if src.get("skipped_files"):
        lines.append(f"skipped   {', '.join(src['skipped_files'])}")
    if d["parent_run_id"]:
        lines.append(f"parent    {d['parent_run_id']}")
    if d["rerun_of"]:
        lines.append(f"rerun of  {d['rerun_of']}")
    for r in d["reruns"]:
        lines.append(f"rerun     {r['run_id']}  {r['name']}  {r['status']}")
    if d["note"]:
        lines += ["", "Note:", *("  " + ln for ln in d["note"].splitlines())]
    if d["params"]:
        lines += ["", "Params:"] + [f"  {k} = {v}" for k, v in sorted(d["params"].items())]
    if d["metrics"]:
        lines += ["", "Metrics:        value  (step, min, max, count)"]
        for k, m in sorted(d["metrics"].items()):
            lines.append(
                f"  {k} = {m.get('value'):.6g}  (step {m.get('step')}, min {m.get('min'):.6g}, "
                f"max {m.get('max'):.6g}, {m.get('count')} points)"
            )
    if d["tags"]:
        lines += ["", "Tags:"] + [f"  {k} = {v}" for k, v in sorted(d["tags"].items())]
    if d["artifacts"]:
        lines += ["", "Artifacts:"] + [
            f"  {p}  {e.get('size')} bytes  sha256:{str(e.get('sha256'))[:12]}  ({e.get('where')})"
            for p, e in sorted(d["artifacts"].items())
        ]
    from gittrack.env import environment

    env = environment.run_environment(c.repo, d["run_id"])
    if env is not None:
        lines += ["", "Environment:", *("  " + ln for ln in environment.summary(env).splitlines())]
    click.echo("\n".join(lines))


def _side_by_side(a: dict[str, Any], b: dict[str, Any], show_all: bool) -> list[dict[str, Any]]:
    rows = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if show_all or va != vb:
            rows.append({"key": k, "a": va, "b": vb})
    return rows


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--code", is_flag=True, help="Show the source diff between the two runs' snapshots.")
@click.option("--all", "show_all", is_flag=True, help="Show equal values too.")
@repo_option
@handle_errors
def diff_cmd(run_a: str, run_b: str, code: bool, show_all: bool, repo: str | None) -> None:
    """Compare two runs: params, metrics and tags side by side (and code with --code)."""
    from gittrack.core.checkout import code_diff

    c = client(repo)
    a, b = c.get_run(run_a), c.get_run(run_b)
    click.echo(
        f"a: {a.info.run_id[:8]} {a.info.run_name}\nb: {b.info.run_id[:8]} {b.info.run_name}"
    )
    for title, da, db in (
        ("Params", a.data.params, b.data.params),
        ("Metrics", a.data.metrics, b.data.metrics),
        ("Tags", a.data.tags, b.data.tags),
    ):
        rows = _side_by_side(da, db, show_all)
        if rows:
            click.echo(f"\n{title}:")
            click.echo(render(rows, ["key", "a", "b"], "table"))
    from gittrack.env import environment

    env_a = environment.run_environment(c.repo, a.info.run_id)
    env_b = environment.run_environment(c.repo, b.info.run_id)
    if env_a is not None and env_b is not None:
        changes = environment.diff(env_a, env_b)
        if changes:
            click.echo("\nEnvironment:")
            click.echo(environment.format_changes(changes))
    if code:
        click.echo("\nCode:")
        click.echo(code_diff(c, a, b) or "(no differences in source)")


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--name", "run_name", default=None, help="Run name (default: a random one).")
@click.option("--experiment", default=None, help="Experiment name (created when missing).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@repo_option
@handle_errors
def run_cmd(
    run_name: str | None,
    experiment: str | None,
    tags: tuple[str, ...],
    command: tuple[str, ...],
    repo: str | None,
) -> None:
    """Run COMMAND as a run: `gittrack run -- python train.py --lr 0.1`.

    Records the command, its exit status (FINISHED or FAILED), its stdout and
    stderr, and passes GITTRACK_RUN_ID so gittrack calls in the command log
    into the same run.
    """
    from gittrack.api.runner import run_command

    tag_map = {}
    for t in tags:
        if "=" not in t:
            raise click.BadParameter(f"{t!r} is not KEY=VALUE", param_hint="--tag")
        k, v = t.split("=", 1)
        tag_map[k] = v
    code = run_command(
        client(repo), list(command), run_name=run_name, experiment=experiment, tags=tag_map
    )
    sys.exit(code)


@click.command("checkout")
@click.argument("run_id")
@click.option(
    "--path",
    "path",
    default=None,
    type=click.Path(file_okay=False),
    help="Write the code into this (new or empty) directory instead.",
)
@repo_option
@handle_errors
def checkout_cmd(run_id: str, path: str | None, repo: str | None) -> None:
    """Restore the exact code RUN_ID ran: its source commit plus its uncommitted changes."""
    from gittrack.core.checkout import checkout_run

    c = client(repo)
    click.echo(checkout_run(c, run_id, path))


def _lifecycle_cmd(action: str, done: str, doc: str) -> click.Command:
    """``gittrack delete|restore RUN...``: ``Client.<action>_run`` on each run, one line each."""

    @click.command(action, help=doc)
    @click.argument("run_ids", nargs=-1, required=True)
    @repo_option
    @handle_errors
    def cmd(run_ids: tuple[str, ...], repo: str | None) -> None:
        c = client(repo)
        change = getattr(c, f"{action}_run")
        for r in run_ids:
            full = c.store.resolve_run_id(r)
            change(full)
            click.echo(f"{done} {full}")

    return cmd


delete_cmd = _lifecycle_cmd(
    "delete",
    "deleted",
    "Mark runs deleted (their data stays; `gittrack restore` brings them back).",
)
restore_cmd = _lifecycle_cmd(
    "restore", "restored", "Restore deleted runs (an active run is left as it is, as MLflow does)."
)
