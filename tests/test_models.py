"""log_model / load_model round trips: sklearn, pytorch (when installed), python_function."""

from __future__ import annotations

import numpy as np
import pytest

import gittrack
from gittrack.errors import ArtifactNotFound, InvalidParameter
from tests.conftest import git


class Doubler:
    """A user's own model class with a predict method."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor
        self.offset = None

    def load_context(self, context) -> None:
        with open(context.artifacts["offset"]) as f:
            self.offset = float(f.read())

    def predict(self, x):
        return np.asarray(x) * self.factor + (self.offset or 0.0)


def test_sklearn_round_trip_with_signature(repo):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(300, 6, random_state=0)
    model = RandomForestClassifier(20, random_state=0).fit(x, y)
    with gittrack.start_run() as run:
        info = gittrack.log_model(model, "clf", input_example=x[:2])
    assert info.model_uri == f"runs:/{run.info.run_id}/clf"
    assert set(info.flavors) == {"sklearn", "python_function"}
    assert '"shape": [-1, 6]' in info.signature["inputs"]
    loaded = gittrack.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    files = [f.path for f in gittrack.list_artifacts(run.info.run_id, "clf")]
    assert files == [
        "clf/MLmodel",
        "clf/input_example.json",
        "clf/model.pkl",
        "clf/requirements.txt",
    ]
    mlmodel = gittrack.load_text(f"runs:/{run.info.run_id}/clf/MLmodel")
    assert "loader_module: gittrack.models.flavor_sklearn" in mlmodel
    reqs = gittrack.load_text(f"runs:/{run.info.run_id}/clf/requirements.txt")
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in reqs.splitlines()


def test_sklearn_model_larger_than_the_inline_limit_goes_to_the_store(repo):
    from sklearn.linear_model import LinearRegression

    git(repo, "config", "gittrack.artifacts.inline-limit", "200")
    x = np.arange(20.0).reshape(10, 2)
    model = LinearRegression().fit(x, x @ [1.0, 2.0])
    with gittrack.start_run() as run:
        gittrack.log_model(model, "lr")
    manifest = git(repo, "show", f"refs/gittrack/runs/{run.info.run_id}:.gittrack/artifacts.yaml")
    assert "lr/model.pkl:" in manifest and "where: store" in manifest
    loaded = gittrack.load_model(f"runs:/{run.info.run_id[:8]}/lr")
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))


def test_python_function_user_class_with_artifacts(repo, tmp_path):
    offset = tmp_path / "offset.txt"
    offset.write_text("0.5")
    with gittrack.start_run() as run:
        info = gittrack.log_model(Doubler(3.0), "custom", artifacts={"offset": str(offset)})
    assert set(info.flavors) == {"python_function"}
    loaded = gittrack.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict([1.0, 2.0]), [3.5, 6.5])
    assert [f.path for f in gittrack.list_artifacts(run.info.run_id, "custom/artifacts")] == [
        "custom/artifacts/offset.txt"
    ]


def test_pytorch_module_and_state_dict(repo):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x = torch.randn(5, 4)
    with gittrack.start_run():
        whole = gittrack.log_model(net, "net")
        sd = gittrack.log_model(net, "net_sd", save_format="state_dict")
    assert whole.flavors["pytorch"]["save_format"] == "module"
    loaded = gittrack.load_model(whole.model_uri)
    assert not loaded.training
    assert torch.equal(loaded(x), net(x))
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    filled = gittrack.load_model(sd.model_uri, model=fresh)
    assert torch.equal(filled(x), net(x))
    with pytest.raises(InvalidParameter, match="pass model=<an instance"):
        gittrack.load_model(sd.model_uri)  # an empty Sequential cannot take the weights


def test_bad_model_inputs(repo, tmp_path):
    with gittrack.start_run() as run:
        with pytest.raises(InvalidParameter, match="has no predict method"):
            gittrack.log_model(object(), "nothing")
        with pytest.raises(InvalidParameter, match="unknown model flavor 'onnx'"):
            gittrack.log_model(Doubler(), "m", flavor="onnx")
        with pytest.raises(gittrack.GittrackError, match="contains '..'"):
            gittrack.log_model(Doubler(), "../m")
        gittrack.log_text("not a model", "folder/file.txt")
    rid = run.info.run_id
    with pytest.raises(ArtifactNotFound, match="is not a model: it has no MLmodel"):
        gittrack.load_model(f"runs:/{rid}/folder")
    with pytest.raises(ArtifactNotFound, match="no artifact at 'absent'"):
        gittrack.load_model(f"runs:/{rid}/absent")
    with gittrack.start_run() as run2:
        info = gittrack.log_model(Doubler(), "m")
    with pytest.raises(InvalidParameter, match="has no 'sklearn' flavor; it has: python_function"):
        gittrack.load_model(info.model_uri, flavor="sklearn")
    assert run2.info.run_id != rid
