"""gittrack's own REST client: the fluent API logging over HTTP, batching, retries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.server_helpers import (
    ServerProcess,
    bare_repo,
    free_port,
    start_mlflow_server,
    stop_mlflow_server,
)

SCRIPT = textwrap.dedent(
    """
    import sys
    import gittrack

    gittrack.set_experiment("remote-exp")
    run = gittrack.start_run(run_name="over-rest")
    gittrack.log_params({"lr": 0.01, "model": {"depth": 3}})
    gittrack.set_tag("where", "remote")
    n = int(sys.argv[2])
    for i in range(n):
        gittrack.log_metric("loss", 1.0 / (i + 1), step=i)
    gittrack.log_metric("nan", float("nan"))
    print(run.info.run_id, flush=True)
    if sys.argv[1] == "end":
        gittrack.end_run()
    # else: exit with the run open; the exit handler delivers and ends it
    """
)


def run_script(tmp_path, env_extra, mode="end", points=3000):
    script = tmp_path / "train_remote.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GITTRACK_"))}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, str(script), mode, str(points)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("mode", ["end", "exit"])
def test_fluent_api_logs_over_rest_in_batches(tmp_path, mode):
    repo = bare_repo(tmp_path, "served.git")
    with ServerProcess(repo) as server:
        run_id = run_script(tmp_path, {"GITTRACK_TRACKING_URI": server.url}, mode)
        log = server.stderr()

    from gittrack.api.client import Client

    client = Client(repo)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "over-rest"
    assert run.data.params == {"lr": "0.01", "model.depth": "3"}
    assert run.data.tags["where"] == "remote"
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(3000))
    assert history[-1].value == pytest.approx(1 / 3000)
    # 3000 points went in a handful of requests, not 3000
    batches = log.count("runs/log-batch")
    assert 1 <= batches <= 12, batches


def test_mlflow_tracking_uri_is_honoured(tmp_path):
    repo = bare_repo(tmp_path, "served.git")
    with ServerProcess(repo) as server:
        run_id = run_script(tmp_path, {"MLFLOW_TRACKING_URI": server.url})
    from gittrack.api.client import Client

    assert len(Client(repo).get_metric_history(run_id, "loss")) == 3000


def test_gittrack_client_logs_into_a_real_mlflow_server(tmp_path):
    pytest.importorskip("mlflow")
    proc, url = start_mlflow_server(tmp_path / "mlflow")
    try:
        run_id = run_script(tmp_path, {"GITTRACK_TRACKING_URI": url}, points=300)
        from mlflow import MlflowClient

        theirs = MlflowClient(tracking_uri=url)
        run = theirs.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"lr": "0.01", "model.depth": "3"}
        assert run.data.tags["where"] == "remote"
        history = theirs.get_metric_history(run_id, "loss")
        assert sorted(m.step for m in history) == list(range(300))
        assert theirs.get_experiment(run.info.experiment_id).name == "remote-exp"
    finally:
        stop_mlflow_server(proc)


def test_points_survive_a_server_restart(tmp_path, monkeypatch):
    from gittrack.api.client import Client
    from gittrack.rest.client import RestClient

    repo = bare_repo(tmp_path, "served.git")
    port = free_port()
    monkeypatch.setenv("GITTRACK_REST_MAX_RETRIES", "2")
    with ServerProcess(repo, "--port", str(port)) as server:
        rc = RestClient(server.url, flush_interval=0.05)
        run_id = rc.create_run("0").info.run_id
        for i in range(500):
            rc.log_metric(run_id, "x", float(i), step=i)
        rc.flush(run_id)
    # the server is down: points queue up and are retried, not dropped
    for i in range(500, 1000):
        rc.log_metric(run_id, "x", float(i), step=i)
    with ServerProcess(repo, "--port", str(port)):
        rc.set_terminated(run_id)
        rc.close()
    steps = [m.step for m in Client(repo).get_metric_history(run_id, "x")]
    assert sorted(set(steps)) == list(range(1000))


def test_undeliverable_points_are_reported_and_saved(tmp_path, monkeypatch):
    from gittrack.errors import DeliveryError
    from gittrack.rest.client import RestClient

    monkeypatch.setenv("GITTRACK_REST_MAX_RETRIES", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rc = RestClient(f"http://127.0.0.1:{free_port()}", flush_interval=0.05)
    for i in range(7):
        rc.log_metric("0123456789abcdef0123456789abcdef", "lost", float(i), step=i)
    with pytest.raises(DeliveryError) as info:
        rc.flush(timeout=1.5)
    err = info.value
    assert err.count == 7
    assert "7 metric points of run 0123456789abcdef0123456789abcdef" in str(err)
    saved = [json.loads(line) for line in open(err.saved_to)]
    assert [(p["key"], p["step"], p["value"]) for p in saved] == [
        ("lost", i, float(i)) for i in range(7)
    ]


def test_server_refusal_is_not_silent(tmp_path, monkeypatch):
    from gittrack.errors import DeliveryError
    from gittrack.rest.client import RestClient

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with ServerProcess(bare_repo(tmp_path, "served.git")) as server:
        rc = RestClient(server.url, flush_interval=0.05)
        run_id = rc.create_run("0").info.run_id
        rc.set_terminated(run_id)
        rc.log_metric(run_id, "late", 1.0)  # the run is finished: the server refuses
        with pytest.raises(DeliveryError, match="could not be delivered") as info:
            rc.flush(run_id)
        assert "FINISHED" in str(info.value)
        assert os.path.exists(info.value.saved_to)
