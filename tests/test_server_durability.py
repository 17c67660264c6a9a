"""An acknowledged write is durable: SIGKILL the server under load, restart, count points."""

from __future__ import annotations

import http.client as httplib
import json
import signal
import threading
import time

from tests.server_helpers import ServerProcess, bare_repo, http

API = "/api/2.0/mlflow"


def test_every_acknowledged_point_survives_sigkill(tmp_path):
    repo = bare_repo(tmp_path)
    server = ServerProcess(repo)
    _, body = http("POST", f"{server.url}{API}/runs/create", {"experiment_id": "0"})
    run_id = body["run"]["info"]["run_id"]
    acked: list[set[int]] = [set() for _ in range(6)]
    stop = threading.Event()

    def client(n: int) -> None:
        conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=30)
        i = 0
        while not stop.is_set():
            step = n * 1_000_000 + i
            payload = {
                "run_id": run_id,
                "metrics": [
                    {"key": f"k{j}", "value": float(step), "timestamp": 1, "step": step}
                    for j in range(20)
                ],
            }
            try:
                conn.request("POST", f"{API}/runs/log-batch", body=json.dumps(payload))
                resp = conn.getresponse()
                resp.read()
            except OSError:
                return  # the server is gone; this request was never acknowledged
            if resp.status == 200:
                acked[n].add(step)
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(3)
    server.proc.send_signal(signal.SIGKILL)  # no flushing, no goodbye
    server.stop()
    stop.set()
    for t in threads:
        t.join()
    want = set().union(*acked)
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
