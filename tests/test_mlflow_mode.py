"""``import gittrack as mlflow``: MLflow's module names (``mlflow.sklearn``, ``mlflow.pyfunc``,
``mlflow.exceptions``) and MLflow's ``ModelSignature`` work against gittrack."""

from __future__ import annotations

import pytest


def test_sklearn_flavor_module_with_mlflow_signature(repo):
    pytest.importorskip("sklearn")
    mlflow_models = pytest.importorskip("mlflow.models")
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import gittrack as mlflow
    import gittrack.sklearn

    X = np.arange(20, dtype=float).reshape(10, 2)
    y = X @ np.array([1.0, 2.0])
    model = LinearRegression().fit(X, y)
    signature = mlflow_models.infer_signature(X, model.predict(X))
    with mlflow.start_run() as run:
        info = gittrack.sklearn.log_model(model, name="model", signature=signature)
    assert info.model_uri == f"runs:/{run.info.run_id}/model"
    assert info.signature == {k: v for k, v in signature.to_dict().items() if v is not None}
    loaded = mlflow.sklearn.load_model(info.model_uri)
    assert loaded.predict(X[:2]).tolist() == pytest.approx(model.predict(X[:2]).tolist())
    as_pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    assert as_pyfunc.predict(X[:2]).tolist() == pytest.approx(model.predict(X[:2]).tolist())


def test_mlflow_exceptions_catch_gittrack_errors(repo):
    import gittrack as mlflow

    with pytest.raises(mlflow.exceptions.MlflowException) as err:
        mlflow.get_run("0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def _script(tmp_path, code: str):
    import os
    import subprocess
    import sys

    path = tmp_path / "train.py"
    path.write_text(code)
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )


def test_rebinding_mlflow_by_importing_the_real_package_warns(tmp_path):
    pytest.importorskip("mlflow")
    out = _script(tmp_path, "import gittrack as mlflow\nimport mlflow.sklearn\n")
    assert out.returncode == 0, out.stderr
    assert "the real mlflow package is being imported" in out.stderr
    assert out.stderr.count("the real mlflow package") == 1
    quiet = _script(tmp_path, "import gittrack\nimport mlflow\n")
    assert quiet.returncode == 0 and "real mlflow" not in quiet.stderr
