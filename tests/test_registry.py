"""The model registry in git: records, Client methods, register_model, models:/ URIs."""

from __future__ import annotations

import numpy as np
import pytest

import gittrack
from gittrack import Client
from gittrack.errors import (
    AlreadyExists,
    InvalidParameter,
    ModelVersionNotFound,
    NotFound,
    RegisteredModelNotFound,
    RunNotFound,
)
from gittrack.layout import registry_ref
from tests.conftest import git


@pytest.fixture
def fitted():
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(10, 2)
    y = x @ np.array([1.5, -2.0]) + 3
    return LinearRegression().fit(x, y), x


@pytest.fixture
def logged(repo, fitted):
    """A finished run with a scikit-learn model at ``model``; returns (run_id, model, x)."""
    model, x = fitted
    with gittrack.start_run() as run:
        gittrack.log_model(model, "model", input_example=x[:2])
    return run.info.run_id, model, x


def _log(repo, ref: str) -> list[str]:
    return git(repo, "log", "--format=%s", ref).splitlines()


def test_register_version_alias_and_load(repo, logged):
    run_id, model, x = logged
    v1 = gittrack.register_model(f"runs:/{run_id}/model", "house prices")
    assert (v1.name, v1.version, v1.run_id, v1.current_stage) == (
        "house prices",
        "1",
        run_id,
        "None",
    )
    assert v1.source == f"runs:/{run_id}/model"
    assert '"shape": [-1, 2]' in Client().get_model_version("house prices", 1).signature["inputs"]
    v2 = gittrack.register_model(f"runs:/{run_id[:10]}/model", "house prices", tags={"t": "x"})
    assert v2.version == "2" and v2.source == f"runs:/{run_id}/model" and v2.tags == {"t": "x"}

    c = Client()
    c.set_registered_model_alias("house prices", "champion", "1")
    c.set_registered_model_alias("house prices", "champion", 2)
    assert c.get_model_version_by_alias("house prices", "champion").version == "2"
    assert c.get_registered_model("house prices").aliases == {"champion": "2"}
    assert c.get_model_version("house prices", "2").aliases == ["champion"]

    for uri in (
        "models:/house prices/1",
        "models:/house prices@champion",
        "models:/house prices/latest",
    ):
        np.testing.assert_allclose(gittrack.load_model(uri).predict(x), model.predict(x))
    np.testing.assert_allclose(
        gittrack.pyfunc.load_model("models:/house prices@champion").predict(x), model.predict(x)
    )
    np.testing.assert_allclose(
        gittrack.sklearn.load_model("models:/house prices/2").predict(x), model.predict(x)
    )

    # every change is one commit on the model's ref; git log is its history
    assert _log(repo, registry_ref("house prices")) == [
        "house prices: alias champion: 1 -> 2",
        "house prices: alias champion: (none) -> 1",
        "house prices: version 2: create from " + f"runs:/{run_id}/model",
        "house prices: version 1: create from " + f"runs:/{run_id}/model",
        "house prices: create",
    ]
    moves = [(e["alias"], e["old"], e["new"]) for e in c.registry.alias_history("house prices")]
    assert moves == [("champion", None, 1), ("champion", 1, 2)]
    tree = git(repo, "ls-tree", "-r", "--name-only", registry_ref("house prices")).split()
    assert tree == ["registered_model.yaml", "versions/1.yaml", "versions/2.yaml"]


def test_bad_sources_store_nothing(repo, logged):
    run_id, _, _ = logged
    c = Client()
    c.create_registered_model("m")
    before = git(repo, "rev-parse", registry_ref("m"))
    with pytest.raises(RunNotFound):
        c.create_model_version("m", "runs:/0123456789abcdef0123456789abcdef/model")
    with pytest.raises(InvalidParameter, match="has no model at 'nothing'"):
        c.create_model_version("m", f"runs:/{run_id}/nothing")
    with pytest.raises(RunNotFound):
        gittrack.register_model("runs:/feedfeedfeedfeedfeedfeedfeedfeed/model", "other")
    assert git(repo, "rev-parse", registry_ref("m")) == before
    assert c.search_model_versions("name = 'm'") == []
    # any other source is recorded as given (as MLflow)
    v = c.create_model_version("m", "s3://bucket/some/model", run_link="http://x")
    assert (v.version, v.source, v.run_id, v.run_link) == (
        "1",
        "s3://bucket/some/model",
        None,
        "http://x",
    )


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("a/b", "Names cannot contain '/' or ':'"),
        ("a:b", "Names cannot contain '/' or ':'"),
        ("x" * 1000, "1000 characters, over the limit of 256"),
        ("bad\udcff", "lone surrogate"),
        ("", "Missing value for required parameter 'name'"),
        ("   ", "Missing value for required parameter 'name'"),
        ("..", "would resolve to"),
    ],
)
def test_bad_names(repo, name, match):
    c = Client()
    with pytest.raises(InvalidParameter, match=match) as err:
        c.create_registered_model(name)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert git(repo, "for-each-ref", "refs/gittrack/registry") == ""


def test_names_with_spaces_and_unicode(repo):
    c = Client()
    for name in ("with spaces", "modèle ünïcode 模型", "x" * 256):
        assert c.create_registered_model(name).name == name
        assert c.get_registered_model(name).name == name
    with pytest.raises(
        AlreadyExists, match=r"Registered Model \(name=with spaces\) already exists"
    ):
        c.create_registered_model("with spaces")
    assert [m.name for m in c.search_registered_models()] == sorted(
        ["with spaces", "modèle ünïcode 模型", "x" * 256]
    )


def test_aliases_bad_input(repo, logged):
    run_id, _, _ = logged
    c = Client()
    c.create_registered_model("m")
    c.create_model_version("m", f"runs:/{run_id}/model")
    with pytest.raises(
        ModelVersionNotFound, match=r"Model Version \(name=m, version=7\) not found"
    ):
        c.set_registered_model_alias("m", "champion", 7)
    with pytest.raises(InvalidParameter, match="'latest' alias name"):
        c.set_registered_model_alias("m", "Latest", 1)
    with pytest.raises(InvalidParameter, match="Version alias name 'v1' is reserved"):
        c.set_registered_model_alias("m", "v1", 1)
    with pytest.raises(InvalidParameter, match="Invalid alias name: 'a b'"):
        c.set_registered_model_alias("m", "a b", 1)
    with pytest.raises(InvalidParameter, match="must be an integer, got 'one'"):
        c.set_registered_model_alias("m", "champion", "one")
    with pytest.raises(RegisteredModelNotFound):
        c.set_registered_model_alias("nope", "champion", 1)
    with pytest.raises(InvalidParameter, match="Registered model alias champion not found"):
        c.get_model_version_by_alias("m", "champion")
    assert c.get_registered_model("m").aliases == {}


def test_delete_version_drops_its_aliases(repo, logged):
    run_id, _, _ = logged
    c = Client()
    c.create_registered_model("m")
    for _ in range(3):
        c.create_model_version("m", f"runs:/{run_id}/model")
    c.set_registered_model_alias("m", "champion", 2)
    c.set_registered_model_alias("m", "backup", 3)
    c.delete_model_version("m", 2)
    assert c.get_registered_model("m").aliases == {"backup": "3"}
    with pytest.raises(ModelVersionNotFound):
        c.get_model_version("m", 2)
    # numbers are never reused: the tombstone keeps 2
    assert c.create_model_version("m", f"runs:/{run_id}/model").version == "4"
    assert [v.version for v in c.search_model_versions("name='m'")] == ["4", "3", "1"]
    assert _log(repo, registry_ref("m"))[1] == "m: version 2: delete (aliases champion removed)"
    # the deleted version's file stays in the tree as a tombstone
    assert "deleted: true" in git(repo, "show", f"{registry_ref('m')}:versions/2.yaml")


def test_model_crud_tags_and_rename(repo, logged):
    run_id, _, _ = logged
    c = Client()
    c.create_registered_model("a", tags={"team": "x"}, description="first")
    c.create_model_version("a", f"runs:/{run_id}/model", description="v1")
    c.set_registered_model_tag("a", "stage", "dev")
    c.delete_registered_model_tag("a", "team")
    c.delete_registered_model_tag("a", "missing")  # nothing to delete: no error (as MLflow)
    assert c.update_registered_model("a", "second").description == "second"
    assert c.update_model_version("a", 1, "v1 better").description == "v1 better"
    c.set_model_version_tag("a", "1", "k", "v")
    c.set_registered_model_alias("a", "prod", 1)
    renamed = c.rename_registered_model("a", "b")
    assert (renamed.name, renamed.tags, renamed.aliases) == ("b", {"stage": "dev"}, {"prod": "1"})
    with pytest.raises(RegisteredModelNotFound, match="name=a not found"):
        c.get_registered_model("a")
    v = c.get_model_version("b", 1)
    assert (v.name, v.tags, v.description, v.aliases) == ("b", {"k": "v"}, "v1 better", ["prod"])
    # the new ref's log continues the old one
    assert _log(repo, registry_ref("b"))[:2] == ["b: rename from a", "a: alias prod: (none) -> 1"]
    c.create_registered_model("c")
    with pytest.raises(AlreadyExists):
        c.rename_registered_model("b", "c")
    c.delete_registered_model("b")
    with pytest.raises(RegisteredModelNotFound):
        c.get_registered_model("b")
    assert [m.name for m in c.search_registered_models()] == ["c"]


def test_stages_and_latest_versions(repo, logged):
    run_id, _, _ = logged
    c = Client()
    c.create_registered_model("m")
    for _ in range(3):
        c.create_model_version("m", f"runs:/{run_id}/model")
    c.transition_model_version_stage("m", 1, "production")
    c.transition_model_version_stage("m", 2, "Staging")
    assert [(v.version, v.current_stage) for v in c.get_latest_versions("m", ["Production"])] == [
        ("1", "Production")
    ]
    assert {v.version for v in c.get_latest_versions("m")} == {"1", "2", "3"}
    mv = c.transition_model_version_stage("m", 3, "Production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert c.get_model_version("m", 1).current_stage == "Archived"
    with pytest.raises(InvalidParameter, match="Invalid Model Version stage: Prod"):
        c.transition_model_version_stage("m", 1, "Prod")
    with pytest.raises(InvalidParameter, match="not an Active stage"):
        c.transition_model_version_stage("m", 1, "Archived", archive_existing_versions=True)
    assert c.get_model_version_by_alias("m", "latest").version == "3"
    assert gittrack.Client().resolve_model_uri("models:/m/Production").version == "3"
    with pytest.raises(InvalidParameter, match="Invalid Model Version stage: Staging2"):
        c.resolve_model_uri("models:/m/Staging2")
    with pytest.raises(NotFound, match="stage 'None'"):
        c.resolve_model_uri("models:/m/None")


def test_search_filters_and_pages(repo):
    c = Client()
    for i in range(5):
        c.create_registered_model(f"model-{i}", tags={"even": str(i % 2 == 0)})
        for _ in range(i):
            c.create_model_version(f"model-{i}", f"s3://b/{i}")
    assert [
        m.name for m in c.search_registered_models("name LIKE 'model-%' AND tags.even = 'True'")
    ] == [
        "model-0",
        "model-2",
        "model-4",
    ]
    assert [m.name for m in c.search_registered_models("name ILIKE 'MODEL-1'")] == ["model-1"]
    first = c.search_registered_models(max_results=2, order_by=["name DESC"])
    assert [m.name for m in first] == ["model-4", "model-3"] and first.token
    rest = c.search_registered_models(
        max_results=10, order_by=["name DESC"], page_token=first.token
    )
    assert [m.name for m in rest] == ["model-2", "model-1", "model-0"] and rest.token is None
    vs = c.search_model_versions("name IN ('model-2', 'model-3') AND version_number >= 2")
    assert [(v.name, v.version) for v in vs] == [
        ("model-2", "2"),
        ("model-3", "3"),
        ("model-3", "2"),
    ]
    assert len(c.search_model_versions("source_path = 's3://b/4'")) == 4
    with pytest.raises(InvalidParameter, match="invalid attribute key 'foo'"):
        c.search_registered_models("foo = 'x'")
    with pytest.raises(InvalidParameter, match="between 1 and 1000"):
        c.search_registered_models(max_results=1001)
    with pytest.raises(InvalidParameter, match="IS NULL is not supported"):
        c.search_model_versions("tags.x IS NULL")
