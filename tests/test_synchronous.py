"""MLflow's ``synchronous`` argument on every face: ``True`` returns once the write is
acknowledged (committed in the repository, answered by the server) and errors raise at
the call; ``False`` returns a ``RunOperations`` whose ``wait()`` acknowledges and raises.
The local Client and the REST client against a real ``gittrack server`` answer alike;
MLflow's own client against the same server is the reference."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import gittrack
from gittrack.api.client import Client
from gittrack.api.protocols import RunOperations
from gittrack.core.entities import Metric, Param, RunTag
from gittrack.core.reader import Store
from gittrack.core.repo import Repo
from gittrack.errors import GittrackError
from gittrack.rest.client import RestClient
from tests.conftest import git, init_project
from tests.server_helpers import http, serve_new_repo

FINISHED = r"Cannot log to run [0-9a-f]{32}: it is FINISHED"


@dataclass
class Face:
    name: str
    client: Any
    committed: Callable[[str, str], list[tuple[float, int]]]  # what others read, no flush
    params: Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Any]:
    with serve_new_repo(tmp_path_factory.mktemp("sync")) as srv:
        yield srv


def _rest_face(server: Any) -> Face:
    def committed(run_id: str, key: str) -> list[tuple[float, int]]:
        url = f"{server.url}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={key}"
        status, body = http("GET", url)
        assert status == 200, body
        return sorted((m["value"], m.get("step", 0)) for m in body.get("metrics", []))

    def params(run_id: str) -> dict[str, str]:
        status, body = http("GET", f"{server.url}/api/2.0/mlflow/runs/get?run_id={run_id}")
        assert status == 200, body
        return {p["key"]: p["value"] for p in body["run"]["data"].get("params", [])}

    # nothing is sent in the background during a test: what the server has, a call sent
    return Face("rest", RestClient(server.url, flush_interval=3600), committed, params)


def _local_face(path: Any) -> Face:
    git(path, "config", "gittrack.checkpoint-seconds", "3600")  # no commit but the asked
    store = Store(Repo(str(path)))

    def committed(run_id: str, key: str) -> list[tuple[float, int]]:
        return sorted((m.value, m.step) for m in store.metric_history(run_id, key))

    def params(run_id: str) -> dict[str, str]:
        return dict(store.read_run(run_id).data.params)

    return Face("local", Client(str(path)), committed, params)


@pytest.fixture(params=["local", "rest"])
def face(request, server, tmp_path) -> Iterator[Face]:
    if request.param == "rest":
        f = _rest_face(server)
    else:
        f = _local_face(init_project(tmp_path / "project"))
    yield f
    if request.param == "rest":
        f.client.close()


def _live_run(face: Face) -> str:
    """A run whose writer is open in this process (the local face buffers its writes)."""
    run_id = face.client.create_run("0").info.run_id
    if face.name == "local":
        face.client.writer(run_id)  # open: writes wait for its checkpoint
    return run_id


def test_synchronous_true_is_acknowledged_when_the_call_returns(face):
    run_id = _live_run(face)
    c = face.client
    c.log_metric(run_id, "m", 0.5, step=1)  # the default: buffered / queued
    assert c.log_metric(run_id, "m", 1.5, step=2, synchronous=True) is None
    assert face.committed(run_id, "m") == [(0.5, 1), (1.5, 2)]  # earlier points first
    c.log_batch(run_id, metrics=[Metric("m", 2.5, 7, 3)], synchronous=True)
    assert c.log_param(run_id, "p", 3, synchronous=True) == 3
    c.set_tag(run_id, "t", "x", synchronous=True)
    assert face.committed(run_id, "m") == [(0.5, 1), (1.5, 2), (2.5, 3)]
    assert face.params(run_id) == {"p": "3"}
    c.set_terminated(run_id)


def test_synchronous_true_raises_at_the_call(face, server):
    run_id = face.client.create_run("0").info.run_id
    face.client.set_terminated(run_id)
    calls: list[Callable[[Any], Any]] = [
        lambda c: c.log_metric(run_id, "late", 1.0, synchronous=True),
        lambda c: c.log_param(run_id, "late", 1, synchronous=True),
        lambda c: c.log_batch(run_id, metrics=[Metric("late", 1.0, 5, 0)], synchronous=True),
    ]
    for call in calls:
        with pytest.raises(GittrackError, match=FINISHED):
            call(face.client)
    assert face.committed(run_id, "late") == []
    if face.name == "rest":
        # MLflow's own client against the same server raises the same at the call
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        theirs = MlflowClient(tracking_uri=server.url)
        with pytest.raises(MlflowException, match=FINISHED):
            theirs.log_metric(run_id, "late", 1.0, synchronous=True)


def test_synchronous_false_returns_run_operations_whose_wait_acknowledges(face):
    run_id = _live_run(face)
    c = face.client
    ops = [
        c.log_metric(run_id, "m", 1.0, step=1, synchronous=False),
        c.log_param(run_id, "p", "v", synchronous=False),
        c.set_tag(run_id, "t", "x", synchronous=False),
        c.log_batch(
            run_id,
            metrics=[Metric("m", 2.0, 5, 2)],
            params=[Param("q", "w")],
            tags=[RunTag("u", "y")],
            synchronous=False,
        ),
    ]
    assert all(isinstance(op, RunOperations) for op in ops)
    for op in ops:
        assert op.wait() is None
    assert face.committed(run_id, "m") == [(1.0, 1), (2.0, 2)]
    assert face.params(run_id) == {"p": "v", "q": "w"}
    c.set_terminated(run_id)


def test_synchronous_false_raises_from_wait(face, server):
    run_id = face.client.create_run("0").info.run_id
    face.client.set_terminated(run_id)
    c = face.client
    ops = [
        c.log_metric(run_id, "late", 1.0, synchronous=False),
        c.log_param(run_id, "late", 1, synchronous=False),
        c.set_tag(run_id, "m", "v", synchronous=False),
    ]
    for op in ops[:2]:  # a finished run takes tags, not data (as MLflow's SQL store)
        with pytest.raises(GittrackError, match=FINISHED):
            op.wait()
    ops[2].wait()
    if face.name == "rest":
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        theirs = MlflowClient(tracking_uri=server.url)
        with pytest.raises(MlflowException, match=FINISHED):
            theirs.log_param(run_id, "late", 1, synchronous=False).wait()


def test_the_fluent_api_passes_synchronous_on(face, server, monkeypatch, tmp_path):
    if face.name == "rest":
        monkeypatch.setenv("GITTRACK_TRACKING_URI", server.url)
    else:
        monkeypatch.chdir(face.client.repo.workdir)
    with gittrack.start_run() as run:
        run_id = run.info.run_id
        op = gittrack.log_metric("m", 1.0, step=1, synchronous=False)
        assert isinstance(op, RunOperations)
        op.wait()
        assert gittrack.log_metric("m", 2.0, step=2, synchronous=True) is None
        assert face.committed(run_id, "m") == [(1.0, 1), (2.0, 2)]
        gittrack.log_params({"a": 1, "nested": {"b": 2}}, synchronous=True)
        assert face.params(run_id) == {"a": "1", "nested.b": "2"}
        assert isinstance(gittrack.set_tags({"x": "y"}, synchronous=False), RunOperations)
        assert isinstance(gittrack.log_param("c", 3, synchronous=False), RunOperations)
        gittrack.log_metrics({"n": 1.0}, step=4, synchronous=True)
        assert face.committed(run_id, "n") == [(1.0, 4)]
