"""One rule for restoring a run, MLflow's: restoring a deleted run makes it active, restoring
an active run is accepted and changes nothing. MLflow's own client on its SQLite store says
so; gittrack's Client, ``gittrack restore``, the REST API and the MLflow plugin answer alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gittrack.api.client import Client
from gittrack.cli import cli
from gittrack.rest.client import RestClient
from tests.conftest import git
from tests.server_helpers import serve_new_repo

mlflow = pytest.importorskip("mlflow")


def _restore_twice_then_delete_and_restore(client) -> list[str]:
    """The lifecycle stages seen: restore of an active run (twice), then delete, restore."""
    run_id = client.create_run(
        client.create_experiment(f"restore-rule-{type(client).__name__}")
    ).info.run_id
    seen = []
    for step in ("restore", "restore", "delete", "restore"):
        getattr(client, f"{step}_run")(run_id)
        seen.append(client.get_run(run_id).info.lifecycle_stage)
    return seen


WANT = ["active", "active", "deleted", "active"]


def test_mlflow_itself_accepts_restoring_an_active_run(tmp_path):
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    theirs = mlflow.MlflowClient(tracking_uri=db)
    assert _restore_twice_then_delete_and_restore(theirs) == WANT


def test_python_client_restoring_an_active_run_changes_nothing(repo):
    client = Client()
    assert _restore_twice_then_delete_and_restore(client) == WANT
    run_id = client.create_run(client.create_experiment("untouched")).info.run_id
    before = git(repo, "for-each-ref", "refs/gittrack/")
    client.restore_run(run_id[:8])
    assert git(repo, "for-each-ref", "refs/gittrack/") == before  # no commit written
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_cli_restore_of_an_active_run_succeeds(repo):
    client = Client()
    run_id = client.create_run(client.create_experiment("cli")).info.run_id
    r = CliRunner().invoke(cli, ["restore", run_id[:8]])
    assert r.exit_code == 0, r.output
    assert r.output == f"restored {run_id}\n"
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    missing = CliRunner().invoke(cli, ["restore", "f" * 32])
    assert missing.exit_code != 0 and "f" * 32 in missing.output


def test_rest_and_mlflow_over_the_server_accept_restoring_an_active_run(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "GITTRACK_TRACKING_URI", "GITTRACK_REPO"):
        monkeypatch.delenv(var, raising=False)
    with serve_new_repo(tmp_path) as srv:
        assert _restore_twice_then_delete_and_restore(RestClient(srv.url)) == WANT
        assert _restore_twice_then_delete_and_restore(mlflow.MlflowClient(srv.url)) == WANT


def test_mlflow_plugin_accepts_restoring_an_active_run(repo: Path):
    client = mlflow.MlflowClient(f"gittrack://{repo}")
    assert _restore_twice_then_delete_and_restore(client) == WANT
