"""``gittrack server``: serve a repository over MLflow's REST API and git smart-HTTP."""

from __future__ import annotations

import os
import signal
import sys

import click

from gittrack.cli._common import handle_errors, listen_socket


def _setup_logging() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("gittrack.server.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    errors = logging.getLogger("gittrack.server")
    errors.addHandler(handler)
    errors.setLevel(logging.WARNING)


@click.command("server")
@click.option(
    "--repo",
    "repo_path",
    default=None,
    help="Repository to serve (default: GITTRACK_REPO or the current directory); may be bare.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port (0: any free one).")
@click.option(
    "--artifacts-destination",
    default=None,
    help="Store URL for large artifacts (a folder, s3://bucket/prefix, ...); default: the "
    "repository's configured artifact store.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--auth-token",
    envvar="GITTRACK_SERVER_TOKEN",
    default=None,
    help="Require this token (Bearer, or as basic-auth password) on every request "
    "[env: GITTRACK_SERVER_TOKEN].",
)
@click.option(
    "--max-request-bytes",
    default=None,
    type=int,
    help="Largest JSON request body accepted (default 4 MiB).",
)
@handle_errors
def server_cmd(
    repo_path: str | None,
    host: str,
    port: int,
    artifacts_destination: str | None,
    workers: int,
    auth_token: str | None,
    max_request_bytes: int | None,
) -> None:
    """Serve the repository: MLflow REST API, artifact proxy and git at /git/.

    MLflow clients log into it with MLFLOW_TRACKING_URI=http://HOST:PORT; the
    runs they log are ordinary gittrack runs in the repository, fetched with
    `git clone http://HOST:PORT/git/` or `gittrack pull`.
    """
    import uvicorn

    from gittrack.core.repo import find_repo_path
    from gittrack.server.config import ServerConfig

    gitdir = find_repo_path(repo_path)
    config = ServerConfig(
        repo=gitdir,
        auth_token=auth_token,
        artifacts_destination=artifacts_destination,
        workers=workers,
    )
    if max_request_bytes:
        config.max_json_bytes = max_request_bytes
    os.environ.update(config.to_env())
    if artifacts_destination:
        # the artifact store gittrack.artifacts (and so every reader here) resolves first
        os.environ["GITTRACK_ARTIFACTS"] = artifacts_destination
    if auth_token is None:
        os.environ.pop("GITTRACK_SERVER_TOKEN", None)
    sock = listen_socket(host, port)
    _setup_logging()
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"gittrack server listening on http://{shown}:{bound_port}/ (repository {gitdir})")
    click.echo(f"  MLflow clients: MLFLOW_TRACKING_URI=http://{shown}:{bound_port}")
    click.echo(f"  git:            git clone http://{shown}:{bound_port}/git/")
    sys.stdout.flush()
    uv_config = uvicorn.Config(
        "gittrack.server.app:create_app",
        factory=True,
        workers=workers,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(uv_config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (finishing requests, flushing every
    # run written to), then re-raises the signal to the handler it found: make that a
    # no-op so the command ends normally, with exit status 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    if workers == 1:
        server.run(sockets=[sock])
    else:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(uv_config, sockets=[sock]).run()
    click.echo("gittrack server stopped", err=True)
