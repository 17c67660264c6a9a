"""The methods written once for every face (``api/protocols.RunArgs`` and ``RegistryArgs``):
the local Client and the REST client against a real ``gittrack server`` take the same
arguments and refuse the same bad ones with the same errors, before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gittrack.api.client import Client
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
