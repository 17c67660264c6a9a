"""The model registry through gittrack's own REST client, against a real ``gittrack server``:
register_model, aliases, loading ``models:/`` URIs, search, delete — and the same answers
as the local Client reading the server's repository."""

from __future__ import annotations

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
