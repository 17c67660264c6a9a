"""What every command shares: opening the repository, error handling, output formats.

Exit status of every command (also in ``gittrack --help`` and docs/cli.md):
:data:`EXIT_OK` when it did what was asked, :data:`EXIT_ERROR` when it could
not (the message on stderr says why) or found a problem it reports (a run push
or pull rejected, a damaged artifact in ``fsck``, a rerun that did not
reproduce), :data:`EXIT_USAGE` for a command line click cannot parse. ``gittrack
run`` (and ``rerun``, when the command fails) exits with its command's status.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import socket
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from gittrack.errors import GittrackError

EXIT_OK = 0
EXIT_ERROR = 1  # click.ClickException's exit code
EXIT_USAGE = 2  # click.UsageError's exit code

EXIT_STATUS_HELP = f"""\b
Exit status:
  {EXIT_OK}  success
  {EXIT_ERROR}  an error (the message on stderr says what and how to fix it), a run
     that push/pull/fetch rejected, a problem fsck found, or a rerun whose
     metrics differ from the run's
  {EXIT_USAGE}  a usage error: unknown command or option, missing or bad argument
  `gittrack run` exits with the status of the command it ran (127: it could not
  start), as does `gittrack rerun` when the command fails.
"""


def client(repo: str | None = None) -> Any:
    """A :class:`gittrack.api.client.Client` for ``--repo`` or the working directory.

    Raises:
        NoRepository: ``repo`` (or the working directory) is not in a git repository.
    """
    from gittrack.api.client import Client

    return Client(repo)


def open_repo(repo: str | None = None) -> Any:
    """The :class:`gittrack.core.repo.Repo` for ``--repo`` or the working directory.

    Raises:
        NoRepository: ``repo`` (or the working directory) is not in a git repository.
    """
    from gittrack.core.repo import Repo

    return Repo(repo)


def experiment_id(c: Any, name_or_id: str) -> str:
    """The id of the experiment ``name_or_id`` names (a name first, else an id).

    Raises:
        ExperimentNotFound: no experiment has that name or id.
    """
    from gittrack.errors import ExperimentNotFound

    exp = c.get_experiment_by_name(name_or_id)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(c.get_experiment(name_or_id).experiment_id)
    except ExperimentNotFound:
        raise ExperimentNotFound(f"named or with id {name_or_id!r}") from None


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The one error decorator of every command: a gittrack error becomes
    ``Error: <message>`` on stderr and exit status :data:`EXIT_ERROR`.

    Put it right above the function (below the click decorators).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GittrackError as exc:
            raise click.ClickException(exc.message) from exc

    wrapper.handles_errors = True  # type: ignore[attr-defined]
    return wrapper


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one).

    Made with ``IPPROTO_TCP`` explicitly so that asyncio sets ``TCP_NODELAY`` on
    every accepted connection; uvicorn's own multi-worker socket lacks it and
    each response then waits for the client's delayed ACK (~40 ms). Connections
    made before the server runs wait in the backlog.

    Raises:
        click.ClickException: the address cannot be bound (in use, not local).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise click.ClickException(f"Cannot listen on {host}:{port}: {why}") from exc
    sock.set_inheritable(True)
    return sock


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
