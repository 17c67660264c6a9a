"""An ordinary MLflow tracking script; run with `gittrack` or `mlflow` as argv[1].

Prints a JSON summary of what it logged, read back through the same API.
"""

import json
import math
import sys

if sys.argv[1] == "gittrack":
    import gittrack as mlflow
else:
    import mlflow

    mlflow.set_tracking_uri(sys.argv[2])

mlflow.set_experiment("compat")
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_params({"lr": 0.01, "batch": 32, "model": "resnet"})
    mlflow.set_tags({"team": "ml", "stage": "dev"})
    for epoch in range(5):
        mlflow.log_metric("loss", 1 / (epoch + 1), step=epoch)
        mlflow.log_metrics({"acc": epoch / 10, "f1": epoch / 20}, step=epoch)
    with mlflow.start_run(run_name="child", nested=True):
        mlflow.log_param("depth", 3)
        mlflow.log_metric("x", float("nan"))
        mlflow.log_metric("x", float("inf"), step=1)
try:
    with mlflow.start_run(run_name="broken"):
        mlflow.log_param("a", 1)
        raise ValueError("boom")
except ValueError:
    pass
mlflow.start_run(run_name="killed")
mlflow.log_metric("z", 1)
mlflow.end_run(status="KILLED")

names = {}
summary = {}
client = mlflow.MlflowClient() if hasattr(mlflow, "MlflowClient") else None
exp = mlflow.get_experiment_by_name("compat")
runs = (
    mlflow.search_runs([exp.experiment_id], output_format="list")
    if sys.argv[1] != "gittrack"
    else [r for r in mlflow.Client().list_runs() if r.info.experiment_id == exp.experiment_id]
)
for run in runs:
    names[run.info.run_id] = run.info.run_name
for run in runs:
    r = mlflow.get_run(run.info.run_id)
    hist = {
        k: [
            (m.step, None if math.isnan(m.value) else m.value)
            for m in sorted(
                mlflow.MlflowClient().get_metric_history(r.info.run_id, k), key=lambda m: m.step
            )
        ]
        for k in r.data.metrics
    }
    summary[r.info.run_name] = {
        "status": r.info.status,
        "params": r.data.params,
        "metrics": {k: (None if math.isnan(v) else v) for k, v in r.data.metrics.items()},
        "history": hist,
        "tags": {
            k: v for k, v in r.data.tags.items() if not k.startswith(("mlflow.", "gittrack."))
        },
        "runName": r.data.tags.get("mlflow.runName"),
        "parent": names.get(r.data.tags.get("mlflow.parentRunId")),
        "user": r.data.tags.get("mlflow.user"),
    }
print(json.dumps(summary, sort_keys=True))
