"""An ordinary MLflow tutorial: nested sweep on sklearn's diabetes data."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
mlflow.set_experiment("diabetes")
best = None
with mlflow.start_run(run_name="sweep") as parent:
    for alpha in (0.1, 1.0):
        with mlflow.start_run(run_name=f"alpha-{alpha}", nested=True) as child:
            model = Ridge(alpha=alpha).fit(X_train, y_train)
            pred = model.predict(X_test)
            rmse = mean_squared_error(y_test, pred) ** 0.5
            mlflow.log_param("alpha", alpha)
            for step in range(3):
                mlflow.log_metric("rmse", rmse + step, step=step)
            fig, ax = plt.subplots()
            ax.scatter(y_test, pred)
            mlflow.log_figure(fig, "scatter.png")
            mlflow.log_dict({"alpha": alpha}, "config.json")
            mlflow.log_text("hello", "notes/readme.txt")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(X_train, model.predict(X_train)),
                input_example=X_train.iloc[:3],
            )
            if best is None or rmse < best[0]:
                best = (rmse, info.model_uri, child.info.run_id)
runs = mlflow.search_runs(filter_string="params.alpha = '0.1'")
print("found", len(runs), list(runs["params.alpha"]))
m = mlflow.sklearn.load_model(best[1])
p = mlflow.pyfunc.load_model(best[1])
print("predict", float(m.predict(X_test.iloc[:1])[0]) == float(p.predict(X_test.iloc[:1])[0]))
m2 = mlflow.sklearn.load_model(f"runs:/{best[2]}/model")
print("runs-uri ok", type(m2).__name__)
print("artifacts", sorted(a.path for a in mlflow.MlflowClient().list_artifacts(best[2])))
print("OK")
