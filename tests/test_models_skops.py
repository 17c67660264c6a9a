"""scikit-learn models in MLflow 3's default ``skops`` format, both ways: a model MLflow itself
logs into a gittrack repository (through the plugin) loads with ``gittrack.sklearn`` and
``gittrack.pyfunc``, and a model gittrack logs with ``serialization_format="skops"`` loads with
``mlflow.sklearn`` and ``mlflow.pyfunc``. Types the model's ``skops_trusted_types`` do not list
are refused, as MLflow's loader refuses them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gittrack
import gittrack.pyfunc
import gittrack.sklearn
from gittrack.errors import InvalidParameter, MissingDependency
from tests.conftest import init_project, python_with_mlflow_at

pytest.importorskip("mlflow")
pytest.importorskip("skops")

X = np.arange(20, dtype=float).reshape(10, 2)
Y = (X.sum(1) > 15).astype(int)

# the two models both sides make: a plain estimator (every type trusted by skops) and a
# pipeline holding operator.neg, a type skops trusts only when the model's list names it
MAKE_MODELS = (
    "import operator\n"
    "import numpy as np\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import FunctionTransformer\n"
    "X = np.arange(20, dtype=float).reshape(10, 2)\n"
    "Y = (X.sum(1) > 15).astype(int)\n"
    "plain = LogisticRegression().fit(X, Y)\n"
    "negated = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression()).fit(X, Y)\n"
)
TRUSTED = ["_operator.neg"]


def _models() -> tuple[object, object]:
    scope: dict[str, object] = {}
    exec(MAKE_MODELS, scope)  # noqa: S102 - the same lines the MLflow script runs
    return scope["plain"], scope["negated"]


def _python(repo: Path, code: str) -> str:
    """``python -c code`` in ``repo`` with MLflow's tracking URI the repository; its stdout."""
    return python_with_mlflow_at(f"gittrack://{repo}", code, repo)


@pytest.fixture(scope="module")
def mlflow_logged(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A repository where MLflow logged both models with its default serialization format."""
    repo = init_project(tmp_path_factory.mktemp("skops") / "project")
    code = MAKE_MODELS + (
        "import json, mlflow, mlflow.sklearn\n"
        "with mlflow.start_run() as run:\n"
        "    a = mlflow.sklearn.log_model(plain, name='plain', pip_requirements=['scikit-learn'])\n"
        "    b = mlflow.sklearn.log_model(negated, name='negated', skops_trusted_types="
        f"{TRUSTED!r}, pip_requirements=['scikit-learn'])\n"
        "print(json.dumps({'run': run.info.run_id, 'plain': a.model_id, 'negated': b.model_id}))\n"
    )
    ids = json.loads(_python(repo, code).splitlines()[-1])
    return repo, ids


def test_a_model_mlflow_logged_in_its_default_skops_format_loads_in_gittrack(
    mlflow_logged, monkeypatch
):
    repo, ids = mlflow_logged
    monkeypatch.chdir(repo)
    plain, negated = _models()
    local = Path(gittrack.download_artifacts(artifact_uri=f"runs:/{ids['run']}/plain"))
    assert sorted(p.name for p in local.iterdir()) == [
        "MLmodel",
        "conda.yaml",
        "model.skops",
        "python_env.yaml",
        "requirements.txt",
    ]
    # what MLflow wrote: the skops file and its format (MLflow 3's default)
    mlmodel = (local / "MLmodel").read_text()
    assert "serialization_format: skops" in mlmodel and "model_path: model.skops" in mlmodel
    for name, model in (("plain", plain), ("negated", negated)):
        want = model.predict(X)
        for uri in (f"models:/{ids[name]}", f"runs:/{ids['run']}/{name}"):
            native = gittrack.sklearn.load_model(uri)
            assert type(native) is type(model), uri
            np.testing.assert_array_equal(native.predict(X), want)
            np.testing.assert_array_equal(gittrack.pyfunc.load_model(uri).predict(X), want)
    v = gittrack.register_model(f"models:/{ids['negated']}", "neg")
    np.testing.assert_array_equal(
        gittrack.pyfunc.load_model(f"models:/neg/{v.version}").predict(X), negated.predict(X)
    )


def test_a_type_the_models_trusted_list_does_not_name_is_refused(mlflow_logged, monkeypatch):
    repo, ids = mlflow_logged
    monkeypatch.chdir(repo)
    folder = Path(gittrack.download_artifacts(artifact_uri=f"runs:/{ids['run']}/negated"))
    mlmodel = folder / "MLmodel"
    text = mlmodel.read_text()
    assert "- _operator.neg" in text
    mlmodel.write_text(text.replace("- _operator.neg", "- numpy.float64"))
    for load in (gittrack.sklearn.load_model, gittrack.pyfunc.load_model):
        with pytest.raises(InvalidParameter) as err:
            load(str(folder))
        assert str(err.value) == (
            f"{folder / 'model.skops'} holds types its skops_trusted_types do not list: "
            "_operator.neg; load it only if you trust them, with those names added to "
            "skops_trusted_types in its MLmodel"
        )


def test_a_model_gittrack_logs_in_skops_format_loads_in_mlflow(repo):
    plain, negated = _models()
    with gittrack.start_run() as run:
        a = gittrack.sklearn.log_model(plain, "plain", serialization_format="skops")
        gittrack.sklearn.log_model(
            negated, "negated", serialization_format="skops", skops_trusted_types=TRUSTED
        )
    assert a.flavors["sklearn"]["serialization_format"] == "skops"
    files = [f.path for f in gittrack.list_artifacts(run.info.run_id, "negated")]
    assert files == ["negated/MLmodel", "negated/model.skops", "negated/requirements.txt"]
    reqs = gittrack.load_text(f"runs:/{run.info.run_id}/negated/requirements.txt")
    assert any(line.startswith("skops==") for line in reqs.splitlines())
    np.testing.assert_array_equal(
        gittrack.sklearn.load_model(f"runs:/{run.info.run_id}/negated").predict(X),
        negated.predict(X),
    )
    code = (
        "import json, numpy as np, mlflow.pyfunc, mlflow.sklearn\n"
        "X = np.arange(20, dtype=float).reshape(10, 2)\n"
        "out = {}\n"
        "for name in ('plain', 'negated'):\n"
        f"    uri = 'runs:/{run.info.run_id}/' + name\n"
        "    out[name] = [mlflow.sklearn.load_model(uri).predict(X).tolist(),\n"
        "                 mlflow.pyfunc.load_model(uri).predict(X).tolist()]\n"
        "print(json.dumps(out))\n"
    )
    got = json.loads(_python(repo, code).splitlines()[-1])
    for name, model in (("plain", plain), ("negated", negated)):
        want = model.predict(X).tolist()
        assert got[name] == [want, want], name


def test_saving_an_untrusted_type_in_skops_format_is_refused_as_mlflow_does(repo, tmp_path):
    _, negated = _models()
    with pytest.raises(InvalidParameter) as err:
        gittrack.sklearn.save_model(negated, tmp_path / "m", serialization_format="skops")
    assert str(err.value) == (
        "the model holds types skops does not trust: _operator.neg; if loading them is safe, "
        "pass skops_trusted_types=['_operator.neg'] (or serialization_format='cloudpickle')"
    )
    with pytest.raises(InvalidParameter, match="serialization_format 'joblib': use one of"):
        gittrack.sklearn.save_model(negated, tmp_path / "j", serialization_format="joblib")


def test_loading_a_skops_model_without_skops_names_the_format_and_package(mlflow_logged):
    repo, ids = mlflow_logged
    code = (
        "import sys\n"
        "sys.modules['skops'] = None  # as if it were not installed\n"
        "import gittrack, gittrack.sklearn\n"
        "try:\n"
        f"    gittrack.sklearn.load_model('models:/{ids['plain']}')\n"
        "except gittrack.GittrackError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    assert _python(repo, code).strip() == (
        f"{MissingDependency.__name__} loading a scikit-learn model saved in the 'skops' format "
        "needs the package 'skops', which is not installed: pip install 'gittrack[models]'"
    )
