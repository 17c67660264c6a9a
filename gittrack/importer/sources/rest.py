"""Read a running ``mlflow server`` through MLflow's own client (``mlflow.MlflowClient``).

MLflow is an optional dependency: it is imported here only, when a source is an
``http(s)://`` URI. Metric histories and artifacts are fetched by a thread pool.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gittrack.errors import ImportRefused
from gittrack.importer.model import Point, SourceExperiment, SourceRun
from gittrack.importer.sources import NoModelFolder, add_model_files, display_uri, walk_files

PAGE = 1000
WORKERS = 8


class RestSource:
    """An MLflow tracking server, read through ``MlflowClient``."""

    def __init__(self, uri: str) -> None:
        self.uri = display_uri(uri)
        self._tracking_uri = uri
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        try:
            import mlflow
        except ImportError as exc:
            raise ImportRefused(
                f"Reading the tracking server {self.uri} needs MLflow: pip install mlflow"
            ) from exc
        from mlflow.entities import ViewType

        self._view_all = ViewType.ALL
        self.client = mlflow.MlflowClient(tracking_uri=uri)
        try:
            self._experiments = self.client.search_experiments(view_type=ViewType.ALL)
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImportRefused(f"Cannot read the MLflow server {self.uri}: {msg}") from exc

    def close(self) -> None:
        pass

    def experiments(self) -> list[SourceExperiment]:
        return [
            SourceExperiment(
                str(e.experiment_id),
                e.name,
                e.lifecycle_stage,
                e.artifact_location or "",
                dict(e.tags),
                e.creation_time,
            )
            for e in self._experiments
        ]

    def runs(self, experiment_ids: list[str]) -> list[SourceRun]:
        if not experiment_ids:
            return []
        out: dict[str, SourceRun] = {}
        token = None
        while True:
            page = self.client.search_runs(
                experiment_ids,
                run_view_type=self._view_all,
                max_results=PAGE,
                page_token=token,
            )
            for r in page:
                out[r.info.run_id] = _run(r)
            token = page.token
            if not token:
                break
        models: Any
        try:
            models = self.client.search_logged_models(experiment_ids=experiment_ids)
        except Exception:  # a server older than MLflow 3
            models = []
        for m in models:
            run = out.get(m.source_run_id or "")
            if run is not None:
                run.models.append((m.name, m.artifact_location, m.model_id))
        return list(out.values())

    def histories(self, runs: list[SourceRun]) -> dict[str, list[Point]]:
        jobs = [(r.run_id, key) for r in runs for key in sorted(r.latest)]

        def fetch(job: tuple[str, str]) -> list[Point]:
            run_id, key = job
            return [
                (key, m.value, m.step, m.timestamp)
                for m in self.client.get_metric_history(run_id, key)
            ]

        out: dict[str, list[Point]] = {r.run_id: [] for r in runs}
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="gittrack-import-history") as pool:
            for (run_id, _), points in zip(jobs, pool.map(fetch, jobs), strict=True):
                out[run_id] += points
        return out

    def artifact_files(
        self, run: SourceRun, scratch: Path
    ) -> tuple[list[tuple[str, str]], list[str]]:
        import mlflow

        problems: list[str] = []
        files: list[tuple[str, str]] = []
        root = scratch / "run"
        root.mkdir(parents=True, exist_ok=True)
        try:
            if self.client.list_artifacts(run.run_id):
                self.client.download_artifacts(run.run_id, "", str(root))
            files, problems = walk_files(str(root))
        except Exception as exc:
            problems.append(f"cannot download the artifacts of run {run.run_id}: {exc}")

        def download(location: str, model_id: str) -> str:
            dst = scratch / "models" / model_id
            dst.mkdir(parents=True, exist_ok=True)
            try:
                return str(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=location, dst_path=str(dst), tracking_uri=self._tracking_uri
                    )
                )
            except Exception as exc:
                raise NoModelFolder(f"cannot download {location}: {exc}") from exc

        add_model_files(run, files, problems, download)
        return files, problems


def _run(r: Any) -> SourceRun:
    info, data = r.info, r.data
    run = SourceRun(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        name=info.run_name or "",
        status=info.status,
        start_time=int(info.start_time or 0),
        end_time=int(info.end_time) if info.end_time is not None else None,
        user=info.user_id or "",
        lifecycle=info.lifecycle_stage,
        artifact_uri=info.artifact_uri or "",
        params=dict(data.params),
        tags=dict(data.tags),
        latest={k: (float(v), 0, 0) for k, v in data.metrics.items()},
    )
    inputs = getattr(r, "inputs", None)
    for di in getattr(inputs, "dataset_inputs", None) or []:
        d = di.dataset
        fields = {
            "name": d.name,
            "digest": d.digest,
            "source_type": d.source_type,
            "source": d.source,
            "schema": d.schema,
            "profile": d.profile,
        }
        run.inputs.append(
            {
                "dataset": {k: str(v) for k, v in fields.items() if v is not None},
                "tags": [{"key": t.key, "value": t.value} for t in di.tags],
            }
        )
    return run
