"""The methods written once for every face (``api/protocols.RunArgs`` and ``RegistryArgs``):
the local Client and the REST client against a real ``gittrack server`` take the same
arguments and refuse the same bad ones with the same errors, before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from gittrack.api.client import Client
from gittrack.core.entities import Metric
from gittrack.errors import GittrackError, InvalidParameter
from gittrack.rest.client import RestClient
from tests.conftest import git
from tests.server_helpers import serve_new_repo

BAD_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("version and stage", lambda c: c.set_model_version_tag("m", "1", "k", "v", stage="None")),
    ("neither", lambda c: c.delete_model_version_tag("m", key="k")),
    ("unknown stage", lambda c: c.transition_model_version_stage("m", 1, "Prod")),
    ("archive for None", lambda c: c.transition_model_version_stage("m", 1, "None", True)),
    ("no source", lambda c: c.create_model_version("m", "")),
    ("bad tag", lambda c: c.create_registered_model("other", tags={"": "x"})),
]


def _error(call: Callable[[Any], Any], client: Any) -> tuple[str, str] | None:
    try:
        call(client)
    except GittrackError as exc:
        return type(exc).__name__, str(exc)
    return None


@pytest.fixture
def faces(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "GITTRACK_TRACKING_URI", "GITTRACK_REPO"):
        monkeypatch.delenv(var, raising=False)
    local_repo = tmp_path / "local"
    local_repo.mkdir()
    git(local_repo, "init", "-q")
    with serve_new_repo(tmp_path) as srv:
        yield Client(str(local_repo)), RestClient(srv.url)


def test_both_clients_refuse_the_same_registry_arguments(faces):
    local, rest = faces
    for client in (local, rest):
        client.create_registered_model("m")
        client.create_model_version("m", "s3://bucket/m")
    for label, call in BAD_CALLS:
        want = _error(call, local)
        assert want is not None and want[0] == "InvalidParameter", label
        assert _error(call, rest) == want, label


def test_rest_run_methods_take_the_local_signature(faces):
    local, rest = faces
    for client in (local, rest):
        run = client.create_run(run_name="faces", description="note")
        assert run.info.experiment_id == "0" and run.info.run_name == "faces"
        client.log_metric(run.info.run_id, "m", 0.5, step=2, synchronous=True)
        client.set_terminated(run.info.run_id)
        got = client.get_run(run.info.run_id)
        assert got.data.metrics == {"m": 0.5}
        assert got.data.tags["mlflow.note.content"] == "note"
    with pytest.raises(InvalidParameter, match="run_id 'abc' cannot be chosen on a tracking"):
        rest.create_run("0", run_id="abc")
    assert local.create_run("0", run_id="a" * 32).info.run_id == "a" * 32


BAD_POINTS: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("float step", lambda c, r: c.log_batch(r, metrics=[Metric("m", 1.0, 5, 1.5)])),
    ("text step", lambda c, r: c.log_batch(r, metrics=[Metric("m", 1.0, 5, "3")])),
    ("text timestamp", lambda c, r: c.log_batch(r, metrics=[Metric("m", 1.0, "5", 0)])),
    ("negative timestamp", lambda c, r: c.log_batch(r, metrics=[Metric("m", 1.0, -1, 0)])),
    ("bool value", lambda c, r: c.log_batch(r, metrics=[Metric("m", True, 5, 0)])),
    ("bad key", lambda c, r: c.log_batch(r, metrics=[Metric("../m", 1.0, 5, 0)])),
    ("float step, one point", lambda c, r: c.log_metric(r, "m", 1.0, step=1.5)),
    ("nan timestamp, one point", lambda c, r: c.log_metric(r, "m", 1.0, timestamp=float("nan"))),
]


def test_both_clients_refuse_the_same_metric_points(faces):
    """A metric point is checked by one builder on every face: the REST client refuses
    what the local Client refuses, with the same message, and logs nothing of it."""
    local, rest = faces
    for label, call in BAD_POINTS:
        runs = {c: c.create_run("0").info.run_id for c in (local, rest)}
        want = _error(partial(_on_run, call, runs), local)
        assert want is not None and want[0] == "InvalidParameter", label
        assert _error(partial(_on_run, call, runs), rest) == want, label
        for client, run_id in runs.items():
            client.set_terminated(run_id)
            assert client.get_run(run_id).data.metrics == {}, label
    # what is accepted is the same point on both faces (step None: 0; timestamp None: now)
    for client in (local, rest):
        run_id = client.create_run("0").info.run_id
        client.log_batch(run_id, metrics=[Metric("m", 2, None, None), Metric("m", 3.0, 7, 4)])
        client.set_terminated(run_id)
        history = client.get_metric_history(run_id, "m")
        assert sorted((p.value, p.step) for p in history) == [(2.0, 0), (3.0, 4)]
        assert max(p.timestamp for p in history) > 1_600_000_000_000  # None: now, in ms


OUT_OF_RANGE: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("step above int64", lambda c, r: c.log_metric(r, "m", 1.0, step=2**63)),
    ("step below int64", lambda c, r: c.log_metric(r, "m", 1.0, step=-(2**63) - 1)),
    ("timestamp above int64", lambda c, r: c.log_metric(r, "m", 1.0, timestamp=2**63)),
    ("batch step above int64", lambda c, r: c.log_batch(r, metrics=[Metric("m", 1.0, 5, 2**70)])),
]


def test_a_known_key_does_not_let_an_out_of_range_point_through(faces):
    """Once a key has been logged, the local writer's fast checks take its points without
    the builder: they must still refuse a step or timestamp outside int64 as every other
    face does (such a point was stored, and the run's history then read as corrupt)."""
    local, rest = faces
    for label, call in OUT_OF_RANGE:
        runs = {c: c.create_run("0").info.run_id for c in (local, rest)}
        for client, run_id in runs.items():
            client.log_metric(run_id, "m", 0.5, step=1)  # the key is known from here on
        want = _error(partial(_on_run, call, runs), local)
        assert want is not None and want[0] == "InvalidParameter", label
        assert "outside the int64 range" in want[1], label
        assert _error(partial(_on_run, call, runs), rest) == want, label
        for client, run_id in runs.items():
            client.set_terminated(run_id)
            history = client.get_metric_history(run_id, "m")
            assert [(p.value, p.step) for p in history] == [(0.5, 1)], label


def _on_run(call: Callable[[Any, str], Any], runs: dict[Any, str], client: Any) -> Any:
    return call(client, runs[client])
