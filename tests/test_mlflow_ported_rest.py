"""MLflow's own REST tests (``tests/tracking/test_rest_tracking.py``), ported as facts.

Each test below carries the inputs and the outcomes of one MLflow test (same name) and
checks them with MLflow's real ``MlflowClient`` (and plain HTTP where MLflow's test does)
against a real ``gittrack server``. ``GITTRACK_PARITY_TARGET=mlflow`` runs the same file
against a real ``mlflow server`` to confirm each fact is MLflow's own (tests/parity.py).

Counts (MLflow's test cases: a test function, or one case of a parametrized one; MLflow
runs each against two stores, counted once):

    ported 48, passing 48, excluded 21 (of 69)

Excluded, with the reason:

* model registry (``create_registered_model``, ``model-versions/*``, ``models:/`` URIs,
  ``registered_model_name=``), built by another engineer now (issue 14), 4:
  test_create_model_version_with_path_source, test_create_model_version_with_non_local_source,
  test_create_model_version_with_file_uri, test_logging_model_with_local_artifact_uri;
  and the ``model-versions/get-artifact`` third of test_path_validation (the other two
  thirds are ported).
* traces (gittrack holds no traces; its MLflow plugin answers MLflow's "not supported"), 6:
  test_start_and_end_trace, test_start_and_end_trace_non_string_name, test_search_traces,
  test_delete_traces, test_set_and_delete_trace_tag, test_get_trace_artifact_handler.
* GraphQL (``/graphql``, MLflow's graphene schema; not served), 7: test_graphql_handler,
  test_get_experiment_graphql, test_get_run_and_experiment_graphql,
  test_get_metric_history_bulk_interval_graphql, test_search_runs_graphql,
  test_list_artifacts_graphql, test_search_datasets_graphql.
* MLflow-only server features, 3: test_create_promptlab_run_handler_rejects_invalid_requests,
  test_create_promptlab_run_handler_returns_expected_results (prompt-lab runs),
  test_gateway_proxy_handler_rejects_invalid_requests (the deployments gateway proxy).
* a mock of MLflow's own internals, not a server outcome, 1:
  test_get_metric_history_bulk_calls_optimized_impl_when_expected (mocks SqlAlchemyStore).

The MLflow file is from MLflow 2's era; where MLflow 3.17's server answers differently the
3.17 answer is the fact (each checked with ``GITTRACK_PARITY_TARGET=mlflow``): log-batch names
the missing ``metrics[0].timestamp``; log-inputs without datasets is accepted; error bodies
also carry ``error_class``/``sqlstate``; LoggedModel names may not hold "/" (test_log_model
logs ``model-<i>`` and expects "Invalid model name" for ``model/path/0``); bulk-interval
samples each run's points, not steps (test_get_sampled_steps_from_steps and the
respects_max_results test expect 3.17's sets, the old ones are in comments). A
``file://`` artifact root (``--default-artifact-root``) is not offered: gittrack serves every
run's artifacts through its proxy (``mlflow-artifacts:/``), as ``mlflow server
--artifacts-destination`` does, so test_artifacts and test_create_get_search_experiment check
that instead of ``file://`` prefixes.

Adapted (counted as ported): experiment names are made unique where MLflow's test had a
fresh server of its own (``unique``); tests that list every experiment get a fresh server.
``test_get_sampled_steps_from_steps`` calls an MLflow function; its cases are checked through
``get-history-bulk-interval``, which uses that sampling.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.parity import Target, count_cases, serve, table_counts, unique

mlflow = pytest.importorskip("mlflow")
requests = pytest.importorskip("requests")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import (  # noqa: E402
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunInputs,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException  # noqa: E402

CONTEXT = "mlflow.data.context"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Target]:
    yield from serve(tmp_path_factory.mktemp("ported-rest"))


@pytest.fixture
def fresh_server(tmp_path_factory) -> Iterator[Target]:
    """A server of its own, for tests that list every experiment."""
    yield from serve(tmp_path_factory.mktemp("ported-rest-fresh"))


@pytest.fixture
def client(server) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url)


@pytest.fixture
def fluent(server) -> Iterator[None]:
    """MLflow's fluent API pointed at the server."""
    mlflow.set_tracking_uri(server.url)
    yield
    while mlflow.active_run():
        mlflow.end_run()


def post(server: Target, path: str, payload: dict) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=payload, timeout=60)


def assert_bad_request(resp: requests.Response, message: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert message in body["message"], body["message"]


def new_run(client: MlflowClient, name: str = "run") -> str:
    return client.create_run(client.create_experiment(unique(name))).info.run_id


# -- experiments ---------------------------------------------------------------------


def test_create_get_search_experiment(fresh_server):
    client = MlflowClient(tracking_uri=fresh_server.url)
    location = str(fresh_server.base / "my_location")
    experiment_id = client.create_experiment(
        "My Experiment", artifact_location=location, tags={"key1": "val1", "key2": "val2"}
    )
    exp = client.get_experiment(experiment_id)
    assert exp.name == "My Experiment"
    assert exp.artifact_location in (location, f"file://{location}")
    assert exp.tags == {"key1": "val1", "key2": "val2"}

    assert {e.name for e in client.search_experiments()} == {"My Experiment", "Default"}
    client.delete_experiment(experiment_id)
    assert {e.name for e in client.search_experiments()} == {"Default"}
    active = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    assert {e.name for e in active} == {"Default"}
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert {e.name for e in deleted} == {"My Experiment"}
    every = client.search_experiments(view_type=ViewType.ALL)
    assert {e.name for e in every} == {"My Experiment", "Default"}

    page = client.search_experiments(max_results=1)
    assert {e.name for e in page} == {"Default"}
    assert page.token is None
    first = client.search_experiments(max_results=1, view_type=ViewType.ALL)
    second = client.search_experiments(
        max_results=1, view_type=ViewType.ALL, page_token=first.token
    )
    assert len(first) == len(second) == 1
    assert {first[0].name, second[0].name} == {"Default", "My Experiment"}


CREATE_EXPERIMENT_REFUSALS = [
    ({"name": 123}, "Invalid value 123 for parameter 'name'"),
    ({}, "Missing value for required parameter 'name'"),
    (
        {"name": "experiment name", "artifact_location": 9.0, "tags": [{"key": "k", "value": "v"}]},
        "Invalid value 9.0 for parameter 'artifact_location'",
    ),
    (
        {"name": "experiment name", "artifact_location": "my_location", "tags": "5"},
        "Invalid value \"5\" for parameter 'tags'",
    ),
]


def test_create_experiment_validation(server, client):
    for payload, message in CREATE_EXPERIMENT_REFUSALS:
        assert_bad_request(post(server, "/api/2.0/mlflow/experiments/create", payload), message)
    assert client.get_experiment_by_name("experiment name") is None


def test_delete_restore_experiment(client):
    experiment_id = client.create_experiment(unique("Deleterious"))
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def _mlflow_cli(server: Target, *args: str) -> None:
    env = {"MLFLOW_TRACKING_URI": server.url, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    import os

    out = subprocess.run(
        [sys.executable, "-m", "mlflow", "experiments", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_delete_restore_experiment_cli(server, client):
    name = unique("DeleteriousCLI")
    _mlflow_cli(server, "create", "--experiment-name", name)
    experiment_id = client.get_experiment_by_name(name).experiment_id
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    _mlflow_cli(server, "delete", "-x", experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    _mlflow_cli(server, "restore", "-x", experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_rename_experiment(client):
    bad, good = unique("BadName"), unique("GoodName")
    experiment_id = client.create_experiment(bad)
    assert client.get_experiment(experiment_id).name == bad
    client.rename_experiment(experiment_id, good)
    assert client.get_experiment(experiment_id).name == good


def test_rename_experiment_cli(server, client):
    bad, good = unique("CLIBadName"), unique("CLIGoodName")
    _mlflow_cli(server, "create", "-n", bad)
    experiment_id = client.get_experiment_by_name(bad).experiment_id
    assert client.get_experiment(experiment_id).name == bad
    _mlflow_cli(server, "rename", "--experiment-id", experiment_id, "--new-name", good)
    assert client.get_experiment(experiment_id).name == good


def test_set_experiment_tag(client):
    experiment_id = client.create_experiment(unique("SetExperimentTagTest"))
    client.set_experiment_tag(experiment_id, "dataset", "imagenet1K")
    assert client.get_experiment(experiment_id).tags["dataset"] == "imagenet1K"
    client.set_experiment_tag(experiment_id, "dataset", "birdbike")
    assert client.get_experiment(experiment_id).tags["dataset"] == "birdbike"
    other = client.create_experiment(unique("SetExperimentTagTest2"))
    assert client.get_experiment(other).tags == {}
    client.set_experiment_tag(other, "dataset", "birds200")
    assert client.get_experiment(experiment_id).tags["dataset"] == "birdbike"
    assert client.get_experiment(other).tags["dataset"] == "birds200"
    client.set_experiment_tag(experiment_id, "multiline tag", "value2\nvalue2\nvalue2")
    assert client.get_experiment(experiment_id).tags["multiline tag"] == "value2\nvalue2\nvalue2"


def test_set_experiment_tag_with_empty_string_as_value(client):
    experiment_id = client.create_experiment(unique("empty-tag"))
    client.set_experiment_tag(experiment_id, "tag_key", "")
    assert {"tag_key": ""}.items() <= client.get_experiment(experiment_id).tags.items()


def test_get_experiment_by_name(client):
    name = unique("test_get_experiment_by_name")
    experiment_id = client.create_experiment(name)
    res = client.get_experiment_by_name(name)
    assert (res.experiment_id, res.name) == (experiment_id, name)
    assert client.get_experiment_by_name("idontexist") is None


def test_get_experiment(client):
    name = unique("test_get_experiment")
    experiment_id = client.create_experiment(name)
    res = client.get_experiment(experiment_id)
    assert (res.experiment_id, res.name) == (experiment_id, name)


def test_search_experiments(fresh_server):
    client = MlflowClient(tracking_uri=fresh_server.url)
    assert client.search_experiments()[0].name == "Default"
    ids = []
    for name, tags in [("a", {"key": "value"}), ("ab", {"key": "vaLue"}), ("Abc", None)]:
        time.sleep(0.002)  # distinct creation times order them
        ids.append(client.create_experiment(name, tags=tags))

    def names(**kwargs):
        return [e.name for e in client.search_experiments(**kwargs)]

    assert names(filter_string="attribute.name = 'a'") == ["a"]
    assert names(filter_string="attribute.name != 'a'") == ["Abc", "ab", "Default"]
    assert names(filter_string="name LIKE 'a%'") == ["ab", "a"]
    assert names(filter_string="tag.key = 'value'") == ["a"]
    assert names(filter_string="tag.key != 'value'") == ["ab"]
    assert names(filter_string="tag.key ILIKE '%alu%'") == ["ab", "a"]
    assert names(order_by=["name DESC"]) == ["ab", "a", "Default", "Abc"]
    first = client.search_experiments(max_results=2)
    assert [e.name for e in first] == ["Abc", "ab"]
    assert names(page_token=first.token) == ["a", "Default"]

    time.sleep(0.002)
    client.delete_experiment(ids[1])
    assert names(view_type=ViewType.ACTIVE_ONLY) == ["Abc", "a", "Default"]
    assert names(view_type=ViewType.DELETED_ONLY) == ["ab"]
    assert names(view_type=ViewType.ALL) == ["Abc", "ab", "a", "Default"]


# -- runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["no parent kwarg", "my-parent-id"])
def test_create_run_all_args(client, variant):
    tags = {
        "mlflow.user": "username",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": "Hello",
        "mlflow.project.entryPoint": "entry",
        "mlflow.source.git.commit": "abc",
        "mlflow.parentRunId": "7",
        "my": "tag",
        "other": "tag",
    }
    experiment_id = client.create_experiment(unique(f"Run A Lot ({variant})"))
    created = client.create_run(experiment_id, start_time=456, run_name="my name", tags=tags)
    run_id = created.info.run_id
    fetched = client.get_run(run_id)
    for run in (created, fetched):
        assert run.info.run_id == run_id
        assert run.info.experiment_id == experiment_id
        assert run.info.user_id == "username"
        assert run.info.start_time == 456
        assert run.info.run_name == "my name"
        assert tags.items() <= run.data.tags.items()
        assert [r.info for r in client.search_runs([experiment_id])] == [run.info]


def test_create_run_defaults(client):
    experiment_id = client.create_experiment(unique("Run A Little"))
    run_id = client.create_run(experiment_id).info.run_id
    run = client.get_run(run_id)
    assert run.info.run_id == run_id
    assert run.info.experiment_id == experiment_id
    assert run.info.user_id == "unknown"


def test_log_metrics_params_tags(client):
    run_id = new_run(client, "Oh My")
    client.log_metric(run_id, key="metric", value=123.456, timestamp=789, step=2)
    client.log_metric(run_id, key="nan_metric", value=float("nan"))
    client.log_metric(run_id, key="inf_metric", value=float("inf"))
    client.log_metric(run_id, key="-inf_metric", value=-float("inf"))
    client.log_metric(run_id, key="stepless-metric", value=987.654, timestamp=321)
    client.log_param(run_id, "param", "value")
    client.set_tag(run_id, "taggity", "do-dah")
    run = client.get_run(run_id)
    assert run.data.metrics["metric"] == 123.456
    assert math.isnan(run.data.metrics["nan_metric"])
    assert run.data.metrics["inf_metric"] >= 1.7976931348623157e308
    assert run.data.metrics["-inf_metric"] <= -1.7976931348623157e308
    assert run.data.metrics["stepless-metric"] == 987.654
    assert run.data.params["param"] == "value"
    assert run.data.tags["taggity"] == "do-dah"
    [m] = client.get_metric_history(run_id, "metric")
    assert (m.key, m.value, m.timestamp, m.step) == ("metric", 123.456, 789, 2)
    [m] = client.get_metric_history(run_id, "stepless-metric")
    assert (m.key, m.value, m.timestamp, m.step) == ("stepless-metric", 987.654, 321, 0)
    assert client.get_metric_history(run_id, "a_test_accuracy") == []


def _log_metric_cases(run_id: str) -> list[tuple[dict, str]]:
    base = {"run_id": run_id, "key": "foo", "value": 31, "timestamp": 59, "step": 41}
    return [
        ({**base, "run_id": 31}, "Invalid value 31 for parameter 'run_id' supplied"),
        ({**base, "key": 31}, "Invalid value 31 for parameter 'key' supplied"),
        ({**base, "step": "foo"}, "Invalid value \"foo\" for parameter 'step' supplied"),
        ({**base, "timestamp": "foo"}, "Invalid value \"foo\" for parameter 'timestamp' supplied"),
        ({**base, "run_id": None}, "Missing value for required parameter 'run_id'"),
        (
            {k: v for k, v in base.items() if k != "key"},
            "Missing value for required parameter 'key'",
        ),
        ({**base, "key": None}, "Missing value for required parameter 'key'"),
    ]


def test_log_metric_validation(server, client):
    run_id = new_run(client, "metrics validation")
    for payload, message in _log_metric_cases(run_id):
        assert_bad_request(post(server, "/api/2.0/mlflow/runs/log-metric", payload), message)
    assert client.get_run(run_id).data.metrics == {}


def test_log_param_validation(server, client):
    run_id = new_run(client, "params validation")
    url = "/api/2.0/mlflow/runs/log-parameter"
    assert_bad_request(
        post(server, url, {"run_id": 31, "key": "param", "value": 41}),
        "Invalid value 31 for parameter 'run_id' supplied",
    )
    assert_bad_request(
        post(server, url, {"run_id": run_id, "key": 31, "value": 41}),
        "Invalid value 31 for parameter 'key' supplied",
    )


def test_log_param_with_empty_string_as_value(client):
    run_id = new_run(client, "empty param")
    client.log_param(run_id, "param_key", "")
    assert {"param_key": ""}.items() <= client.get_run(run_id).data.params.items()


def test_set_tag_with_empty_string_as_value(client):
    run_id = new_run(client, "empty tag")
    client.set_tag(run_id, "tag_key", "")
    assert {"tag_key": ""}.items() <= client.get_run(run_id).data.tags.items()


def test_log_batch_containing_params_and_tags_with_empty_string_values(client):
    run_id = new_run(client, "empty batch")
    client.log_batch(run_id=run_id, params=[Param("param_key", "")], tags=[RunTag("tag_key", "")])
    run = client.get_run(run_id)
    assert {"param_key": ""}.items() <= run.data.params.items()
    assert {"tag_key": ""}.items() <= run.data.tags.items()


def test_set_tag_validation(server, client):
    run_id = new_run(client, "tags validation")
    url = "/api/2.0/mlflow/runs/set-tag"
    assert_bad_request(
        post(server, url, {"run_id": 31, "key": "tag", "value": 41}),
        "Invalid value 31 for parameter 'run_id' supplied",
    )
    assert_bad_request(
        post(server, url, {"run_id": run_id, "key": "param", "value": 41}),
        "Invalid value 41 for parameter 'value' supplied",
    )
    assert_bad_request(
        post(server, url, {"run_id": run_id, "value": "value"}),
        "Missing value for required parameter 'key'",
    )
    resp = post(server, url, {"run_uuid": run_id, "key": "key", "value": "value"})
    assert resp.status_code == 200, resp.text
    assert client.get_run(run_id).data.tags["key"] == "value"


def test_path_validation(server, client):
    run_id = new_run(client, "path validation")
    for url in (f"{server.url}/api/2.0/mlflow/artifacts/list", f"{server.url}/get-artifact"):
        resp = requests.get(url, params={"run_id": run_id, "path": "../path"}, timeout=60)
        assert resp.status_code == 400, (url, resp.text)
        body = resp.json()  # MLflow 3 adds error_class and sqlstate
        assert (body["error_code"], body["message"]) == ("INVALID_PARAMETER_VALUE", "Invalid path")


def test_delete_tag(client):
    run_id = new_run(client, "DeleteTagExperiment")
    client.log_metric(run_id, key="metric", value=123.456, timestamp=789, step=2)
    client.log_param(run_id, "param", "value")
    client.set_tag(run_id, "taggity", "do-dah")
    assert client.get_run(run_id).data.tags["taggity"] == "do-dah"
    client.delete_tag(run_id, "taggity")
    assert "taggity" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException, match=r"Run .+ not found"):
        client.delete_tag("fake_run_id", "taggity")
    with pytest.raises(MlflowException, match="No tag with name: fakeTag"):
        client.delete_tag(run_id, "fakeTag")
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match=f"The run {run_id} must be in"):
        client.delete_tag(run_id, "taggity")


def test_log_batch(client):
    run_id = new_run(client, "Batch em up")
    client.log_batch(
        run_id=run_id,
        metrics=[Metric("metric", 123.456, 789, 3)],
        params=[Param("param", "value")],
        tags=[RunTag("taggity", "do-dah")],
    )
    run = client.get_run(run_id)
    assert run.data.metrics["metric"] == 123.456
    assert run.data.params["param"] == "value"
    assert run.data.tags["taggity"] == "do-dah"
    [m] = client.get_metric_history(run_id, "metric")
    assert (m.key, m.value, m.timestamp, m.step) == ("metric", 123.456, 789, 3)


def test_log_batch_validation(server, client):
    run_id = new_run(client, "log_batch validation")
    url = "/api/2.0/mlflow/runs/log-batch"
    for field in ("metrics", "params", "tags"):
        assert_bad_request(
            post(server, url, {"run_id": run_id, field: "foo"}),
            f"Invalid value \"foo\" for parameter '{field}' supplied",
        )
    # MLflow 3 names the missing field (MLflow 2 named the whole list)
    assert_bad_request(
        post(server, url, {"run_id": run_id, "metrics": [{"key": "mae", "value": 2.5}]}),
        "Missing value for required parameter 'metrics[0].timestamp'",
    )
    ok = post(
        server,
        url,
        {"run_id": run_id, "metrics": [{"key": "mae", "value": 2.5, "timestamp": 123456789}]},
    )
    assert ok.status_code == 200, ok.text
    [m] = MlflowClient(server.url).get_metric_history(run_id, "mae")
    assert (m.value, m.timestamp, m.step) == (2.5, 123456789, 0)


def test_log_model(client, fluent, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiment_id = client.create_experiment(unique("Log models"))
    # MLflow 3 logs models as LoggedModels named without "/" (MLflow 2 took artifact paths)
    names = [f"model-{i}" for i in range(3)]
    ids = []
    with mlflow.start_run(experiment_id=experiment_id) as run:
        for name in names:
            info = mlflow.pyfunc.log_model(name=name, loader_module="mlflow.pyfunc")
            loaded = mlflow.models.Model.load(info.model_uri)
            assert loaded.flavors["python_function"]["loader_module"] == "mlflow.pyfunc"
            assert (info.run_id, info.name) == (run.info.run_id, name)
            got = client.get_logged_model(info.model_id)
            assert (got.name, got.source_run_id, str(got.status)) == (
                name,
                run.info.run_id,
                "READY",
            )
            ids.append(info.model_id)
        with pytest.raises(MlflowException, match="Invalid model name"):
            mlflow.pyfunc.log_model(name="model/path/0", loader_module="mlflow.pyfunc")
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert sorted(o.model_id for o in outputs) == sorted(ids)


def test_set_terminated_defaults(client):
    run_id = new_run(client, "Terminator 1")
    assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.end_time is None
    client.set_terminated(run_id)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.get_run(run_id).info.end_time <= int(time.time() * 1000)


def test_set_terminated_status(client):
    run_id = new_run(client, "Terminator 2")
    assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.end_time is None
    client.set_terminated(run_id, "FAILED")
    assert client.get_run(run_id).info.status == "FAILED"
    assert client.get_run(run_id).info.end_time <= int(time.time() * 1000)


def test_update_run_name_without_changing_status(client):
    run_id = new_run(client, "update run name")
    client.set_terminated(run_id, "FINISHED")
    client.update_run(run_id, name="name_abc")
    info = client.get_run(run_id).info
    assert (info.run_name, info.status) == ("name_abc", "FINISHED")


# -- artifacts ----------------------------------------------------------------------


def test_artifacts(server, client, tmp_path):
    experiment_id = client.create_experiment(unique("Art In Fact"))
    location = client.get_experiment(experiment_id).artifact_location
    assert location == f"mlflow-artifacts:/{experiment_id}"
    created = client.create_run(experiment_id)
    assert created.info.artifact_uri.startswith(location)
    run_id = created.info.run_id
    src_dir = tmp_path / "test_artifacts_src"
    src_dir.mkdir()
    src_file = src_dir / "my.file"
    src_file.write_text("Hello, World!")
    client.log_artifact(run_id, str(src_file), None)
    client.log_artifacts(run_id, str(src_dir), "dir")

    assert {a.path for a in client.list_artifacts(run_id)} == {"my.file", "dir"}
    assert {a.path for a in client.list_artifacts(run_id, "dir")} == {"dir/my.file"}

    every = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=".", tracking_uri=server.url, dst_path=str(tmp_path / "all")
    )
    assert open(f"{every}/my.file").read() == "Hello, World!"
    assert open(f"{every}/dir/my.file").read() == "Hello, World!"
    folder = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="dir", tracking_uri=server.url, dst_path=str(tmp_path / "d")
    )
    assert open(f"{folder}/my.file").read() == "Hello, World!"


def test_upload_artifact_handler_rejects_invalid_requests(server, client):
    run_id = new_run(client, "upload_artifacts_test")
    url = f"{server.url}/ajax-api/2.0/mlflow/upload-artifact"
    assert_bad_request(requests.post(url, params={}, timeout=60), "Request must specify run_uuid.")
    assert_bad_request(
        requests.post(url, params={"run_uuid": run_id}, timeout=60), "Request must specify path."
    )
    assert_bad_request(
        requests.post(url, params={"run_uuid": run_id, "path": ""}, timeout=60),
        "Request must specify path.",
    )
    assert_bad_request(
        requests.post(url, params={"run_uuid": run_id, "path": "../test.txt"}, timeout=60),
        "Invalid path",
    )
    assert_bad_request(
        requests.post(url, params={"run_uuid": run_id, "path": "test.txt"}, timeout=60),
        "Request must specify data.",
    )
    assert client.list_artifacts(run_id) == []


def test_upload_artifact_handler(server, client):
    run_id = new_run(client, "upload_artifacts_test")
    resp = requests.post(
        f"{server.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run_id, "path": "test.txt"},
        data="hello world",
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    resp = requests.get(
        f"{server.url}/get-artifact", params={"run_uuid": run_id, "path": "test.txt"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert resp.text == "hello world"
    assert [a.path for a in client.list_artifacts(run_id)] == ["test.txt"]


# -- search -------------------------------------------------------------------------


def test_search_pagination(client):
    experiment_id = client.create_experiment(unique("search_pagination"))
    runs = sorted(client.create_run(experiment_id, start_time=1).info.run_id for _ in range(10))
    result = client.search_runs([experiment_id], max_results=4, page_token=None)
    assert [r.info.run_id for r in result] == runs[0:4]
    assert result.token is not None
    result = client.search_runs([experiment_id], max_results=4, page_token=result.token)
    assert [r.info.run_id for r in result] == runs[4:8]
    assert result.token is not None
    result = client.search_runs([experiment_id], max_results=4, page_token=result.token)
    assert [r.info.run_id for r in result] == runs[8:]
    assert result.token is None


def test_search_validation(client):
    experiment_id = client.create_experiment(unique("search_validation"))
    with pytest.raises(
        MlflowException, match=r"Invalid value 123456789 for parameter 'max_results' supplied"
    ):
        client.search_runs([experiment_id], max_results=123456789)


# -- metric history in bulk ------------------------------------------------------------


BULK = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"
INTERVAL = "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"


def test_get_metric_history_bulk_rejects_invalid_requests(server):
    def get(params):
        return requests.get(f"{server.url}{BULK}", params=params, timeout=60)

    must = "GetMetricHistoryBulk request must specify at least one run_id"
    assert_bad_request(get({"metric_key": "key"}), must)
    assert_bad_request(get({"run_id": [], "metric_key": "key"}), must)
    assert_bad_request(
        get({"run_id": [f"id_{i}" for i in range(1000)], "metric_key": "key"}),
        "GetMetricHistoryBulk request cannot specify more than",
    )
    assert_bad_request(
        get({"run_id": ["123"]}), "GetMetricHistoryBulk request must specify a metric_key"
    )


HISTORY_A = [
    {"key": "metricA", "timestamp": 1, "step": 2, "value": 10.0},
    {"key": "metricA", "timestamp": 1, "step": 3, "value": 11.0},
    {"key": "metricA", "timestamp": 1, "step": 3, "value": 12.0},
    {"key": "metricA", "timestamp": 2, "step": 3, "value": 12.0},
]
HISTORY_B = [
    {"key": "metricB", "timestamp": 7, "step": -2, "value": -100.0},
    {"key": "metricB", "timestamp": 8, "step": 0, "value": 0.0},
    {"key": "metricB", "timestamp": 8, "step": 0, "value": 1.0},
    {"key": "metricB", "timestamp": 9, "step": 1, "value": 12.0},
]


def test_get_metric_history_bulk_returns_expected_metrics_in_expected_order(server, client):
    experiment_id = client.create_experiment(unique("get metric history bulk"))
    run1, run2, run3 = (client.create_run(experiment_id).info.run_id for _ in range(3))
    for history in (HISTORY_A, HISTORY_B):
        for metric in history:
            client.log_metric(run1, **metric)
            client.log_metric(run2, **{**metric, "value": metric["value"] + 1.0})

    def bulk(run_ids, key):
        resp = requests.get(
            f"{server.url}{BULK}", params={"run_id": run_ids, "metric_key": key}, timeout=60
        )
        assert resp.status_code == 200, resp.text
        return resp.json().get("metrics")

    def of(run_id, history, plus=0.0):
        return [{**m, "run_id": run_id, "value": m["value"] + plus} for m in history]

    assert bulk([run1], "metricA") == of(run1, HISTORY_A)
    assert bulk([run2], "metricB") == of(run2, HISTORY_B, 1.0)
    assert bulk([run1, run2], "metricA") == sorted(
        of(run1, HISTORY_A) + of(run2, HISTORY_A, 1.0), key=lambda m: m["run_id"]
    )
    assert bulk([run1, run2, run3], "metricB") == sorted(
        of(run1, HISTORY_B) + of(run2, HISTORY_B, 1.0), key=lambda m: m["run_id"]
    )


def test_get_metric_history_bulk_respects_max_results(server, client):
    run_id = new_run(client, "get metric history bulk")
    for metric in HISTORY_A:
        client.log_metric(run_id, **metric)
    resp = requests.get(
        f"{server.url}{BULK}",
        params={"run_id": [run_id], "metric_key": "metricA", "max_results": 2},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json().get("metrics") == [{**m, "run_id": run_id} for m in HISTORY_A[:2]]


def test_get_metric_history_bulk_interval_rejects_invalid_requests(server):
    def get(params):
        return requests.get(f"{server.url}{INTERVAL}", params=params, timeout=60)

    missing_runs = "Missing value for required parameter 'run_ids'."
    assert_bad_request(get({"metric_key": "key"}), missing_runs)
    assert_bad_request(get({"run_ids": [], "metric_key": "key"}), missing_runs)
    assert_bad_request(
        get({"run_ids": [f"id_{i}" for i in range(1000)], "metric_key": "key"}),
        "GetMetricHistoryBulkInterval request must specify at most 100 run_ids.",
    )
    assert_bad_request(
        get({"run_ids": ["123"], "metric_key": "key", "max_results": 0}),
        "max_results must be between 1 and 2500",
    )
    missing_key = "Missing value for required parameter 'metric_key'"
    assert_bad_request(get({"run_ids": ["123"], "metric_key": ""}), missing_key)
    assert_bad_request(get({"run_ids": ["123"], "max_results": 5}), missing_key)
    assert_bad_request(
        get(
            {
                "run_ids": ["123"],
                "metric_key": "key",
                "start_step": 1,
                "end_step": 0,
                "max_results": 5,
            }
        ),
        "end_step must be greater than start_step. ",
    )
    assert_bad_request(
        get({"run_ids": ["123"], "metric_key": "key", "start_step": 1, "max_results": 5}),
        "If either start step or end step are specified, both must be specified.",
    )


def test_get_metric_history_bulk_interval_respects_max_results(server, client):
    experiment_id = client.create_experiment(unique("get metric history bulk"))
    run1 = client.create_run(experiment_id).info.run_id
    history1 = [{"key": "metricA", "timestamp": 1, "step": i, "value": 10.0} for i in range(10)]
    for metric in history1:
        client.log_metric(run1, **metric)

    def interval(**params):
        resp = requests.get(
            f"{server.url}{INTERVAL}", params={"metric_key": "metricA", **params}, timeout=60
        )
        assert resp.status_code == 200, resp.text
        return resp.json().get("metrics")

    def pick(run_id, history, steps):
        return [{**m, "run_id": run_id} for m in history if m["step"] in steps]

    # MLflow 3.17 samples each run's points (first point of each of max_results buckets,
    # the last point replacing the last pick); MLflow 2 sampled steps: {0, 2, 4, 6, 8, 9}
    assert interval(run_ids=[run1], max_results=5) == pick(run1, history1, {0, 2, 4, 6, 9})
    assert interval(run_ids=[run1], start_step=0, end_step=4, max_results=5) == pick(
        run1, history1, range(5)
    )

    run2 = client.create_run(experiment_id).info.run_id
    history2 = [{"key": "metricA", "timestamp": 1, "step": i, "value": 10.0} for i in range(20)]
    for metric in history2:
        client.log_metric(run2, **metric)
    assert interval(run_ids=[run1, run2], max_results=5) == pick(
        run1, history1, {0, 2, 4, 6, 9}
    ) + pick(run2, history2, {0, 4, 8, 12, 19})

    for i in range(10):  # the same steps again, a later timestamp
        client.log_metric(run1, key="metricA", timestamp=2, step=i, value=10.0)
    assert interval(run_ids=[run1], max_results=5) == [
        {"key": "metricA", "timestamp": ts, "step": s, "value": 10.0, "run_id": run1}
        for s, ts in ((0, 1), (2, 1), (4, 1), (6, 1), (9, 2))
    ]


@pytest.mark.parametrize(
    ("min_step", "max_step", "max_results", "steps", "expected"),
    [
        # MLflow 3.17's answers (MLflow 2's sets, by step: {0, 2, 4, 6, 8, 9}, {4..8},
        # {0, 20, 40, 60, 80, 100}, {0, 200, 400, 600, 800, 1000})
        (0, 10, 5, list(range(10)), {0, 2, 4, 6, 9}),
        (4, 8, 5, list(range(10)), {4, 5, 6, 7, 8}),
        (0, 100, 5, list(range(0, 101, 20)), {0, 40, 60, 80, 100}),
        (0, 1000, 5, list(range(0, 1001, 10)), {0, 210, 410, 610, 1000}),
    ],
)
def test_get_sampled_steps_from_steps(
    server, client, min_step, max_step, max_results, steps, expected
):
    run_id = new_run(client, "sampled steps")
    client.log_batch(run_id, metrics=[Metric("m", float(s), 1, s) for s in steps])
    resp = requests.get(
        f"{server.url}{INTERVAL}",
        params={
            "run_ids": [run_id],
            "metric_key": "m",
            "start_step": min_step,
            "end_step": max_step,
            "max_results": max_results,
        },
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert {m["step"] for m in resp.json()["metrics"]} == expected


# -- datasets -------------------------------------------------------------------------


SEARCH_DATASETS = "/ajax-api/2.0/mlflow/experiments/search-datasets"


def test_search_dataset_handler_rejects_invalid_requests(server):
    must = "SearchDatasets request must specify at least one experiment_id."
    assert_bad_request(post(server, SEARCH_DATASETS, {}), must)
    assert_bad_request(post(server, SEARCH_DATASETS, {"experiment_ids": []}), must)
    assert_bad_request(
        post(server, SEARCH_DATASETS, {"experiment_ids": [f"id_{i}" for i in range(1000)]}),
        "SearchDatasets request cannot specify more than",
    )


def test_search_dataset_handler_returns_expected_results(server, client):
    experiment_id = client.create_experiment(unique("log inputs test"))
    run_id = client.create_run(experiment_id).info.run_id
    dataset = Dataset(name="name1", digest="digest1", source_type="source_type1", source="source1")
    client.log_inputs(run_id, [DatasetInput(dataset, tags=[InputTag(CONTEXT, "training")])])
    resp = post(server, SEARCH_DATASETS, {"experiment_ids": [experiment_id]})
    assert resp.status_code == 200, resp.text
    assert resp.json().get("dataset_summaries") == [
        {
            "experiment_id": experiment_id,
            "name": "name1",
            "digest": "digest1",
            "context": "training",
        }
    ]


def test_log_input(client, fluent, tmp_path):
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    df = pd.DataFrame([[1, 2, 3], [1, 2, 3]], columns=["a", "b", "c"])
    path = tmp_path / "temp.csv"
    df.to_csv(path)
    dataset = from_pandas(df, source=path)
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, "train", {"foo": "baz"})
    [got] = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert got.dataset.name == "dataset"
    assert got.dataset.digest == "f0f3e026"
    assert got.dataset.source_type == "local"
    assert json.loads(got.dataset.source) == {"uri": str(path)}
    assert json.loads(got.dataset.schema) == {
        "mlflow_colspec": [
            {"name": "a", "type": "long", "required": True},
            {"name": "b", "type": "long", "required": True},
            {"name": "c", "type": "long", "required": True},
        ]
    }
    assert json.loads(got.dataset.profile) == {"num_rows": 2, "num_elements": 6}
    assert [(t.key, t.value) for t in got.tags] == [("foo", "baz"), (CONTEXT, "train")]


def test_log_inputs(client):
    run_id = new_run(client, "log inputs test")
    dataset = Dataset(name="name1", digest="digest1", source_type="source_type1", source="source1")
    client.log_inputs(run_id, [DatasetInput(dataset=dataset, tags=[InputTag("tag1", "value1")])])
    run = client.get_run(run_id)
    assert isinstance(run.inputs, RunInputs)
    [got] = run.inputs.dataset_inputs
    assert isinstance(got, DatasetInput) and isinstance(got.dataset, Dataset)
    assert (got.dataset.name, got.dataset.digest) == ("name1", "digest1")
    assert (got.dataset.source_type, got.dataset.source) == ("source_type1", "source1")
    assert [(t.key, t.value) for t in got.tags] == [("tag1", "value1")]


def test_log_inputs_validation(server, client):
    from mlflow.utils.proto_json_utils import message_to_json

    run_id = new_run(client, "log inputs validation")
    dataset = Dataset(name="name1", digest="digest1", source_type="source_type1", source="source1")
    one = message_to_json(DatasetInput(dataset, tags=[InputTag("tag1", "value1")]).to_proto())
    url = "/api/2.0/mlflow/runs/log-inputs"
    assert_bad_request(
        post(server, url, {"datasets": [json.loads(one)]}),
        "Missing value for required parameter 'run_id'",
    )
    # MLflow 3 logs models as inputs too: a request without datasets is accepted
    assert post(server, url, {"run_id": run_id}).status_code == 200
    assert client.get_run(run_id).inputs.dataset_inputs == []


def test_counts_in_the_table():
    """The table at the top counts this file's ported cases."""
    ported, passing, _ = table_counts(__doc__)
    assert count_cases(sys.modules[__name__], "test_counts_in_the_table") == ported
    assert passing <= ported
