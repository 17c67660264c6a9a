"""An acknowledged write is durable: SIGKILL the server under load, restart, count points."""

from __future__ import annotations

from tests.server_helpers import ServerProcess, bare_repo, http, log_batches_until_sigkill

API = "/api/2.0/mlflow"


def test_every_acknowledged_point_survives_sigkill(tmp_path):
    repo = bare_repo(tmp_path)
    server = ServerProcess(repo)
    _, body = http("POST", f"{server.url}{API}/runs/create", {"experiment_id": "0"})
    run_id = body["run"]["info"]["run_id"]
    want, _ = log_batches_until_sigkill(server, run_id, clients=6, keys=20)
    assert len(want) > 20  # the load was real

    with ServerProcess(repo) as again:
        for key in ("k0", "k19"):
            _, body = http(
                "GET", f"{again.url}{API}/metrics/get-history?run_id={run_id}&metric_key={key}"
            )
            have = {m["step"] for m in body["metrics"]}
            assert want <= have, f"{len(want - have)} acknowledged points of {key} lost"
        # the run is still writable after the crash
        status, _ = http(
            "POST",
            f"{again.url}{API}/runs/log-metric",
            {"run_id": run_id, "key": "after", "value": 1.0, "timestamp": 1},
        )
        assert status == 200
