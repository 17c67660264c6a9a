"""What every command shares: opening the client, error handling, output formats."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from gittrack.errors import GittrackError


def client(repo: str | None = None) -> Any:
    """A :class:`gittrack.api.client.Client` for ``--repo`` or the working directory."""
    from gittrack.api.client import Client

    return Client(repo)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn gittrack errors into clean ``Error: ...`` messages with exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GittrackError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper


@contextlib.contextmanager
def quiet_index_log() -> Iterator[None]:
    """Leave the reporting of unreadable runs to :func:`report_broken` inside the block
    (the index also logs them, once per commit: what a server's log wants, not a terminal)."""
    import logging

    logger = logging.getLogger("gittrack.query.index")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def report_broken(broken: dict[str, str]) -> None:
    """Tell stderr which runs a listing left out because their record is unreadable."""
    for run_id, why in sorted(broken.items()):
        click.echo(f"warning: run {run_id} skipped, its record is unreadable: {why}", err=True)


repo_option = click.option(
    "--repo",
    "repo",
    default=None,
    metavar="PATH",
    help="Repository to use (default: the one containing the working directory).",
)


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--format table|json|csv`` for listing commands."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(fn)


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows as an aligned table, JSON (a list of objects) or CSV."""
    if fmt == "json":
        return json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(f"{{:<{w}}}" for w in widths).format  # one format call per row
    lines = [line(*(c.upper() for c in columns)).rstrip()]
    lines += [line(*row).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def fmt_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start: int | None, end: int | None) -> str | None:
    if start is None or end is None:
        return None
    s = max(0, (end - start) / 1000)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
