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
        ("bad\udcff", r"Invalid model name b'bad\\xff': not valid unicode"),
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
    assert [v.version for v in c.search_model_versions("name='m'", order_by=["name"])] == [
        "4",
        "3",
        "1",
    ]
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
    vs = c.search_model_versions(
        "name IN ('model-2', 'model-3') AND version_number >= 2", order_by=["name"]
    )
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


def test_register_a_missing_run_leaves_no_model(repo):
    with pytest.raises(RunNotFound):
        gittrack.register_model("runs:/feedfeedfeedfeedfeedfeedfeedfeed/model", "other")
    assert git(repo, "for-each-ref", "refs/gittrack/registry") == ""


def test_cli_register_alias_show_list(repo, logged):
    import json

    from click.testing import CliRunner

    from gittrack.cli import cli

    run_id, _, _ = logged

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), prog_name="gittrack")

    r = invoke("models", "register", run_id, "it's ok")
    assert r.exit_code == 0 and "Versions:" in invoke("models", "show", "it's ok").stdout
    r = invoke("models", "register", run_id[:8], "fraud detector")
    assert (r.exit_code, r.stdout) == (
        0,
        f"Registered fraud detector version 1 from runs:/{run_id}/model\n",
    )
    assert invoke("models", "register", f"runs:/{run_id}/model", "fraud detector").exit_code == 0
    r = invoke("models", "alias", "fraud detector", "champion", "1")
    assert (r.exit_code, r.stdout) == (0, "fraud detector@champion: v1\n")
    r = invoke("models", "alias", "fraud detector", "champion", "2")
    assert (r.exit_code, r.stdout) == (0, "fraud detector@champion: v2 (was v1)\n")

    r = invoke("models", "show", "fraud detector")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "Aliases: champion=v2" in lines
    history = lines[lines.index("Alias history (git log of the model's ref):") + 1 :]
    assert history[0].split()[:2] == ["TIME", "ALIAS"]
    assert [line.split()[2:6] for line in history[1:]] == [
        ["champion", "v1", "->", "v2"],
        ["champion", "set", "->", "v1"],
    ]
    data = json.loads(invoke("models", "show", "fraud detector", "--format", "json").stdout)
    assert [v["version"] for v in data["versions"]] == ["2", "1"]
    assert [(e["old"], e["new"]) for e in data["alias_history"]] == [(None, 1), (1, 2)]
    assert data["registered_model"]["aliases"] == [{"alias": "champion", "version": "2"}]

    listed = json.loads(invoke("models", "list", "--format", "json").stdout)
    assert [m["name"] for m in listed] == ["fraud detector", "it's ok"]
    table = invoke("models").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "LATEST_VERSION", "ALIASES"]
    assert table[1].startswith("fraud detector  2")

    # bad input: Error: ... on stderr, exit 1, nothing changed
    before = git(repo, "rev-parse", registry_ref("fraud detector"))
    for args, words in [
        (["models", "alias", "fraud detector", "champion", "9"], "version=9) not found"),
        (["models", "show", "nope"], "Registered Model with name=nope not found"),
        (["models", "register", "ffffffff", "x"], "Run 'ffffffff' not found"),
        (["models", "register", f"{run_id}/nothing", "x"], "has no model at 'nothing'"),
        (["models", "register", run_id, "a/b"], "Names cannot contain '/' or ':'"),
    ]:
        r = invoke(*args)
        assert r.exit_code == 1 and r.stderr.startswith("Error: ") and words in r.stderr, r.output
    assert invoke("models", "alias", "fraud detector", "champion").exit_code == 2
    assert git(repo, "rev-parse", registry_ref("fraud detector")) == before
    r = invoke("models", "alias", "fraud detector", "champion", "--delete")
    assert (r.exit_code, r.stdout) == (0, "fraud detector@champion: removed (was v2)\n")


def test_concurrent_writers_lose_nothing(repo):
    """Four processes add versions, tags and aliases to one model at once: every version
    gets its own number and every change is a commit of its own on the ref."""
    import subprocess
    import sys

    Client().create_registered_model("shared")
    script = (
        "import sys\n"
        "from gittrack import Client\n"
        "c = Client()\n"
        "w = sys.argv[1]\n"
        "for i in range(5):\n"
        "    v = c.create_model_version('shared', f's3://b/{w}/{i}')\n"
        "    c.set_registered_model_tag('shared', f'{w}-{i}', v.version)\n"
        "    c.set_registered_model_alias('shared', f'w{w}', v.version)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], cwd=repo) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    c = Client()
    versions = c.search_model_versions("name = 'shared'", order_by=["version_number"])
    assert [v.version for v in versions] == [str(n) for n in range(1, 21)]
    assert sorted(v.source for v in versions) == sorted(
        f"s3://b/{w}/{i}" for w in range(4) for i in range(5)
    )
    model = c.get_registered_model("shared")
    assert len(model.tags) == 20
    # each writer's alias points at its own last version
    by_source = {v.source: v.version for v in versions}
    assert model.aliases == {f"w{w}": by_source[f"s3://b/{w}/4"] for w in range(4)}
    assert len(_log(repo, registry_ref("shared"))) == 1 + 20 * 3


def test_hostile_registry_records_are_refused_and_named(repo):
    """Crafted registry refs (an alias bomb, bytes that are not UTF-8, a record under another
    name's ref, an alias that is not a number) are refused where they are read; the listing
    names them and still lists the good models."""
    import yaml
    from click.testing import CliRunner

    from gittrack.cli import cli
    from gittrack.errors import CorruptRecord
    from tests.hostile import craft_ref

    c = Client()
    c.create_registered_model("good")

    def model(name: str, **extra) -> bytes:
        rec = {"format": 1, "name": name, "tags": {}, "aliases": {}, "deleted": False}
        rec.update(extra)
        return yaml.safe_dump(rec).encode()

    bomb = (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nname: bomb\n"
    )
    craft_ref(repo, registry_ref("bomb"), {"registered_model.yaml": bomb})
    craft_ref(
        repo,
        registry_ref("bytes"),
        {
            "registered_model.yaml": model("bytes"),
            "versions/1.yaml": b"name: \xff\xfe\nversion: 1\n",
        },
    )
    craft_ref(repo, registry_ref("impostor"), {"registered_model.yaml": model("good")})
    craft_ref(
        repo,
        registry_ref("alias"),
        {"registered_model.yaml": model("alias", aliases={"c": "../x"})},
    )
    for name, words in [
        ("bomb", "not valid safe YAML"),
        ("bytes", "versions/1.yaml"),
        ("alias", "alias 'c' points at '../x'"),
    ]:
        with pytest.raises(CorruptRecord, match=words) as err:
            c.get_registered_model(name)
        assert err.value.http_status == 400
    r = CliRunner().invoke(cli, ["models", "--format", "json"], prog_name="gittrack")
    assert r.exit_code == 0
    import json

    assert [m["name"] for m in json.loads(r.stdout)] == ["good"]
    for name in ("bomb", "bytes", "impostor", "alias"):
        assert f"warning: {registry_ref(name)} skipped" in r.stderr
    r = CliRunner().invoke(cli, ["models", "show", "bomb"], prog_name="gittrack")
    assert r.exit_code == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.output


def test_non_utf8_name_from_the_command_line(repo, logged):
    """A name given as bytes that are not UTF-8 (argv decoded with surrogateescape) is refused
    with a clear message by a real ``python -m gittrack``."""
    import subprocess
    import sys

    run_id, _, _ = logged
    r = subprocess.run(
        [sys.executable, "-m", "gittrack", "models", "register", run_id.encode(), b"caf\xe9"],
        capture_output=True,
        cwd=repo,
        timeout=120,
    )
    assert r.returncode == 1
    assert b"Error: Invalid model name b'caf\\xe9': not valid unicode" in r.stderr, r.stderr
    assert git(repo, "for-each-ref", "refs/gittrack/registry") == ""


def test_register_and_load_a_logged_model_mlflow_wrote(repo):
    """A LoggedModel MLflow itself logged into git (``models:/m-<id>``) registers as a version
    whose run is the model's; ``load_model`` loads it by id, by version and by alias."""
    import os
    import subprocess
    import sys

    pytest.importorskip("mlflow")
    script = repo / "log.py"
    script.write_text(
        "import mlflow, mlflow.sklearn, numpy as np\n"
        "from sklearn.linear_model import LinearRegression\n"
        "x = np.arange(20, dtype=float).reshape(10, 2)\n"
        "with mlflow.start_run() as run:\n"
        "    info = mlflow.sklearn.log_model(LinearRegression().fit(x, x.sum(1)), name='lr', serialization_format='cloudpickle')\n"
        "print(info.model_id, run.info.run_id)\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"gittrack://{repo}"}
    out = subprocess.run(
        [sys.executable, "log.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    model_id, run_id = out.stdout.split()[-2:]
    v = gittrack.register_model(f"models:/{model_id}", "lr")
    assert (v.version, v.run_id, v.model_id, v.source) == (
        "1",
        run_id,
        model_id,
        f"models:/{model_id}",
    )
    Client().set_registered_model_alias("lr", "prod", 1)
    x = np.array([[1.0, 2.0]])
    for uri in (f"models:/{model_id}", "models:/lr/1", "models:/lr@prod"):
        np.testing.assert_allclose(gittrack.load_model(uri).predict(x), [3.0])
    with pytest.raises(NotFound, match="m-0000"):
        gittrack.register_model("models:/m-00000000000000000000000000000000", "lr")
    assert [v.version for v in Client().search_model_versions("name = 'lr'")] == ["1"]


def test_rename_onto_a_deleted_name_keeps_its_ref_moving_forward(repo):
    c = Client()
    c.create_registered_model("x", description="old x")
    c.delete_registered_model("x")
    old_tip = git(repo, "rev-parse", registry_ref("x")).strip()
    c.create_registered_model("a")
    c.create_model_version("a", "s3://b/1")
    c.rename_registered_model("a", "x")
    # fast-forward: the deleted model's history is still an ancestor of the ref
    git(repo, "merge-base", "--is-ancestor", old_tip, registry_ref("x"))
    assert c.get_model_version("x", 1).source == "s3://b/1"
    assert _log(repo, f"{registry_ref('x')}")[0] == "x: rename from a"
    assert [
        e
        for e in git(repo, "log", "--first-parent", "--format=%s", registry_ref("x")).split("\n")
        if e
    ] == [
        "x: rename from a",
        "a: version 1: create from s3://b/1",
        "a: create",
    ]
    # a name whose deleted versions keep their numbers cannot be renamed onto
    c.create_registered_model("y")
    c.create_model_version("y", "s3://b/y")
    c.delete_registered_model("y")
    with pytest.raises(AlreadyExists, match="tombstones of versions 1"):
        c.rename_registered_model("x", "y")


def test_a_deleted_name_created_again_never_reuses_a_number(repo):
    c = Client()
    c.create_registered_model("m")
    c.create_model_version("m", "s3://b/1")
    c.set_registered_model_alias("m", "prod", 1)
    c.delete_registered_model("m")
    with pytest.raises(RegisteredModelNotFound):
        c.get_registered_model("m")
    with pytest.raises(ModelVersionNotFound):
        c.get_model_version("m", 1)
    assert c.search_registered_models() == [] and c.search_model_versions() == []
    again = c.create_registered_model("m")
    assert (again.aliases, again.latest_versions) == ({}, [])
    # MLflow's SQL store would start again at 1; here v1 stays the deleted model's
    assert c.create_model_version("m", "s3://b/new").version == "2"
    old = git(repo, "show", f"{registry_ref('m')}:versions/1.yaml")
    assert "deleted: true" in old and "REDACTED-SOURCE-PATH" in old
    assert _log(repo, registry_ref("m"))[:3] == [
        "m: version 2: create from s3://b/new",
        "m: create",
        "m: delete",
    ]
