"""The model registry through gittrack's own REST client, against a real ``gittrack server``:
register_model, aliases, loading ``models:/`` URIs, search, delete — and the same answers
as the local Client reading the server's repository."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import gittrack
from gittrack.api.client import Client
from gittrack.errors import GittrackError
from gittrack.rest.client import RestClient
from tests.server_helpers import serve_new_repo


@pytest.fixture
def served(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "GITTRACK_TRACKING_URI", "GITTRACK_REPO"):
        monkeypatch.delenv(var, raising=False)
    with serve_new_repo(tmp_path) as srv:
        monkeypatch.setenv("GITTRACK_TRACKING_URI", srv.url)
        yield srv


def _fields(mv):
    return (mv.name, mv.version, mv.source, mv.run_id, mv.current_stage, mv.tags, mv.aliases)


def test_registry_over_rest_matches_local_client(served, tmp_path):
    from sklearn.linear_model import LinearRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LinearRegression().fit(X, np.array([1.0, 3.0, 5.0, 7.0]))
    with gittrack.start_run() as run:
        info = gittrack.sklearn.log_model(model, name="model")
    assert info.model_uri == f"runs:/{run.info.run_id}/model"

    v1 = gittrack.register_model(info.model_uri, "reg", tags={"team": "a"})
    v2 = gittrack.register_model(info.model_uri, "reg")
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.source == info.model_uri and v1.run_id == run.info.run_id
    assert v1.tags == {"team": "a"}

    rest = RestClient(served.url)
    rest.set_registered_model_alias("reg", "champion", 1)
    rest.set_registered_model_tag("reg", "owner", "me")
    rest.set_model_version_tag("reg", "2", "ok", "yes")
    rest.update_registered_model("reg", description="linear")
    rest.transition_model_version_stage("reg", "2", "Staging")
    rest.set_model_version_tag("reg", key="stage_tag", value="s", stage="Staging")
    assert rest.get_model_version("reg", "2").tags == {"ok": "yes", "stage_tag": "s"}
    rest.delete_model_version_tag("reg", key="stage_tag", stage="Staging")

    want = model.predict(X)
    by_alias = gittrack.sklearn.load_model("models:/reg@champion", dst_path=str(tmp_path / "a"))
    np.testing.assert_allclose(by_alias.predict(X), want)
    by_version = gittrack.pyfunc.load_model("models:/reg/1", dst_path=str(tmp_path / "b"))
    np.testing.assert_allclose(np.asarray(by_version.predict(X)).ravel(), want)
    latest = gittrack.sklearn.load_model("models:/reg/latest", dst_path=str(tmp_path / "c"))
    np.testing.assert_allclose(latest.predict(X), want)

    rm = rest.get_registered_model("reg")
    assert rm.aliases == {"champion": "1"}
    assert rm.tags == {"owner": "me"} and rm.description == "linear"
    assert rest.get_model_version_by_alias("reg", "champion").version == "1"
    assert [v.version for v in rest.get_latest_versions("reg", ["Staging"])] == ["2"]
    assert rest.get_model_version_download_uri("reg", "1").startswith("mlflow-artifacts:")
    found = rest.search_model_versions("name = 'reg'", order_by=["version_number DESC"])
    assert [v.version for v in found] == ["2", "1"]
    assert [m.name for m in rest.search_registered_models("name LIKE 're%'")] == ["reg"]

    # a bad input: an alias to a version that does not exist, named in the error
    with pytest.raises(GittrackError) as err:
        rest.set_registered_model_alias("reg", "broken", 7)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "reg" in str(err.value) and "7" in str(err.value)
    with pytest.raises(GittrackError) as err:
        rest.get_registered_model("nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "nope" in str(err.value)

    # the local Client on the server's repository answers the same
    local = Client(served.repo)
    lrm = local.get_registered_model("reg")
    assert rm.to_dict() == lrm.to_dict()
    for n in ("1", "2"):
        assert (
            rest.get_model_version("reg", n).to_dict()
            == local.get_model_version("reg", n).to_dict()
        )
    assert [v.to_dict() for v in found] == [
        v.to_dict()
        for v in local.search_model_versions("name = 'reg'", order_by=["version_number DESC"])
    ]

    # deletes
    rest.delete_registered_model_alias("reg", "champion")
    rest.delete_model_version_tag("reg", "2", "ok")
    rest.delete_registered_model_tag("reg", "owner")
    rest.delete_model_version("reg", "1")
    assert [v.version for v in rest.search_model_versions("name = 'reg'")] == ["2"]
    assert rest.get_registered_model("reg").to_dict() == local.get_registered_model("reg").to_dict()
    renamed = rest.rename_registered_model("reg", "reg2")
    assert renamed.name == "reg2"
    rest.delete_registered_model("reg2")
    assert list(rest.search_registered_models()) == []
    assert list(local.search_registered_models()) == []
    rest.close()


def test_runs_and_models_uris_load_through_the_servers_proxy_with_no_local_repository(
    tmp_path, monkeypatch
):
    """Only ``MLFLOW_TRACKING_URI`` names a ``gittrack server``, the working directory is in
    no git repository: ``runs:/`` and ``models:/`` models load and artifacts download through
    the server's artifact proxy, laid out as MLflow's client and gittrack's local Client lay
    them out."""
    import mlflow
    from sklearn.linear_model import LinearRegression

    from tests.conftest import mlflow_uris_restored

    for var in ("MLFLOW_TRACKING_URI", "GITTRACK_TRACKING_URI", "GITTRACK_REPO"):
        monkeypatch.delenv(var, raising=False)
    away = tmp_path / "away"
    (away / "notes").mkdir(parents=True)
    (away / "notes" / "a.txt").write_text("first")
    (away / "notes" / "deep").mkdir()
    (away / "notes" / "deep" / "b.txt").write_text("second")
    monkeypatch.chdir(away)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LinearRegression().fit(X, np.array([1.0, 3.0, 5.0, 7.0]))
    with serve_new_repo(tmp_path / "server") as srv:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
        with gittrack.start_run() as run:
            info = gittrack.sklearn.log_model(model, name="model")
            gittrack.log_artifacts(str(away / "notes"), "notes")
        rid = run.info.run_id
        with pytest.raises(GittrackError):  # no repository here: nothing read locally
            Client()
        want = model.predict(X)
        got = gittrack.sklearn.load_model(info.model_uri, dst_path=str(tmp_path / "m1"))
        np.testing.assert_allclose(got.predict(X), want)
        py = gittrack.pyfunc.load_model(f"runs:/{rid}/model", dst_path=str(tmp_path / "m2"))
        np.testing.assert_allclose(np.asarray(py.predict(X)).ravel(), want)
        gittrack.register_model(info.model_uri, "served")
        got = gittrack.pyfunc.load_model("models:/served/1", dst_path=str(tmp_path / "m3"))
        np.testing.assert_allclose(np.asarray(got.predict(X)).ravel(), want)

        listed = gittrack.list_artifacts(run_id=rid, artifact_path="notes")
        assert [(f.path, f.is_dir) for f in listed] == [
            ("notes/a.txt", False),
            ("notes/deep", True),
        ]
        with mlflow_uris_restored():
            mlflow.set_tracking_uri(srv.url)
            theirs = [
                (f.path, f.is_dir)
                for f in mlflow.artifacts.list_artifacts(run_id=rid, artifact_path="notes")
            ]
            assert [(f.path, f.is_dir) for f in listed] == theirs
            for what in ("notes", "model", ""):
                ours = gittrack.artifacts.download_artifacts(
                    run_id=rid, artifact_path=what, dst_path=str(tmp_path / "ours" / what)
                )
                mine = mlflow.artifacts.download_artifacts(
                    run_id=rid, artifact_path=what, dst_path=str(tmp_path / "theirs" / what)
                )
                assert os.path.relpath(ours, tmp_path / "ours") == os.path.relpath(
                    mine, tmp_path / "theirs"
                ), what
                assert _tree(ours) == _tree(mine), what
        # a file inside folders: <dst>/<path>, the local Client's layout on the same repository
        # (MLflow 3 keeps only the file's name there: <dst>/b.txt)
        nested = "notes/deep/b.txt"
        over_rest = gittrack.artifacts.download_artifacts(
            run_id=rid, artifact_path=nested, dst_path=str(tmp_path / "rest")
        )
        local = Client(srv.repo).download_artifacts(rid, nested, str(tmp_path / "local"))
        assert os.path.relpath(over_rest, tmp_path / "rest") == nested
        assert os.path.relpath(local, tmp_path / "local") == nested
        assert Path(over_rest).read_text() == "second"
        with pytest.raises(GittrackError) as err:
            gittrack.artifacts.download_artifacts(run_id=rid, artifact_path="missing.txt")
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "missing.txt" in str(err.value)


def _tree(path: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file at or under ``path``."""
    p = Path(path)
    if p.is_file():
        return {p.name: p.read_bytes()}
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def test_a_model_mlflow_logged_to_the_server_loads_by_run_and_by_id(tmp_path, monkeypatch):
    """MLflow 3 logs a model into a ``gittrack server`` (its files go with the logged model,
    not the run); with only the server's URI, gittrack loads ``runs:/<run>/model`` (MLflow 3's
    rule: the run's model of that name) and ``models:/m-<id>`` through the artifact proxy."""
    import json

    from tests.conftest import python_with_mlflow_at

    for var in ("MLFLOW_TRACKING_URI", "GITTRACK_TRACKING_URI", "GITTRACK_REPO"):
        monkeypatch.delenv(var, raising=False)
    away = tmp_path / "away"
    away.mkdir()
    monkeypatch.chdir(away)
    code = (
        "import json, mlflow, mlflow.sklearn, numpy as np\n"
        "from sklearn.linear_model import LinearRegression\n"
        "x = np.arange(20, dtype=float).reshape(10, 2)\n"
        "with mlflow.start_run() as run:\n"
        "    info = mlflow.sklearn.log_model(LinearRegression().fit(x, x.sum(1)), name='model',\n"
        "                                    pip_requirements=['scikit-learn'])\n"
        "print(json.dumps([info.model_id, run.info.run_id]))\n"
    )
    with serve_new_repo(tmp_path / "server") as srv:
        out = python_with_mlflow_at(srv.url, code, away)
        model_id, rid = json.loads(out.splitlines()[-1])
        monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
        x = np.array([[1.0, 2.0], [3.0, 4.0]])
        for uri in (f"runs:/{rid}/model", f"models:/{model_id}"):
            np.testing.assert_allclose(gittrack.sklearn.load_model(uri).predict(x), [3.0, 7.0])
            got = gittrack.pyfunc.load_model(uri).predict(x)
            np.testing.assert_allclose(np.asarray(got).ravel(), [3.0, 7.0])
        mlmodel = gittrack.artifacts.download_artifacts(
            run_id=rid, artifact_path="model/MLmodel", dst_path=str(tmp_path / "dl")
        )
        assert Path(mlmodel) == tmp_path / "dl" / "model" / "MLmodel"
        assert f"model_id: {model_id}" in Path(mlmodel).read_text()
        with pytest.raises(GittrackError) as err:
            gittrack.sklearn.load_model(f"runs:/{rid}/other")
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "other" in str(err.value)
