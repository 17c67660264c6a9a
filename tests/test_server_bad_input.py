"""Bad input against a real server: clear 4xx errors naming the bad thing, nothing stored lost."""

from __future__ import annotations

import http.client as httplib
import json
import subprocess
import threading

import pytest

from gittrack.server.schema import ENDPOINTS
from tests.conftest import git
from tests.server_helpers import http, serve_new_repo

API = "/api/2.0/mlflow"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_new_repo(tmp_path_factory.mktemp("bad"), "--max-request-bytes", "1000000") as srv:
        yield srv


@pytest.fixture(scope="module")
def run_id(server):
    status, body = http("POST", f"{server.url}{API}/runs/create", {"experiment_id": "0"})
    assert status == 200, body
    return body["run"]["info"]["run_id"]


def post(server, endpoint, body=None, raw=None, headers=None):
    return http("POST", f"{server.url}{API}/{endpoint}", body, raw=raw, headers=headers)


def raw_request(server, method, path, body=b"", headers=None):
    conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data.startswith(b"{") else data


def test_malformed_json_is_a_bad_request(server):
    status, body = post(server, "runs/log-batch", raw=b'{"run_id": "abc", metrics: [}')
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"
    assert "Malformed JSON" in body["message"]
    status, body = post(server, "runs/log-batch", raw=b"[1, 2, 3]")
    assert (status, body["error_code"]) == (400, "BAD_REQUEST")
    assert "must be a JSON object" in body["message"]


WRONG = {
    "string": 12345,
    "int64": "twelve",
    "int32": 1.5,
    "double": "not-a-number",
    "bool": "maybe",
    "view_type": "SOMETIMES",
    "run_status": "SLEEPING",
    "string[]": "not-a-list",
    "kv[]": [{"key": 5, "value": "x"}],
    "metric[]": [{"key": "m", "value": True, "timestamp": 1}],
    "inputs[]": "nope",
    "models[]": [3],
}

CASES = [
    (ep.path, name, kind)
    for ep in ENDPOINTS
    if "POST" in ep.methods
    for name, (kind, _) in ep.fields.items()
]


@pytest.mark.parametrize(("endpoint", "field", "kind"), CASES)
def test_wrong_type_for_every_field(server, run_id, endpoint, field, kind):
    body = {"run_id": run_id, "experiment_id": "0", "name": "x", "key": "k", "value": "v"}
    body["metric_key"] = "m"
    body["new_name"] = "y"
    body.update(source="runs:/x/model", version="1", alias="a", stage="Staging")  # registry
    if endpoint == "runs/log-metric":
        body["value"] = 1.5
    body[field] = WRONG[kind]
    status, answer = post(server, endpoint, body)
    assert status == 400, answer
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert f"'{field}" in answer["message"]


@pytest.mark.parametrize(
    ("endpoint", "query"),
    [
        ("runs/get", "run_id=0123456789abcdef0123456789abcdef"),
        ("experiments/get", "experiment_id=424242"),
        ("experiments/get-by-name", "experiment_name=nobody"),
        ("metrics/get-history", "run_id=0123456789abcdef0123456789abcdef&metric_key=m"),
        ("artifacts/list", "run_id=0123456789abcdef0123456789abcdef"),
    ],
)
def test_unknown_ids_are_404(server, endpoint, query):
    status, body = http("GET", f"{server.url}{API}/{endpoint}?{query}")
    assert status == 404, body
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_logging_to_unknown_run_and_experiment(server):
    status, body = post(
        server,
        "runs/log-batch",
        {
            "run_id": "0123456789abcdef0123456789abcdef",
            "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
        },
    )
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert "0123456789abcdef0123456789abcdef" in body["message"]
    status, body = post(server, "runs/create", {"experiment_id": "999999"})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, body = post(server, "runs/log-batch", {"run_id": "../../etc"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_missing_required_field_is_named(server):
    status, body = post(server, "runs/log-metric", {"key": "m", "value": 1})
    assert status == 400 and "'run_id'" in body["message"]
    status, body = post(server, "experiments/create", {})
    assert status == 400 and "'name'" in body["message"]


@pytest.mark.parametrize(
    ("what", "count", "message"),
    [
        ("metrics", 1001, "at most 1000 metrics"),
        ("params", 101, "at most 100 params"),
        ("tags", 101, "at most 100 tags"),
    ],
)
def test_log_batch_over_the_limits_stores_nothing(server, what, count, message):
    status, body = post(server, "runs/create", {"experiment_id": "0"})
    rid = body["run"]["info"]["run_id"]
    items = [
        {"key": f"k{i}", "value": 1.0, "timestamp": 1, "step": i}
        if what == "metrics"
        else {"key": f"k{i}", "value": "v"}
        for i in range(count)
    ]
    status, body = post(server, "runs/log-batch", {"run_id": rid, what: items})
    assert status == 400
    assert message in body["message"]
    _, got = http("GET", f"{server.url}{API}/runs/get?run_id={rid}")
    data = got["run"]["data"]
    assert data["metrics"] == [] and data["params"] == []
    assert not any(t["key"].startswith("k") for t in data["tags"])


def test_invalid_keys_and_values_are_refused(server, run_id):
    for metrics, needle in [
        ([{"key": "../x", "value": 1, "timestamp": 1}], "../x"),
        ([{"key": "bad key!", "value": 1, "timestamp": 1}], "bad key!"),
        ([{"key": "m", "value": 1, "timestamp": -5}], "timestamp"),
    ]:
        status, body = post(server, "runs/log-batch", {"run_id": run_id, "metrics": metrics})
        assert status == 400, body
        assert needle in body["message"]
    status, body = post(
        server, "runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": "x" * 6001}]}
    )
    assert status == 400 and "6000" in body["message"]


def test_duplicate_params_in_one_batch_are_refused(server, run_id):
    params = [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]
    status, body = post(server, "runs/log-batch", {"run_id": run_id, "params": params})
    assert status == 400 and "Duplicate parameter keys" in body["message"]


def test_changed_param_keeps_the_first_value(server):
    _, body = post(server, "runs/create", {"experiment_id": "0"})
    rid = body["run"]["info"]["run_id"]
    assert (
        post(server, "runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.1"})[0] == 200
    )
    status, body = post(server, "runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.2"})
    assert status == 400 and "Changing param values is not allowed" in body["message"]
    _, got = http("GET", f"{server.url}{API}/runs/get?run_id={rid}")
    assert got["run"]["data"]["params"] == [{"key": "lr", "value": "0.1"}]


def test_huge_bodies_are_refused(server, run_id):
    big = json.dumps({"run_id": run_id, "tags": [{"key": "t", "value": "x" * 2_000_000}]}).encode()
    status, body = post(server, "runs/log-batch", raw=big)
    assert status == 413
    assert "1000000 bytes" in body["message"]
    # a declared length over the limit is refused before the body is read
    status, body = raw_request(
        server,
        "POST",
        f"{API}/runs/log-batch",
        body=b"{}",
        headers={"Content-Length": "2", "X-Pad": "1"},
    )
    assert status == 400  # run_id missing: the small body was read
    conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", f"{API}/runs/log-batch")
    conn.putheader("Content-Length", str(10**12))
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "0/{rid}/artifacts/../../../etc/passwd",
        "0/{rid}/artifacts/%2e%2e/%2e%2e/escape.txt",
        "0/{rid}/artifacts/ok/%00nul.txt",
        "%2Fetc/passwd",
        "../../etc/passwd",
        "0/{rid}/artifacts/a\\..\\b.txt",
        "0/{rid}/elsewhere/x.txt",
    ],
)
def test_artifact_paths_are_confined(server, run_id, path):
    url = "/api/2.0/mlflow-artifacts/artifacts/" + path.format(rid=run_id)
    status, body = raw_request(server, "PUT", url, body=b"owned")
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    status, body = raw_request(server, "GET", url)
    assert status in (400, 404)
    _, listing = http("GET", f"{server.url}{API}/artifacts/list?run_id={run_id}")
    assert all("passwd" not in f["path"] and "escape" not in f["path"] for f in listing["files"])


def test_client_disconnecting_mid_upload_stores_nothing(server, run_id):
    import socket
    import time

    s = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PUT /api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/partial.bin HTTP/1.1\r\n"
        f"Host: x\r\nContent-Length: 1000000\r\n\r\n"
    )
    s.sendall(head.encode() + b"x" * 100_000)
    time.sleep(0.3)
    s.close()
    time.sleep(0.5)
    _, listing = http("GET", f"{server.url}{API}/artifacts/list?run_id={run_id}")
    assert "partial.bin" not in [f["path"] for f in listing["files"]]
    # the server is still fine, and kept no half upload around
    assert http("GET", f"{server.url}/health")[0] == 200
    leftovers = list((server_repo_state(server)).glob("gittrack-upload-*"))
    assert leftovers == []


def server_repo_state(server):
    from pathlib import Path

    return Path(server.repo) / "gittrack"


def test_two_clients_create_the_same_experiment_name(server):
    results = []

    def create():
        results.append(post(server, "experiments/create", {"name": "raced"}))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(status for status, _ in results)
    assert codes == [200] + [400] * 7
    assert all(b["error_code"] == "RESOURCE_ALREADY_EXISTS" for s, b in results if s == 400)
    _, found = post(server, "experiments/search", {"filter": "name = 'raced'"})
    assert len(found["experiments"]) == 1


def test_unknown_endpoint_and_method(server):
    status, body = http("GET", f"{server.url}{API}/runs/teleport")
    assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    status, body = http("GET", f"{server.url}{API}/runs/log-batch")
    assert status == 405


# -- authentication -------------------------------------------------------------------


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    with serve_new_repo(
        tmp_path_factory.mktemp("auth"), env={"GITTRACK_SERVER_TOKEN": TOKEN}
    ) as srv:
        yield srv


def test_missing_or_wrong_token_is_401(locked):
    url = f"{locked.url}{API}/experiments/search"
    status, body = http("POST", url, {})
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    assert "missing" in body["message"]
    status, body = http("POST", url, {}, headers={"Authorization": "Bearer nope"})
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    assert "wrong" in body["message"]
    assert http("GET", f"{locked.url}/health")[0] == 200


def test_bearer_and_basic_auth_are_accepted(locked):
    import base64

    url = f"{locked.url}{API}/experiments/search"
    assert http("POST", url, {}, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    basic = base64.b64encode(f"alice:{TOKEN}".encode()).decode()
    assert http("POST", url, {}, headers={"Authorization": f"Basic {basic}"})[0] == 200
    wrong = base64.b64encode(b"alice:guess").decode()
    assert http("POST", url, {}, headers={"Authorization": f"Basic {wrong}"})[0] == 401


def test_mlflow_client_with_token(locked, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    client = mlflow.MlflowClient(tracking_uri=locked.url)
    exp_id = client.create_experiment("with-token")
    assert client.get_experiment(exp_id).name == "with-token"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong")
    with pytest.raises(mlflow.exceptions.MlflowException, match="UNAUTHENTICATED|401"):
        mlflow.MlflowClient(tracking_uri=locked.url).get_experiment(exp_id)


def test_git_needs_the_token_too(locked, tmp_path):
    out = subprocess.run(
        ["git", "clone", "-q", f"{locked.url}/git/", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    assert "could not read Username" in out.stderr  # git was asked for credentials
    wrong = locked.url.replace("http://", "http://user:guess@")
    out = subprocess.run(
        ["git", "clone", "-q", f"{wrong}/git/", str(tmp_path / "nope2")],
        capture_output=True,
        text=True,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0 and "Authentication failed" in out.stderr
    authed = locked.url.replace("http://", f"http://user:{TOKEN}@")
    git(tmp_path, "clone", "-q", f"{authed}/git/", str(tmp_path / "yes"))
    assert (tmp_path / "yes" / ".git").is_dir()


@pytest.mark.parametrize("key", [".", "..x", "..", "./x", "a/./b"])
def test_key_rule_is_the_same_over_rest_and_in_python(server, run_id, repo, key):
    """MLflow's rule, one implementation: a key that would name another path is refused
    by the server and by the Python API alike, with the same message."""
    import gittrack
    from gittrack.errors import InvalidParameter

    status, body = post(
        server, "runs/log-batch", {"run_id": run_id, "params": [{"key": key, "value": "1"}]}
    )
    assert status == 400, body
    assert f"Invalid param name {key!r}" in body["message"]
    with gittrack.start_run(), pytest.raises(InvalidParameter) as err:
        gittrack.log_param(key, 1)
    assert err.value.message == body["message"]
    with gittrack.start_run(), pytest.raises(InvalidParameter, match="normalized"):
        gittrack.log_metric(key, 1.0)
