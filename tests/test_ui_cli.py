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


def test_ui_answers_only_to_loopback_names(repo):
    """A page on another origin that rebinds its DNS name to 127.0.0.1 gets nothing."""
    import http.client
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "ui", "--port", "0", "--no-browser"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = int(re.search(r":(\d+)/", proc.stdout.readline()).group(1))
        for host, status in [("evil.example", 400), (f"127.0.0.1:{port}", 200)]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/ui/api/runs", headers={"Host": host})
            assert conn.getresponse().status == status
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
