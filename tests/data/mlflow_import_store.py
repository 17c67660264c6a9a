"""Build an MLflow store with real MLflow, for tests/test_import_mlflow.py.

Usage: python mlflow_import_store.py TRACKING_URI GIT_SHA OUT_JSON [--no-model]

Writes OUT_JSON: per run name, what MLflow itself shows (run id, status, params,
tags, latest metrics, full histories) and the model's predictions.
"""

from __future__ import annotations

import json
import math
import sys

import mlflow
import numpy as np

uri, sha, out_path = sys.argv[1:4]
with_model = "--no-model" not in sys.argv
mlflow.set_tracking_uri(uri)
client = mlflow.MlflowClient()
exp_id = client.create_experiment("vision", tags={"team": "cv"})
mlflow.set_experiment(experiment_id=exp_id)
result: dict = {"runs": {}}

with mlflow.start_run(run_name="parent", description="the parent run") as parent:
    mlflow.log_params({"lr": "0.01", "layers": "3", "optimizer.name": "adam"})
    mlflow.set_tags({"stage": "dev", "mlflow.source.git.commit": sha})
    stamps = 1_700_000_000_000
    metrics = []
    for step in range(1000):
        value = 1.0 / (step + 1)
        if step == 10:
            value = math.nan
        elif step == 20:
            value = math.inf
        elif step == 30:
            value = -math.inf
        metrics.append(mlflow.entities.Metric("loss", value, stamps + step, step))
    client.log_batch(parent.info.run_id, metrics=metrics)
    mlflow.log_metric("acc", 0.5, step=0)
    mlflow.log_metric("acc", 0.75, step=1)
    mlflow.log_text("hello import\n", "notes/hello.txt")
    mlflow.log_dict({"a": [1, 2]}, "config.json")
    mlflow.log_input(
        mlflow.data.from_numpy(np.arange(6.0).reshape(3, 2), source="data.npy", name="train"),
        context="training",
    )
    if with_model:
        from sklearn.linear_model import LinearRegression

        X = np.array([[1.0], [2.0], [3.0]])
        model = LinearRegression().fit(X, np.array([2.0, 4.0, 6.5]))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
        result["model_id"] = info.model_id
        mlflow.log_model_params({"alpha": "0.1", "fit_intercept": "true"}, model_id=info.model_id)
        mlflow.set_logged_model_tags(info.model_id, {"stage": "candidate"})
        mlflow.log_metric("rmse", 0.25, step=2, model_id=info.model_id)
        seen = client.get_logged_model(info.model_id)  # what MLflow shows of the model
        result["model"] = {
            "params": dict(seen.params),
            "tags": dict(seen.tags),
            "metrics": [[m.key, m.value, m.step] for m in seen.metrics or []],
            "status": str(getattr(seen.status, "value", seen.status)),
        }
        result["predictions"] = model.predict(np.array([[4.0], [5.0]])).tolist()
    with mlflow.start_run(run_name="child", nested=True):
        mlflow.log_param("fold", "1")
        mlflow.log_metric("loss", 0.25, step=3)
with mlflow.start_run(run_name="broken") as broken:
    mlflow.log_metric("loss", 9.0)
    mlflow.log_text("gone\n", "lost/file.txt")
client.set_terminated(broken.info.run_id, "FAILED")
with mlflow.start_run(run_name="removed") as removed:
    mlflow.log_param("x", "1")
client.delete_run(removed.info.run_id)
old = client.create_experiment("old")
with mlflow.start_run(run_name="ancient", experiment_id=old):
    mlflow.log_metric("m", 1.0)
client.delete_experiment(old)

for run in client.search_runs(
    [exp_id, old], run_view_type=mlflow.entities.ViewType.ALL, max_results=100
):
    name = run.info.run_name
    result["runs"][name] = {
        "run_id": run.info.run_id,
        "status": run.info.status,
        "lifecycle": run.info.lifecycle_stage,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items()},
        "metrics": {k: repr(v) for k, v in run.data.metrics.items()},
        "history": {
            k: [
                [m.step, repr(m.value), m.timestamp]
                for m in client.get_metric_history(run.info.run_id, k)
            ]
            for k in run.data.metrics
        },
        "artifact_uri": run.info.artifact_uri,
    }
with open(out_path, "w") as f:
    json.dump(result, f)
