"""Facts about MLflow 3's server beyond its own REST tests (those are ported in
``tests/test_mlflow_ported_rest.py``), checked with MLflow's real client against a real
``gittrack server``: the inputs and the outcomes MLflow's server gives, in our own code.
``GITTRACK_PARITY_TARGET=mlflow`` runs them against a real ``mlflow server`` (tests/parity.py)."""

from __future__ import annotations

import pytest

from tests.parity import serve, unique
from tests.server_helpers import http

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("parity"))


@pytest.fixture
def client(server):
    return mlflow.MlflowClient(tracking_uri=server.url)


def test_create_run_with_a_parent_tag_naming_an_unknown_run(client):
    exp = client.create_experiment(unique("parent-unknown"))
    run = client.create_run(exp, tags={"mlflow.parentRunId": "7", "my": "tag"}, run_name="child")
    got = client.get_run(run.info.run_id)
    assert got.data.tags["mlflow.parentRunId"] == "7"
    assert got.data.tags["my"] == "tag"
    assert got.info.run_name == "child"


def test_log_batch_metric_without_timestamp_is_refused(server, client):
    exp = client.create_experiment(unique("batch-no-ts"))
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

    exp = client.create_experiment(unique("delete-tag-deleted"))
    run = client.create_run(exp)
    client.set_tag(run.info.run_id, "t", "v")
    client.delete_run(run.info.run_id)
    with pytest.raises(MlflowException) as err:
        client.delete_tag(run.info.run_id, "t")
    assert "deleted" in err.value.message
    client.restore_run(run.info.run_id)
    assert client.get_run(run.info.run_id).data.tags["t"] == "v"


def test_requested_artifact_location_is_kept(client):
    exp = client.create_experiment(unique("with-location"), artifact_location="s3://bucket/where")
    assert client.get_experiment(exp).artifact_location == "s3://bucket/where"
    default = client.create_experiment(unique("without-location"))
    assert client.get_experiment(default).artifact_location.startswith("mlflow-artifacts:/")


def _run_with_history(client, exp, steps):
    from mlflow.entities import Metric

    run = client.create_run(exp)
    metrics = [Metric("loss", float(s) / 10, 1000 + s, s) for s in steps]
    client.log_batch(run.info.run_id, metrics=metrics)
    return run.info.run_id


def test_history_bulk_returns_every_point_with_its_run(server, client):
    exp = client.create_experiment(unique("bulk"))
    a = _run_with_history(client, exp, range(5))
    b = _run_with_history(client, exp, range(3))
    url = f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    status, body = http("GET", f"{url}?run_id={a}&run_id={b}&metric_key=loss")
    assert status == 200
    got = [(m["run_id"], m["step"], m["value"]) for m in body["metrics"]]
    expected = sorted([(a, s, s / 10) for s in range(5)] + [(b, s, s / 10) for s in range(3)])
    assert sorted(got) == expected
    status, body = http("GET", f"{url}?metric_key=loss")
    assert status == 400 and "at least one run_id" in body["message"]


def test_history_bulk_interval_samples_steps_and_keeps_the_ends(server, client):
    exp = client.create_experiment(unique("bulk-interval"))
    a = _run_with_history(client, exp, range(0, 1000))
    b = _run_with_history(client, exp, range(500, 700))
    url = f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
    status, body = http("GET", f"{url}?run_ids={a}&run_ids={b}&metric_key=loss&max_results=10")
    assert status == 200
    steps_a = [m["step"] for m in body["metrics"] if m["run_id"] == a]
    steps_b = [m["step"] for m in body["metrics"] if m["run_id"] == b]
    assert steps_a[0] == 0 and steps_a[-1] == 999 and 10 <= len(steps_a) <= 14
    assert 500 in steps_b and 699 in steps_b
    status, body = http(
        "GET", f"{url}?run_ids={a}&metric_key=loss&start_step=100&end_step=200&max_results=5"
    )
    assert status == 200
    steps = [m["step"] for m in body["metrics"]]
    assert steps[0] == 100 and steps[-1] == 200 and all(100 <= s <= 200 for s in steps)
    status, body = http("GET", f"{url}?run_ids={a}&metric_key=loss&start_step=5")
    assert status == 400 and "both must be specified" in body["message"]
    status, body = http("GET", f"{url}?run_ids={a}&metric_key=loss&start_step=9&end_step=2")
    assert status == 400 and "end_step must be greater than start_step" in body["message"]


def test_search_datasets_lists_inputs_of_an_experiments_runs(server, client):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    exp = client.create_experiment(unique("datasets"))
    run = client.create_run(exp)
    ds = Dataset(name="iris", digest="abc123", source_type="local", source="/tmp/iris.csv")
    client.log_inputs(
        run.info.run_id, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training")])]
    )
    status, body = http(
        "POST",
        f"{server.url}/ajax-api/2.0/mlflow/experiments/search-datasets",
        {"experiment_ids": [exp]},
    )
    assert status == 200
    assert body["dataset_summaries"] == [
        {"experiment_id": exp, "name": "iris", "digest": "abc123", "context": "training"}
    ]


def test_writing_to_a_deleted_run_is_an_invalid_parameter(client):
    from mlflow.exceptions import MlflowException

    run_id = client.create_run(client.create_experiment(unique("deleted-write"))).info.run_id
    client.delete_run(run_id)
    for write in (
        lambda: client.log_metric(run_id, "m", 1.0),
        lambda: client.log_param(run_id, "p", "v"),
        lambda: client.set_tag(run_id, "t", "v"),
    ):
        with pytest.raises(MlflowException) as err:
            write()
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        assert f"The run {run_id} must be in the 'active' state" in err.value.message
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_deleting_or_restoring_twice_is_accepted(client):
    run_id = client.create_run(client.create_experiment(unique("twice"))).info.run_id
    client.delete_run(run_id)
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    client.restore_run(run_id)
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_multipart_upload_falls_back_to_one_put(server, client, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1024")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", "1024")
    run_id = client.create_run(client.create_experiment(unique("mpu"))).info.run_id
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40)  # 10 KiB: ten parts, were parts supported
    client.log_artifact(run_id, str(big), "data")
    got = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="data/big.bin",
        dst_path=str(tmp_path / "out"),
        tracking_uri=server.url,
    )
    assert open(got, "rb").read() == big.read_bytes()
    exp = client.get_run(run_id).info.experiment_id
    status, body = http(
        "POST",
        f"{server.url}/api/2.0/mlflow-artifacts/mpu/create/{exp}/{run_id}/artifacts/x.bin",
        {"path": str(big), "num_parts": 2},
    )
    assert status == 501 and body["error_code"] == "NOT_IMPLEMENTED"
    assert body["message"].startswith(
        "Multipart upload is not supported for the current artifact repository"
    )


def test_proxy_lists_and_deletes_a_runs_artifacts(server, client, tmp_path, monkeypatch):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)  # mlflow-artifacts: URIs need it

    run = client.create_run(client.create_experiment(unique("proxy-delete")))
    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    client.log_artifacts(run.info.run_id, str(src), "dir")
    client.log_artifact(run.info.run_id, str(src / "a.txt"))
    repo = get_artifact_repository(client.get_run(run.info.run_id).info.artifact_uri)
    assert sorted(f.path for f in repo.list_artifacts("dir")) == ["dir/a.txt", "dir/b.txt"]
    repo.delete_artifacts("dir/a.txt")
    assert [f.path for f in client.list_artifacts(run.info.run_id, "dir")] == ["dir/b.txt"]
    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["a.txt", "dir"]
