"""The SQL mirror's registry tables (registered_models, model_versions, registered_model_tags,
model_version_tags, registered_model_aliases) against real SQLite, PostgreSQL and MariaDB:
after ``gittrack sync`` they hold what the Client returns, and follow every change."""

from __future__ import annotations

import json

import pytest

from gittrack.api.client import Client
from gittrack.mirror.sync import sync_to
from tests.conftest import run_cli
from tests.test_sync import _fresh, rows


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request, tmp_path):
    yield from _fresh(request.param, tmp_path)


def client_view(c: Client) -> dict[str, list[tuple]]:
    """The five tables as the Client sees the registry (live models and versions)."""
    out: dict[str, list[tuple]] = {
        "registered_models": [],
        "model_versions": [],
        "registered_model_tags": [],
        "model_version_tags": [],
        "registered_model_aliases": [],
    }
    for m in c.search_registered_models(max_results=1000):
        out["registered_models"].append(
            (m.name, m.creation_timestamp, m.last_updated_timestamp, m.description)
        )
        out["registered_model_tags"] += [(m.name, k, v) for k, v in m.tags.items()]
        out["registered_model_aliases"] += [(m.name, a, int(v)) for a, v in m.aliases.items()]
        for v in c.search_model_versions(f"name = '{m.name}'"):
            n = int(v.version)
            out["model_versions"].append(
                (
                    v.name,
                    n,
                    v.creation_timestamp,
                    v.last_updated_timestamp,
                    v.description,
                    v.user_id,
                    v.current_stage,
                    v.source,
                    v.run_id,
                    v.run_link,
                    v.status,
                    v.status_message,
                    v.model_id,
                )
            )
            out["model_version_tags"] += [(v.name, n, k, val) for k, val in v.tags.items()]
    return {k: sorted(v, key=repr) for k, v in out.items()}


def mirror_view(url: str) -> dict[str, list[tuple]]:
    q = {
        "registered_models": "SELECT name, creation_time, last_updated_time, description "
        "FROM registered_models",
        "model_versions": "SELECT name, version, creation_time, last_updated_time, description, "
        "user_id, current_stage, source, run_id, run_link, status, status_message, model_id "
        "FROM model_versions",
        "registered_model_tags": "SELECT name, tag_key, value FROM registered_model_tags",
        "model_version_tags": "SELECT name, version, tag_key, value FROM model_version_tags",
        "registered_model_aliases": "SELECT name, alias, version FROM registered_model_aliases",
    }
    return {k: sorted(rows(url, sql), key=repr) for k, sql in q.items()}


def test_registry_tables_hold_what_the_client_returns(db, repo):
    c = Client(str(repo))
    run_id = c.create_run("0").info.run_id
    c.log_text(
        run_id, 'flavors: {}\nsignature:\n  inputs: \'[{"type": "double"}]\'\n', "model/MLmodel"
    )
    c.create_registered_model("churn", tags={"team": "growth"}, description="predicts churn")
    c.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id, tags={"k": "v"})
    c.create_model_version("churn", "s3://bucket/churn/2", description="second")
    c.create_model_version("churn", "s3://bucket/churn/3")
    c.set_registered_model_alias("churn", "champion", "2")
    c.transition_model_version_stage("churn", "1", "Staging")
    c.create_registered_model("naïve bayes — v2 ✓")  # unicode and spaces
    c.create_model_version("naïve bayes — v2 ✓", "s3://bucket/nb")
    c.create_registered_model("gone")
    c.delete_registered_model("gone")
    report = sync_to(db, repo)
    assert report.registered_models == 2
    assert "2 registered models" in report.summary()
    expected = client_view(c)
    assert len(expected["model_versions"]) == 4
    assert mirror_view(db) == expected

    # every kind of change follows: a deleted version, a moved alias, tags, a rename
    c.delete_model_version("churn", "3")
    c.set_registered_model_alias("churn", "champion", "1")
    c.set_model_version_tag("churn", "2", "validated", "yes")
    c.delete_registered_model_tag("churn", "team")
    c.rename_registered_model("naïve bayes — v2 ✓", "nb")
    report = sync_to(db, repo)
    assert mirror_view(db) == client_view(c)
    assert ("churn", "champion", 1) in mirror_view(db)["registered_model_aliases"]
    # an unchanged registry is not rewritten
    again = sync_to(db, repo)
    assert again.registered_models is None and not again.changed


def test_cli_json_report_counts_registered_models(repo, tmp_path):
    c = Client(str(repo))
    c.create_registered_model("m")
    c.create_model_version("m", "s3://x")
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    res = run_cli("sync", url, "--json", cwd=repo)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.splitlines()[-1])
    assert report["registered_models"] == 1
    assert report["rows"]["model_versions"] == 1
    assert rows(url, "SELECT name, version, source FROM model_versions") == [("m", 1, "s3://x")]
