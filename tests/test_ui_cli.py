"""`gittrack ui` on the command line: what a user sees when it cannot start."""

from __future__ import annotations

import socket

from tests.conftest import run_cli


def test_ui_outside_a_repository(tmp_path):
    r = run_cli("ui", "--no-browser", "--port", "0", cwd=tmp_path)
    assert r.returncode == 1
    assert "Not inside a git repository" in r.stderr
    assert "Traceback" not in r.stderr


def test_ui_port_in_use(repo):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_cli("ui", "--no-browser", "--port", str(port), cwd=repo)
    assert r.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in r.stderr
