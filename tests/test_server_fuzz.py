"""Fuzzing the REST API from its own OpenAPI document (schemathesis): no 5xx, no crash,
nothing stored corrupted."""

from __future__ import annotations

import subprocess

import pytest

from tests.server_helpers import http, serve_new_repo

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    with serve_new_repo(tmp_path_factory.mktemp("fuzz")) as srv:
        # something to hit: a run with data, so ids in the document's examples can exist
        _, body = http("POST", f"{srv.url}/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
        yield srv
        status, _ = http("GET", f"{srv.url}/health")
        assert status == 200, "the server died while being fuzzed"
    # nothing stored is corrupted: every run and experiment still reads, git agrees
    from gittrack.api.client import Client

    client = Client(srv.repo)
    for run in client.list_runs():
        client.get_run(run.info.run_id)
    client.search_experiments(view_type="ALL")
    fsck = subprocess.run(
        ["git", "-C", srv.repo, "fsck", "--strict"], capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    # valid and invalid requests alike (wrong types, missing fields, NUL bytes)
    schema.config.generation.update(modes=list(schemathesis.GenerationMode), allow_x00=True)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


# one test fuzzes every operation (48 with the logged-model API): more than the suite's
# default 300 s hang guard on a loaded machine
@pytest.mark.timeout(1200)
@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case):
    response = case.call(timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.path} answered {response.status_code}: {response.text[:500]}"
    )
    assert response.headers.get("content-type", [""])[0].startswith("application/json")
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error_code", "message"} and body["message"]
