"""A lost answer never makes the REST client create a run twice or log a point twice.

A real ``gittrack server`` sits behind a loopback TCP proxy that lets a request through,
waits for the server's answer, and then drops the connection instead of passing the
answer on — what a flaky network or a restarting load balancer does.
"""

from __future__ import annotations

import socket
import threading

import pytest

from gittrack.errors import GittrackError
from gittrack.rest.client import RestClient
from tests.server_helpers import ServerProcess, bare_repo, http


class DroppingProxy:
    """Forwards 127.0.0.1:``port`` to the server; the answer to the first ``drops``
    requests containing ``marker`` is swallowed and the client's connection closed.
    With ``hide_request_ids`` the request-id header is renamed on the way (as a server
    that ignores it would), so only the client's own recovery can prevent a duplicate."""

    def __init__(
        self, upstream: int, marker: bytes, drops: int = 1, hide_request_ids: bool = False
    ) -> None:
        self.upstream, self.marker, self.remaining = upstream, marker, drops
        self.hide = hide_request_ids
        self.dropped = 0
        self.seen = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state = {"drop": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        try:
            while data := client.recv(65536):
                if self.marker in data:
                    with self._lock:
                        self.seen += 1
                        if self.remaining > 0:
                            self.remaining -= 1
                            state["drop"] = True
                if self.hide:
                    data = data.replace(b"X-Gittrack-Request-Id", b"X-Gittrack-Ignored-Id")
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        try:
            while data := server.recv(65536):
                if state["drop"]:  # the server has answered: the client never hears it
                    with self._lock:
                        self.dropped += 1
                    client.shutdown(socket.SHUT_RDWR)
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)

    def close(self) -> None:
        self.sock.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = bare_repo(tmp_path_factory.mktemp("idem"), "served.git")
    with ServerProcess(repo) as srv:
        yield srv


def _runs_named(server, name: str) -> list[dict]:
    status, body = http(
        "POST",
        server.url + "/api/2.0/mlflow/runs/search",
        {"experiment_ids": ["0"], "filter": f"attributes.run_name = '{name}'"},
    )
    assert status == 200, body
    return body.get("runs", [])


@pytest.mark.parametrize("hide", [False, True], ids=["server-dedup", "client-recovers"])
def test_lost_create_run_answer_makes_one_run(server, hide):
    proxy = DroppingProxy(server.port, b"POST /api/2.0/mlflow/runs/create", hide_request_ids=hide)
    client = RestClient(proxy.url)
    try:
        name = f"once-{'client' if hide else 'server'}"
        run = client.create_run("0", run_name=name)
        assert proxy.dropped == 1  # the first answer really was lost
        runs = _runs_named(server, name)
        assert [r["info"]["run_id"] for r in runs] == [run.info.run_id]
        client.set_terminated(run.info.run_id)
    finally:
        client.close()
        proxy.close()


def test_lost_log_batch_answer_logs_each_point_once(server):
    direct = RestClient(server.url)
    run = direct.create_run("0", run_name="points-once")
    proxy = DroppingProxy(server.port, b"POST /api/2.0/mlflow/runs/log-batch", drops=2)
    client = RestClient(proxy.url, flush_interval=0.05)
    try:
        for i in range(300):
            client.log_metric(run.info.run_id, "loss", 1.0 / (i + 1), step=i)
        client.flush(run.info.run_id, timeout=120)
        assert proxy.dropped == 2 and proxy.seen >= 3
        history = direct.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == list(range(300))
        direct.set_terminated(run.info.run_id)
    finally:
        client.close()
        direct.close()
        proxy.close()


def test_a_write_retried_with_the_same_request_id_is_answered_not_applied(server):
    run = RestClient(server.url).create_run("0", run_name="same-id")
    run_id = run.info.run_id
    point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    headers = {"X-Gittrack-Request-Id": "retry-of-one-call"}
    for _ in range(3):
        status, body = http(
            "POST",
            server.url + "/api/2.0/mlflow/runs/log-batch",
            {"run_id": run_id, "metrics": [point]},
            headers=headers,
        )
        assert status == 200, body
    status, body = http(
        "GET", f"{server.url}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=m"
    )
    assert len(body["metrics"]) == 1
    # another id is another call
    http(
        "POST",
        server.url + "/api/2.0/mlflow/runs/log-batch",
        {"run_id": run_id, "metrics": [point]},
        headers={"X-Gittrack-Request-Id": "another-call"},
    )
    _, body = http(
        "GET", f"{server.url}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=m"
    )
    assert len(body["metrics"]) == 2


def test_lost_create_experiment_answer_is_not_an_already_exists_error(server):
    proxy = DroppingProxy(
        server.port, b"POST /api/2.0/mlflow/experiments/create", hide_request_ids=True
    )
    client = RestClient(proxy.url)
    try:
        exp_id = client.create_experiment("made-once")
        assert proxy.dropped == 1
        status, body = http(
            "GET", f"{server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=made-once"
        )
        assert status == 200 and body["experiment"]["experiment_id"] == exp_id
    finally:
        client.close()
        proxy.close()


@pytest.mark.parametrize(
    ("marker", "delete"),
    [
        (
            b"DELETE /api/2.0/mlflow/registered-models/delete",
            lambda c, name: c.delete_registered_model(name),
        ),
        (
            b"DELETE /api/2.0/mlflow/model-versions/delete",
            lambda c, name: c.delete_model_version(name, 1),
        ),
    ],
    ids=["model", "version"],
)
@pytest.mark.parametrize("hide", [False, True], ids=["server-dedup", "client-recovers"])
def test_a_delete_whose_answer_was_lost_succeeds_once(server, marker, delete, hide):
    """MLflow's registry deletes are HTTP DELETEs that fail the second time (the thing is
    gone): the retry of a delete whose answer was lost gets the first answer back, and a
    server that ignores request ids (MLflow's) is asked whether the thing is gone first."""
    name = f"lost-{marker.split(b'/')[-2].decode()}-{hide}"
    direct = RestClient(server.url)
    direct.create_registered_model(name, tags={"team": "a"})
    direct.create_model_version(name, "s3://bucket/model")
    proxy = DroppingProxy(server.port, marker, hide_request_ids=hide)
    client = RestClient(proxy.url)
    try:
        delete(client, name)  # no RESOURCE_DOES_NOT_EXIST from the retry
        assert proxy.dropped == 1  # the first answer really was lost
        with pytest.raises(GittrackError, match="RESOURCE_DOES_NOT_EXIST|not found|Not found"):
            delete(direct, name)  # it was deleted once: deleting again is an error, as MLflow
    finally:
        client.close()
        direct.close()
        proxy.close()
