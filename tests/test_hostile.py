"""A repository somebody else pushed to: crafted run refs through every face.

Each attack of :mod:`tests.hostile` is planted next to two good runs. Every face —
the Python API, the CLI, the SQL mirror (SQLite), the REST server and the UI's JSON —
must refuse the bad run (a direct request) or skip and name it (a listing), quickly,
and keep serving the good runs.
"""

from __future__ import annotations

import http.client as httplib
import json
import re
import time

import pytest

import gittrack
from gittrack.artifacts.errors import InvalidArtifactPath
from gittrack.errors import CorruptRecord
from tests import hostile
from tests.conftest import git, run_cli
from tests.server_helpers import ServerProcess, http

QUICK = 10.0  # seconds: "a few", with room for a loaded machine

# what each refusal says (a fragment of the message)
REASONS = {
    "alias_bomb": "params.yaml: an anchor (&a0)",
    "huge_key": "tags.yaml: mapping values are not allowed",
    "deep_nesting": "metrics.yaml: collections nested more than 160 deep",
    "gittrack_file": ".gittrack is a file, not a folder",
    "gittrack_gitlink": ".gittrack is a submodule (gitlink), not a folder",
    "gittrack_symlink": ".gittrack is a symbolic link, not a folder",
    "record_symlink": ".gittrack/params.yaml is a symbolic link, not a file",
    "wrong_run_id": "run.yaml names run 'ffffffffffffffffffffffffffffffff', but its ref is",
    "unknown_status": "run.yaml has an unknown status 'BOGUS'",
    "non_utf8": "params.yaml: unacceptable character #x00ff",
    "big_record": "params.yaml: 53,550,000 bytes, over the limit",
}
PATH_ATTACKS = ("absolute_path", "dotdot_path")  # readable runs, refused artifact paths


def _good(run_id: str) -> hostile.Tree:
    return {
        "run.yaml": hostile.run_yaml(run_id, name="good"),
        "params.yaml": b"lr: 0.1\n",
        "metrics.yaml": b"acc:\n  value: 0.9\n  step: 0\n  timestamp: 1700000000500\n"
        b"  min: 0.9\n  max: 0.9\n  count: 1\n",
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(repo, {attack: run id}, [good run ids]) — built once for the module."""
    path = tmp_path_factory.mktemp("hostile") / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("x = 1\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    good = [hostile.plant(path, _good) for _ in range(2)]
    bad = {name: hostile.plant(path, name) for name in hostile.ATTACKS}
    return path, bad, good


def test_python_api_refuses_each_bad_run(planted):
    repo, bad, good = planted
    client = gittrack.Client(repo)
    for name, reason in REASONS.items():
        t0 = time.monotonic()
        with pytest.raises(CorruptRecord) as info:
            client.get_run(bad[name])
        assert time.monotonic() - t0 < QUICK, name
        assert info.value.http_status == 400
        assert f"Run {bad[name]}: record is unreadable" in info.value.message, name
        assert reason in info.value.message, (name, info.value.message)
    assert client.get_run(good[0]).data.params == {"lr": "0.1"}


def test_python_api_listings_skip_bad_runs(planted):
    repo, bad, good = planted
    client = gittrack.Client(repo)
    t0 = time.monotonic()
    listed = {r.info.run_id for r in client.list_runs()}
    assert listed == {*good, *(bad[n] for n in PATH_ATTACKS)}
    from gittrack.query.search import search_page

    page = search_page(client.repo, max_results=100)
    assert {r["run_id"] for r in page.runs} == listed
    assert set(page.broken) == {bad[n] for n in REASONS}
    for name, reason in REASONS.items():
        assert reason in page.broken[bad[name]], (name, page.broken[bad[name]])
    assert time.monotonic() - t0 < 2 * QUICK


def test_artifact_paths_that_leave_the_run_are_refused(planted, tmp_path):
    repo, bad, _ = planted
    client = gittrack.Client(repo)
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)
    for name, what in (("absolute_path", "is absolute"), ("dotdot_path", "contains '..'")):
        with pytest.raises(InvalidArtifactPath, match=what):
            client.download_artifacts(bad[name], "", str(dest))
    assert list(tmp_path.rglob("*")) == [tmp_path / "a", dest]  # nothing written anywhere


def test_cli_skips_and_reports_bad_runs(planted):
    repo, bad, good = planted
    t0 = time.monotonic()
    out = run_cli("log", "--all", cwd=repo)
    assert out.returncode == 0, out.stderr
    for run_id in good:
        assert run_id[:8] in out.stdout
    for name, reason in REASONS.items():
        assert bad[name][:8] not in out.stdout
        assert f"warning: run {bad[name]} skipped, its record is unreadable: " in out.stderr
        assert reason in out.stderr, name
    found = run_cli("search", "params.lr = '0.1'", "--format", "json", cwd=repo)
    assert found.returncode == 0, found.stderr
    assert {r["run_id"] for r in json.loads(found.stdout)} == set(good)
    assert f"warning: run {bad['alias_bomb']} skipped" in found.stderr
    assert time.monotonic() - t0 < 4 * QUICK  # two processes, index built once


@pytest.mark.parametrize("name", ["alias_bomb", "gittrack_file", "unknown_status", "big_record"])
def test_cli_show_refuses_a_bad_run(planted, name):
    repo, bad, _ = planted
    t0 = time.monotonic()
    out = run_cli("show", bad[name], cwd=repo)
    assert time.monotonic() - t0 < 2 * QUICK
    assert out.returncode == 1
    assert f"Error: Run {bad[name]}: record is unreadable" in out.stderr
    assert REASONS[name] in out.stderr


def test_sql_mirror_skips_and_reports_bad_runs(planted, tmp_path):
    from gittrack.mirror.sync import sync_to

    repo, bad, good = planted
    t0 = time.monotonic()
    report = sync_to(f"sqlite:///{tmp_path}/mirror.db", repo)
    assert time.monotonic() - t0 < 2 * QUICK
    skipped = dict(report.skipped)
    assert set(skipped) == {bad[n] for n in REASONS}
    for name, reason in REASONS.items():
        assert reason in skipped[bad[name]], name
    import sqlite3

    with sqlite3.connect(tmp_path / "mirror.db") as conn:
        ids = {r[0] for r in conn.execute("SELECT run_id FROM runs")}
    assert ids == {*good, *(bad[n] for n in PATH_ATTACKS)}


@pytest.fixture(scope="module")
def server(planted):
    repo, _, _ = planted
    with ServerProcess(repo) as srv:
        yield srv


def test_rest_get_run_is_a_400_and_the_connection_stays_usable(planted, server):
    _, bad, good = planted
    conn = httplib.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for name, reason in REASONS.items():
            t0 = time.monotonic()
            conn.request("GET", f"/api/2.0/mlflow/runs/get?run_id={bad[name]}")
            resp = conn.getresponse()
            body = json.loads(resp.read())
            assert time.monotonic() - t0 < QUICK, name
            assert resp.status == 400, (name, body)
            assert body["error_code"] == "INVALID_STATE"
            assert reason in body["message"] and bad[name] in body["message"], name
            # the same keep-alive connection serves the next request
            conn.request("GET", f"/api/2.0/mlflow/runs/get?run_id={good[0]}")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["run"]["info"]["status"] == (
                "FINISHED"
            )
    finally:
        conn.close()


def test_rest_search_lists_only_readable_runs(planted, server):
    _, bad, good = planted
    status, body = http(
        "POST",
        server.url + "/api/2.0/mlflow/runs/search",
        {"experiment_ids": ["0"], "max_results": 100},
    )
    assert status == 200
    assert {r["info"]["run_id"] for r in body["runs"]} == {
        *good,
        *(bad[n] for n in PATH_ATTACKS),
    }
    for name in PATH_ATTACKS:  # their artifacts never resolve to a file outside the store
        status, _ = http(
            "GET",
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/{bad[name]}/artifacts/etc/passwd",
        )
        assert status == 404


def test_ui_json_skips_names_and_refuses_bad_runs(planted, server):
    _, bad, good = planted
    status, body = http("GET", server.url + "/ui/api/runs?lifecycle=all")
    assert status == 200
    assert {r["run_id"] for r in body["rows"]} == {*good, *(bad[n] for n in PATH_ATTACKS)}
    for name, reason in REASONS.items():
        assert reason in body["skipped"][bad[name]], name
    for name in ("alias_bomb", "gittrack_gitlink", "wrong_run_id"):
        status, err = http("GET", f"{server.url}/ui/api/runs/{bad[name]}")
        assert status == 400 and REASONS[name] in err["message"], (name, err)
        assert f"Run {bad[name]}:" in err["message"]


HISTORY_REASONS = {
    "metrics_file": ".gittrack/metrics is a file, not a folder",
    "key_file": ".gittrack/metrics/loss is a file, not a folder",
    "chunk_folder": "metric 'loss' chunk 000000.tsv is a folder, not a file",
    "chunk_symlink": "metric 'loss' chunk 000000.tsv is a symbolic link, not a file",
    "chunk_not_numbers": "metric 'loss' chunk 000000.tsv: invalid literal",
}


def test_bad_metric_histories_are_refused_not_crashed(tmp_path):
    repo = tmp_path / "history"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    good = hostile.plant(repo, _good)
    bad = {name: hostile.plant(repo, fn) for name, fn in hostile.HISTORY_ATTACKS.items()}
    client = gittrack.Client(repo)
    for name, reason in HISTORY_REASONS.items():
        with pytest.raises(CorruptRecord, match=re.escape(reason)):
            client.get_metric_history(bad[name], "loss")
    with ServerProcess(repo) as srv:
        for name, reason in HISTORY_REASONS.items():
            status, body = http(
                "GET",
                f"{srv.url}/api/2.0/mlflow/metrics/get-history?run_id={bad[name]}&metric_key=loss",
            )
            assert status == 400 and reason in body["message"], (name, body)
        for name in ("metrics_file", "key_file"):  # the UI's chart data too (was a 500)
            status, body = http("GET", f"{srv.url}/ui/api/runs/{bad[name]}/series?key=loss")
            assert status == 400 and HISTORY_REASONS[name] in body["message"], (name, body)
        status, body = http("GET", f"{srv.url}/api/2.0/mlflow/runs/get?run_id={good}")
        assert status == 200
