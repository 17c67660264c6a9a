"""Facts from MLflow's own REST tests (``tests/tracking/test_rest_tracking.py``), checked with
MLflow's real client against a real ``gittrack server``: the inputs and the outcomes MLflow's
server gives, in our own code."""

from __future__ import annotations

import subprocess

import pytest

from tests.server_helpers import ServerProcess, http

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("parity")
    repo = base / "store.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    env = {"HOME": str(base), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(base / "gc")}
    with ServerProcess(repo, env=env) as srv:
        yield srv


@pytest.fixture
def client(server):
    return mlflow.MlflowClient(tracking_uri=server.url)


def test_create_run_with_a_parent_tag_naming_an_unknown_run(client):
    exp = client.create_experiment("parent-unknown")
    run = client.create_run(exp, tags={"mlflow.parentRunId": "7", "my": "tag"}, run_name="child")
    got = client.get_run(run.info.run_id)
    assert got.data.tags["mlflow.parentRunId"] == "7"
    assert got.data.tags["my"] == "tag"
    assert got.info.run_name == "child"


def test_log_batch_metric_without_timestamp_is_refused(server, client):
    exp = client.create_experiment("batch-no-ts")
    run = client.create_run(exp)
    status, body = http(
        "POST",
        f"{server.url}/api/2.0/mlflow/runs/log-batch",
        {"run_id": run.info.run_id, "metrics": [{"key": "m", "value": 1.0, "step": 0}]},
    )
    assert status == 400
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Missing value for required parameter 'metrics[0].timestamp'" in body["message"]
    assert client.get_metric_history(run.info.run_id, "m") == []


def test_delete_tag_on_a_deleted_run_is_refused(client):
    from mlflow.exceptions import MlflowException

    exp = client.create_experiment("delete-tag-deleted")
    run = client.create_run(exp)
    client.set_tag(run.info.run_id, "t", "v")
    client.delete_run(run.info.run_id)
    with pytest.raises(MlflowException) as err:
        client.delete_tag(run.info.run_id, "t")
    assert "deleted" in err.value.message
    client.restore_run(run.info.run_id)
    assert client.get_run(run.info.run_id).data.tags["t"] == "v"


def test_requested_artifact_location_is_kept(client):
    exp = client.create_experiment("with-location", artifact_location="s3://bucket/where")
    assert client.get_experiment(exp).artifact_location == "s3://bucket/where"
    default = client.create_experiment("without-location")
    assert client.get_experiment(default).artifact_location.startswith("mlflow-artifacts:/")
