"""``gittrack ui``: serve the web UI for the current repository on 127.0.0.1."""

from __future__ import annotations

import click

from gittrack.cli._common import handle_errors, listen_socket


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port on 127.0.0.1 to listen on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the UI has no authentication, keep it on loopback.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False),
    default=None,
    help="Repository to show (default: GITTRACK_REPO or the current directory).",
)
@handle_errors
def ui_cmd(port: int, host: str, no_browser: bool, repo_path: str | None) -> None:
    """Open the web UI (runs table, run pages, comparisons) for this repository."""
    import threading
    import webbrowser

    try:
        import uvicorn

        from gittrack.ui import make_ui_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise click.ClickException(
            f"The UI needs the server extra: pip install 'gittrack[server]' ({exc})"
        ) from exc
    app = make_ui_app(repo_path)
    sock = listen_socket(host, port, backlog=128)  # connections queue before uvicorn runs
    url = f"http://{host}:{sock.getsockname()[1]}/"
    click.echo(f"gittrack UI on {url} (Ctrl+C to stop)")
    if host in ("127.0.0.1", "localhost", "::1"):
        # only answer to loopback names: a web page cannot reach the UI by rebinding a
        # DNS name of its own to 127.0.0.1 (DNS rebinding)
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app = TrustedHostMiddleware(app, allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"])
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if not no_browser:
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    server.run(sockets=[sock])
