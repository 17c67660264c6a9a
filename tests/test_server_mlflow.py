"""A real ``gittrack server`` on a loopback port, driven by MLflow's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import git
from tests.server_helpers import http, serve_new_repo

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_new_repo(tmp_path_factory.mktemp("srv")) as srv:
        yield srv


@pytest.fixture
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url)


def test_experiments_round_trip(client):
    exp_id = client.create_experiment("exp-roundtrip", tags={"team": "vision"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags, exp.lifecycle_stage) == (
        "exp-roundtrip",
        {"team": "vision"},
        "active",
    )
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert client.get_experiment_by_name("exp-roundtrip").experiment_id == exp_id
    assert client.get_experiment_by_name("no-such-experiment") is None

    client.rename_experiment(exp_id, "exp-renamed")
    client.set_experiment_tag(exp_id, "stage", "2")
    found = client.search_experiments(filter_string="name = 'exp-renamed'")
    assert [(e.experiment_id, e.tags["stage"]) for e in found] == [(exp_id, "2")]

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert exp_id not in [e.experiment_id for e in client.search_experiments()]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_duplicate_experiment_name_is_refused(client):
    client.create_experiment("exp-dup")
    with pytest.raises(mlflow.exceptions.MlflowException) as info:
        client.create_experiment("exp-dup")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "exp-dup" in str(info.value)


def test_run_log_batch_history_and_end(client):
    from mlflow.entities import Metric, Param, RunTag

    exp_id = client.create_experiment("exp-batch")
    run = client.create_run(exp_id, run_name="batchy", tags={"team": "a"})
    rid = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{rid}/artifacts"
    points = [Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(300)]
    client.log_batch(
        rid,
        metrics=points,
        params=[Param("lr", "0.01"), Param("layers", "3")],
        tags=[RunTag("variant", "b")],
    )
    client.log_metric(rid, "acc", float("nan"), step=1)
    client.log_param(rid, "lr", "0.01")  # the same value again is fine

    history = client.get_metric_history(rid, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (p.step, p.value, p.timestamp) for p in points
    ]
    [nan_point] = client.get_metric_history(rid, "acc")
    assert nan_point.value != nan_point.value

    client.set_terminated(rid, "FINISHED", end_time=1_700_000_999_000)
    got = client.get_run(rid)
    assert got.info.status == "FINISHED"
    assert got.info.end_time == 1_700_000_999_000
    assert got.info.run_name == "batchy"
    assert got.data.params == {"lr": "0.01", "layers": "3"}
    assert got.data.metrics["loss"] == pytest.approx(1 / 300)
    assert got.data.tags["variant"] == "b" and got.data.tags["team"] == "a"


def test_changed_param_is_refused_and_kept(client):
    exp_id = client.create_experiment("exp-param")
    rid = client.create_run(exp_id).info.run_id
    client.log_param(rid, "lr", "0.1")
    with pytest.raises(mlflow.exceptions.MlflowException) as info:
        client.log_param(rid, "lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in str(info.value)
    assert client.get_run(rid).data.params == {"lr": "0.1"}


def test_run_update_delete_restore(client):
    exp_id = client.create_experiment("exp-lifecycle")
    rid = client.create_run(exp_id, run_name="old").info.run_id
    client.update_run(rid, name="new")
    assert client.get_run(rid).info.run_name == "new"
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == []
    assert [r.info.run_id for r in client.search_runs([exp_id], run_view_type=3)] == [rid]
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_search_runs_with_filter_order_and_pages(client):
    exp_id = client.create_experiment("exp-search")
    ids = []
    for i in range(5):
        rid = client.create_run(
            exp_id, run_name=f"r{i}", start_time=1_700_000_000_000 + i
        ).info.run_id
        client.log_metric(rid, "m", i / 10, step=0)
        client.log_param(rid, "p", f"v{i % 2}")
        client.set_terminated(rid)
        ids.append(rid)

    got = client.search_runs([exp_id], "metrics.m > 0.15 and params.p = 'v0'")
    assert sorted(r.info.run_id for r in got) == sorted([ids[2], ids[4]])

    by_metric = client.search_runs([exp_id], order_by=["metrics.m ASC"])
    assert [r.info.run_id for r in by_metric] == ids

    first = client.search_runs([exp_id], max_results=2)
    assert [r.info.run_id for r in first] == [ids[4], ids[3]]  # newest first
    assert first.token
    second = client.search_runs([exp_id], max_results=2, page_token=first.token)
    third = client.search_runs([exp_id], max_results=2, page_token=second.token)
    assert [r.info.run_id for r in second] + [r.info.run_id for r in third] == [
        ids[2],
        ids[1],
        ids[0],
    ]
    assert not third.token


def test_metric_history_is_paged(server, client):
    exp_id = client.create_experiment("exp-history-pages")
    rid = client.create_run(exp_id).info.run_id
    from mlflow.entities import Metric

    client.log_batch(rid, metrics=[Metric("x", float(i), 1000 + i, i) for i in range(25)])
    steps, token = [], None
    while True:
        q = f"run_id={rid}&metric_key=x&max_results=10" + (f"&page_token={token}" if token else "")
        status, body = http("GET", f"{server.url}/api/2.0/mlflow/metrics/get-history?{q}")
        assert status == 200, body
        steps += [m["step"] for m in body["metrics"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert steps == list(range(25))


def test_artifacts_through_the_proxy(client, tmp_path):
    exp_id = client.create_experiment("exp-artifacts")
    rid = client.create_run(exp_id).info.run_id
    small = tmp_path / "notes.txt"
    small.write_text("hello artifacts\n")
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    folder = tmp_path / "plots"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "deep" / "b.json").write_text('{"k": 1}')

    client.log_artifact(rid, str(small))
    client.log_artifact(rid, str(big), "model")
    client.log_artifacts(rid, str(folder), "plots")

    top = {(f.path, f.is_dir) for f in client.list_artifacts(rid)}
    assert top == {("notes.txt", False), ("model", True), ("plots", True)}
    assert {f.path for f in client.list_artifacts(rid, "plots")} == {"plots/a.csv", "plots/deep"}
    [weights] = client.list_artifacts(rid, "model")
    assert (weights.path, weights.file_size) == ("model/weights.bin", big.stat().st_size)

    out = tmp_path / "out"
    assert open(client.download_artifacts(rid, "notes.txt", str(out))).read() == "hello artifacts\n"
    got_big = client.download_artifacts(rid, "model/weights.bin", str(out))
    assert open(got_big, "rb").read() == big.read_bytes()
    got_dir = client.download_artifacts(rid, "plots", str(out / "dir"))
    assert open(os.path.join(got_dir, "deep", "b.json")).read() == '{"k": 1}'


def test_ordinary_mlflow_script_and_git_clone(server, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import mlflow

            mlflow.set_experiment("script-exp")
            with mlflow.start_run(run_name="script-run") as run:
                mlflow.log_params({"lr": 0.01, "epochs": 3})
                for epoch in range(3):
                    mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
                mlflow.set_tag("framework", "none")
                mlflow.log_text("some text", "notes/readme.txt")
                mlflow.log_dict({"a": 1}, "config.json")
            print(run.info.run_id)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GITTRACK_"))}
    env["MLFLOW_TRACKING_URI"] = server.url
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]

    # the run is an ordinary gittrack run in the server's repository...
    from gittrack.api.client import Client

    served = Client(server.repo)
    run = served.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "script-run"
    assert run.data.params == {"lr": "0.01", "epochs": "3"}
    assert [(m.step, m.value) for m in served.get_metric_history(run_id, "loss")] == [
        (0, 1.0),
        (1, 0.5),
        (2, 1 / 3),
    ]

    # ...and plain git over the server's smart-HTTP brings it along
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"{server.url}/git/", str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    cloned = Client(clone)
    again = cloned.get_run(run_id)
    assert again.data.params == run.data.params
    assert again.data.tags["framework"] == "none"
    assert [m.value for m in cloned.get_metric_history(run_id, "loss")] == [1.0, 0.5, 1 / 3]


def test_log_inputs_are_kept(client):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    exp_id = client.create_experiment("exp-inputs")
    rid = client.create_run(exp_id).info.run_id
    ds = Dataset(name="train", digest="abc123", source_type="local", source='{"uri": "x.csv"}')
    client.log_inputs(rid, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training")])])
    client.log_inputs(rid, [DatasetInput(ds)])  # the same dataset again is kept once
    [got] = client.get_run(rid).inputs.dataset_inputs
    assert (got.dataset.name, got.dataset.digest, got.dataset.source) == (
        "train",
        "abc123",
        '{"uri": "x.csv"}',
    )
    assert [(t.key, t.value) for t in got.tags] == [("mlflow.data.context", "training")]


def test_runs_pushed_over_git_are_served(server, client, repo):
    from gittrack.api.client import Client

    local = Client(repo)
    rid = local.create_run("0", run_name="pushed").info.run_id
    local.log_metric(rid, "acc", 0.75, step=2)
    local.set_terminated(rid)
    git(repo, "push", "-q", f"{server.url}/git/", "refs/gittrack/runs/*:refs/gittrack/runs/*")

    got = client.get_run(rid)
    assert got.info.run_name == "pushed"
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"acc": 0.75}
    assert [r.info.run_id for r in client.search_runs(["0"]) if r.info.run_id == rid] == [rid]


def test_the_server_serves_the_web_ui_beside_the_api(server, client):
    exp_id = client.create_experiment("ui-visible")
    run = client.create_run(exp_id, run_name="shown-in-ui")
    client.log_metric(run.info.run_id, "loss", 0.25, step=3)
    status, page = http("GET", server.url + "/")
    assert status == 200 and b"<html" in page.lower()
    status, body = http("GET", server.url + f"/ui/api/runs/{run.info.run_id}")
    assert status == 200
    assert run.info.run_id in json.dumps(body) and "shown-in-ui" in json.dumps(body)
    status, health = http("GET", server.url + "/health")
    assert status == 200  # the API routes still win over the UI's catch-all mount


def test_experiment_filter_uses_the_query_grammar(client, repo):
    """``name = 'cats AND dogs'`` is one clause (the old regex split it at AND), over
    MLflow's own client and gittrack's Python API alike."""
    import gittrack

    cats_dogs = client.create_experiment("cats AND dogs", tags={"kind": "pets"})
    client.create_experiment("cats", tags={"kind": "pets"})
    found = client.search_experiments(filter_string="name = 'cats AND dogs'")
    assert [e.experiment_id for e in found] == [cats_dogs]
    found = client.search_experiments(
        filter_string="tags.kind = 'pets' AND name LIKE 'cats %' AND creation_time > 0"
    )
    assert [e.name for e in found] == ["cats AND dogs"]
    with pytest.raises(Exception, match="unknown type 'metrics'"):
        client.search_experiments(filter_string="metrics.x > 1")
    local = gittrack.Client(repo)
    local.create_experiment("cats AND dogs")
    assert [e.name for e in local.search_experiments(filter_string="name = 'cats AND dogs'")] == [
        "cats AND dogs"
    ]
