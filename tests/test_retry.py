"""The one retry helper: backoff, what is retried, and never a non-idempotent call."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from gittrack.core.retry import Backoff, call_with_retry
from gittrack.errors import GittrackError
from gittrack.rest.http import HttpSession

FAST = Backoff(retries=3, first=0.001, jitter=0.0)


class Flaky:
    """Fails ``failures`` times with ``exc``, then returns how often it was called."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.calls, self.failures, self.exc = 0, failures, exc

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return self.calls


def test_retryable_errors_are_retried_until_success():
    fn = Flaky(2, ConnectionResetError("reset"))
    assert call_with_retry(fn, idempotent=True, retryable=lambda e: True, backoff=FAST) == 3


def test_the_last_error_is_raised_when_retries_run_out():
    fn = Flaky(10, ConnectionResetError("reset"))
    seen: list[int] = []
    with pytest.raises(ConnectionResetError, match="reset"):
        call_with_retry(
            fn,
            idempotent=True,
            retryable=lambda e: True,
            backoff=FAST,
            on_retry=lambda n, e: seen.append(n),
        )
    assert fn.calls == 4 and seen == [1, 2, 3]


def test_a_non_idempotent_call_is_made_exactly_once():
    fn = Flaky(1, ConnectionResetError("lost answer"))
    with pytest.raises(ConnectionResetError):
        call_with_retry(fn, idempotent=False, retryable=lambda e: True, backoff=FAST)
    assert fn.calls == 1


def test_errors_the_caller_does_not_name_are_not_retried():
    fn = Flaky(1, ValueError("bad input"))
    with pytest.raises(ValueError):
        call_with_retry(
            fn, idempotent=True, retryable=lambda e: isinstance(e, OSError), backoff=FAST
        )
    assert fn.calls == 1


def test_a_deadline_bounds_unlimited_retries():
    fn = Flaky(10**9, TimeoutError("busy"))
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_retry(
            fn,
            idempotent=True,
            retryable=lambda e: True,
            backoff=Backoff(retries=None, first=0.01, factor=1.0, jitter=0.0, deadline=0.2),
        )
    assert time.monotonic() - start < 1.0 and fn.calls >= 5


def test_delays_grow_and_are_capped():
    b = Backoff(retries=6, first=1.0, factor=2.0, cap=5.0, jitter=0.0)
    assert list(b.delays()) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@pytest.fixture
def flaky_server():
    """A real HTTP server on loopback answering 503 twice, then 200; counts requests."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            hits.append(self.command)
            status = 503 if len(hits) <= 2 else 200
            body = (
                json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"})
                if status == 503
                else "{}"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    srv.shutdown()
    srv.server_close()


def test_rest_session_retries_only_what_the_caller_says_is_idempotent(flaky_server):
    url, hits = flaky_server
    session = HttpSession(url, max_retries=3, backoff=0.001)
    assert session.request("GET", "/x") == b"{}"
    assert hits == ["GET", "GET", "GET"]
    hits.clear()
    with pytest.raises(GittrackError, match="busy"):
        session.request("POST", "/api/2.0/mlflow/runs/create", json_body={}, retry=False)
    assert hits == ["POST"]  # one request: a lost answer must not create a second run
