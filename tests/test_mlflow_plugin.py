"""MLflow itself writing into git: ``MLFLOW_TRACKING_URI=gittrack:///repo`` (the plugin).

Unchanged MLflow code — the fluent API, ``mlflow.sklearn.log_model`` with a signature and an
input example (MLflow 3's LoggedModels), ``autolog``, ``search_runs``, ``load_model`` — runs
against a git repository, and what it logged is an ordinary gittrack run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, mlflow_uris_restored

mlflow = pytest.importorskip("mlflow")

DATA = Path(__file__).parent / "data"


def _mlflow_env(repo: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"gittrack://{repo}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def _run_script(repo: Path, script: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(script, repo / script.name)
    return _run_python(repo, script.name)


def _run_python(repo: Path, name: str) -> subprocess.CompletedProcess[str]:
    """``python NAME`` in ``repo`` with MLflow pointed at it; it must succeed."""
    out = subprocess.run(
        [sys.executable, name],
        cwd=repo,
        env=_mlflow_env(repo),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return out


def test_the_mlflow_tutorial_runs_unchanged_and_lands_in_git(repo):
    out = _run_script(repo, DATA / "mlflow_tutorial.py")
    lines = out.stdout.splitlines()
    assert "found 1 ['0.1']" in lines
    assert "predict True" in lines
    assert "runs-uri ok Ridge" in lines
    assert "artifacts ['config.json', 'notes', 'scatter.png']" in lines

    from gittrack import Client

    client = Client(str(repo))
    runs = {r.info.run_name: r for r in client.list_runs()}
    assert set(runs) == {"sweep", "alpha-0.1", "alpha-1.0"}
    child = runs["alpha-0.1"]
    assert child.info.status == "FINISHED"
    assert child.data.params == {"alpha": "0.1"}
    assert child.data.tags["mlflow.parentRunId"] == runs["sweep"].info.run_id
    assert child.data.tags["mlflow.source.name"] == "mlflow_tutorial.py"
    # the history holds each step once, although MLflow re-logs it to link it to the model
    assert [m.step for m in client.get_metric_history(child.info.run_id, "rmse")] == [0, 1, 2]
    names = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert names == {"config.json", "notes", "scatter.png"}
    # the logged models are refs in the repository, with their files in the artifact store
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/models/").split()
    assert len(refs) == 2
    record = git(repo, "show", f"{refs[0]}:model.yaml")
    assert "name: model" in record and "status: READY" in record
    manifest = git(repo, "show", f"{refs[0]}:artifacts.yaml")
    assert "MLmodel:" in manifest and "input_example.json:" in manifest
    # gittrack's own CLI lists the runs MLflow logged
    listing = subprocess.run(
        [sys.executable, "-m", "gittrack", "log"], cwd=repo, capture_output=True, text=True
    )
    assert "alpha-0.1" in listing.stdout and "FINISHED" in listing.stdout


def test_sklearn_autolog_logs_params_metrics_and_a_loadable_model(repo):
    script = repo / "autolog.py"
    script.write_text(
        "import mlflow, mlflow.sklearn\n"
        "from sklearn.datasets import load_diabetes\n"
        "from sklearn.linear_model import Ridge\n"
        "X, y = load_diabetes(return_X_y=True)\n"
        "mlflow.sklearn.autolog()\n"
        "with mlflow.start_run() as run:\n"
        "    Ridge(alpha=0.5).fit(X, y)\n"
        "print(run.info.run_id)\n"
    )
    out = _run_python(repo, "autolog.py")
    run_id = out.stdout.split()[-1]
    client = mlflow.MlflowClient(f"gittrack://{repo}")
    run = client.get_run(run_id)
    assert run.data.params["alpha"] == "0.5"
    assert "training_score" in run.data.metrics
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert [m.source_run_id for m in models] == [run_id]
    mlflow.set_tracking_uri(f"gittrack://{repo}")
    loaded = mlflow.sklearn.load_model(f"models:/{models[0].model_id}")
    assert loaded.get_params()["alpha"] == 0.5


def test_runs_logged_by_gittrack_read_back_in_mlflow(repo):
    import gittrack

    with gittrack.start_run(run_name="native") as run:
        gittrack.log_param("lr", 0.01)
        for step in range(3):
            gittrack.log_metric("loss", 1.0 / (step + 1), step=step)
    client = mlflow.MlflowClient(f"gittrack://{repo}")
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "native"
    assert got.data.params == {"lr": "0.01"}
    assert got.data.metrics == {"loss": pytest.approx(1 / 3)}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    found = client.search_runs(["0"], filter_string="params.lr = '0.01'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_logged_model_lifecycle_through_mlflow_client(repo):
    from mlflow.entities import LoggedModelStatus
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(f"gittrack://{repo}")
    exp = client.create_experiment("models-exp")
    model = client.create_logged_model(exp, name="clf", params={"depth": "3"}, tags={"t": "1"})
    assert model.model_id.startswith("m-") and model.status == LoggedModelStatus.PENDING
    client.set_logged_model_tags(model.model_id, {"stage": "dev"})
    done = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert done.status == LoggedModelStatus.READY
    again = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)  # as MLflow
    assert again.status == LoggedModelStatus.READY
    got = client.get_logged_model(model.model_id)
    assert got.tags == {"t": "1", "stage": "dev"} and got.params == {"depth": "3"}
    found = client.search_logged_models([exp], filter_string="name = 'clf'")
    assert [m.model_id for m in found] == [model.model_id]
    assert client.search_logged_models([exp], filter_string="name = 'other'") == []
    client.delete_logged_model_tag(model.model_id, "stage")
    with pytest.raises(MlflowException) as err:
        client.delete_logged_model_tag(model.model_id, "stage")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.get_logged_model("m-" + "0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "Logged model with ID 'm-0000" in err.value.message
    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException):
        client.get_logged_model(model.model_id)
    # every change is a commit on the model's ref: its history is git log
    log = git(repo, "log", "--format=%s", f"refs/gittrack/models/{model.model_id}")
    assert log.splitlines()[-1] == "model clf: create"
    assert log.splitlines()[0] == "model clf: delete"


def test_bad_tracking_uris_say_what_to_fix(tmp_path):
    from mlflow.exceptions import MlflowException

    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(MlflowException) as err:
        mlflow.MlflowClient(f"gittrack://{missing}").search_experiments()
    assert str(missing) in err.value.message and "does not exist" in err.value.message
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(MlflowException) as err:
        mlflow.MlflowClient(f"gittrack://{plain}").search_experiments()
    assert "not a git repository" in err.value.message and "git init" in err.value.message
    with pytest.raises(MlflowException) as err:
        mlflow.MlflowClient("gittrack://somehost/repo").search_experiments()
    assert "names a host" in err.value.message


def test_the_mlflow_tutorial_runs_unchanged_against_gittrack_server(tmp_path):
    from tests.server_helpers import ServerProcess

    store = tmp_path / "store.git"
    subprocess.run(["git", "init", "-q", "--bare", str(store)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATA / "mlflow_tutorial.py", work / "mlflow_tutorial.py")
    with ServerProcess(store) as srv:
        out = subprocess.run(
            [sys.executable, "mlflow_tutorial.py"],
            cwd=work,
            env={**_mlflow_env(work), "MLFLOW_TRACKING_URI": srv.url},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-4000:] + srv.stderr()[-3000:]
        lines = out.stdout.splitlines()
        assert "found 1 ['0.1']" in lines
        assert "predict True" in lines
        assert "runs-uri ok Ridge" in lines
        client = mlflow.MlflowClient(srv.url)
        exp = client.get_experiment_by_name("diabetes")
        models = client.search_logged_models([exp.experiment_id], filter_string="name = 'model'")
        assert len(models) == 2 and all(m.status.name == "READY" for m in models)
        run = client.get_run(models[0].source_run_id)
        assert [o.model_id for o in run.outputs.model_outputs] == [models[0].model_id]
        with pytest.raises(mlflow.exceptions.MlflowException) as err:
            client.get_logged_model("m-" + "1" * 32)
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # the runs and the models are in the server's git repository
    refs = git(store, "for-each-ref", "--format=%(refname)", "refs/gittrack/").split()
    assert sum(r.startswith("refs/gittrack/runs/") for r in refs) == 3
    assert sum(r.startswith("refs/gittrack/models/") for r in refs) == 2


def test_log_input_through_the_plugin_is_searchable_by_dataset(repo):
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    uri = f"gittrack://{repo}"
    mlflow.set_tracking_uri(uri)
    iris = from_pandas(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), name="iris")
    wine = from_pandas(pd.DataFrame({"c": [5.0, 6.0, 7.0]}), name="wine")
    with mlflow.start_run() as train:
        mlflow.log_input(iris, context="training")
    with mlflow.start_run() as evaluation:
        mlflow.log_input(wine, context="eval", tags={"split": "test"})
    client = mlflow.MlflowClient(uri)
    [got] = client.get_run(train.info.run_id).inputs.dataset_inputs
    assert (got.dataset.name, got.dataset.digest) == ("iris", iris.digest)
    assert {t.key: t.value for t in got.tags} == {"mlflow.data.context": "training"}

    def found(filter_string):
        runs = mlflow.search_runs(filter_string=filter_string, output_format="list")
        return sorted(r.info.run_id for r in runs)

    assert found("datasets.name = 'iris'") == [train.info.run_id]
    assert found("dataset.context = 'eval'") == [evaluation.info.run_id]
    assert found(f"datasets.digest IN ('{iris.digest}', '{wine.digest}')") == sorted(
        [train.info.run_id, evaluation.info.run_id]
    )
    assert found("datasets.name LIKE 'w%' AND datasets.context = 'training'") == []
    with pytest.raises(mlflow.exceptions.MlflowException, match="Invalid dataset key"):
        found("datasets.profile = 'x'")


@pytest.mark.timeout(900)  # a hang guard: evaluate is slow on a loaded machine
def test_mlflow_evaluate_through_the_plugin_logs_its_metrics(repo):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    mlflow.set_tracking_uri(f"gittrack://{repo}")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
        result = mlflow.evaluate(
            info.model_uri,
            X.head(60).assign(target=y.head(60)),
            targets="target",
            model_type="regressor",
            evaluators=["default"],
        )
    logged = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert {"mean_squared_error", "r2_score", "example_count"} <= set(result.metrics)
    for key, value in result.metrics.items():
        assert logged[key] == pytest.approx(value, nan_ok=True), key
    from gittrack import Client

    assert Client(repo).get_run(run.info.run_id).data.metrics["example_count"] == 60


def test_mlflow_uris_a_test_sets_do_not_outlive_it(tmp_path, monkeypatch):
    """What the suite's autouse fixture relies on: a URI set inside is gone outside, and the
    environment's URI counts again (a leaked sqlite URI once outranked it for the next test)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with mlflow_uris_restored():
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'leak.db'}")
        mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'leak.db'}")
        assert mlflow.get_tracking_uri().startswith("sqlite:")
        assert os.environ["MLFLOW_REGISTRY_URI"].startswith("sqlite:")
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:9"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert not mlflow.get_registry_uri().startswith("sqlite:")
