"""Read an MLflow ``mlruns`` folder (MLflow's file store) directly from its files.

Layout (MLflow's ``FileStore``): ``<root>/<experiment id>/meta.yaml`` and ``tags/``;
``<root>/<experiment id>/<run id>/meta.yaml``, ``params/<key>``, ``tags/<key>``,
``metrics/<key>`` (lines ``timestamp value step``), ``inputs/<id>/meta.yaml``;
``<root>/<experiment id>/datasets/<id>/meta.yaml``; ``<root>/<experiment id>/models/<id>/``
(LoggedModels); deleted experiments under ``<root>/.trash/``. Keys with ``/`` are
nested folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gittrack.core.records.formats import load_yaml
from gittrack.errors import ImportRefused
from gittrack.importer.model import Point, SourceExperiment, SourceRun
from gittrack.importer.sources import LocalArtifacts

_RESERVED = {"meta.yaml", "tags", "datasets", "models", "traces"}


def _read_keyed(folder: Path) -> dict[str, str]:
    """``{key: file contents}`` of a params/tags folder (keys with '/' are subfolders)."""
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            out[path.relative_to(folder).as_posix()] = path.read_text("utf-8")
    return out


def _meta(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_bytes())
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


class FileSource(LocalArtifacts):
    """An ``mlruns`` folder, read-only."""

    parallel = True  # worker processes may read it at the same time

    def __init__(self, root: str) -> None:
        self.uri = root
        self.root = Path(root)
        if not self.root.exists():
            raise ImportRefused(f"MLflow source {root}: no such file or folder")
        if not self.root.is_dir() or not any(
            (p / "meta.yaml").is_file() for p in self.root.iterdir() if p.is_dir()
        ):
            raise ImportRefused(
                f"{root} is not an MLflow store: no <experiment>/meta.yaml in it (give a "
                "mlruns folder, or sqlite:///path for a database)"
            )
        self._dirs: dict[str, Path] = {}

    def close(self) -> None:
        pass

    def experiments(self) -> list[SourceExperiment]:
        out = []
        for parent in (self.root, self.root / ".trash"):
            if not parent.is_dir():
                continue
            for d in sorted(parent.iterdir()):
                meta = _meta(d / "meta.yaml") if d.is_dir() else {}
                if "experiment_id" not in meta:
                    continue
                eid = str(meta["experiment_id"])
                self._dirs[eid] = d
                out.append(
                    SourceExperiment(
                        eid,
                        str(meta.get("name", eid)),
                        str(meta.get("lifecycle_stage") or "active"),
                        str(meta.get("artifact_location") or ""),
                        _read_keyed(d / "tags"),
                        meta.get("creation_time"),
                    )
                )
        return out

    def runs(self, experiment_ids: list[str]) -> list[SourceRun]:
        if not self._dirs:
            self.experiments()
        out = []
        for eid in experiment_ids:
            exp_dir = self._dirs.get(eid)
            if exp_dir is None:
                continue
            datasets = self._datasets(exp_dir)
            models = self._models(exp_dir)
            for d in sorted(exp_dir.iterdir()):
                if d.name in _RESERVED or not (d / "meta.yaml").is_file():
                    continue
                meta = _meta(d / "meta.yaml")
                rid = str(meta.get("run_id") or meta.get("run_uuid") or d.name)
                run = SourceRun(
                    run_id=rid,
                    experiment_id=eid,
                    name=str(meta.get("run_name") or ""),
                    status=_status(meta.get("status")),
                    start_time=int(meta.get("start_time") or 0),
                    end_time=int(meta["end_time"]) if meta.get("end_time") is not None else None,
                    user=str(meta.get("user_id") or ""),
                    lifecycle=_lifecycle(meta.get("lifecycle_stage")),
                    artifact_uri=str(meta.get("artifact_uri") or ""),
                    params=_read_keyed(d / "params"),
                    tags=_read_keyed(d / "tags"),
                )
                for key, points in self._metric_files(d).items():
                    if points:
                        last = max(points, key=lambda p: (p[2], p[3]))
                        run.latest[key] = (last[1], last[2], last[3])
                run.inputs = self._inputs(d, datasets)
                run.models = models.get(rid, [])
                self._dirs[rid] = d
                out.append(run)
        return out

    def _metric_files(self, run_dir: Path) -> dict[str, list[Point]]:
        out: dict[str, list[Point]] = {}
        folder = run_dir / "metrics"
        if not folder.is_dir():
            return out
        for dirpath, _, names in os.walk(folder):
            for name in names:
                path = Path(dirpath) / name
                key = path.relative_to(folder).as_posix()
                points: list[Point] = []
                for line in path.read_text("utf-8").splitlines():
                    parts = line.split()
                    if len(parts) >= 2:
                        step = int(parts[2]) if len(parts) > 2 else 0
                        points.append((key, float(parts[1]), step, int(parts[0])))
                out[key] = points
        return out

    def _datasets(self, exp_dir: Path) -> dict[str, dict[str, str]]:
        out = {}
        folder = exp_dir / "datasets"
        if folder.is_dir():
            for d in folder.iterdir():
                meta = _meta(d / "meta.yaml")
                if meta:
                    out[d.name] = {k: str(v) for k, v in meta.items() if v is not None}
        return out

    def _models(self, exp_dir: Path) -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {}
        folder = exp_dir / "models"
        if folder.is_dir():
            for d in sorted(folder.iterdir()):
                meta = _meta(d / "meta.yaml")
                rid = meta.get("source_run_id")
                if rid:
                    loc = str(meta.get("artifact_location") or d / "artifacts")
                    out.setdefault(str(rid), []).append(
                        (str(meta.get("name") or d.name), loc, str(meta.get("model_id") or d.name))
                    )
        return out

    def _inputs(self, run_dir: Path, datasets: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        folder = run_dir / "inputs"
        if not folder.is_dir():
            return out
        for d in sorted(folder.iterdir()):
            meta = _meta(d / "meta.yaml")
            ds = datasets.get(str(meta.get("source_id")))
            if meta.get("source_type") not in (None, "DATASET") or ds is None:
                continue
            dataset: dict[str, str] = {
                k: ds[k] for k in ("name", "digest", "source_type", "source") if k in ds
            }
            for k in ("schema", "profile"):
                if k in ds:
                    dataset[k] = ds[k]
            tags = [{"key": str(k), "value": str(v)} for k, v in (meta.get("tags") or {}).items()]
            out.append({"dataset": dataset, "tags": tags})
        return out

    def histories(self, runs: list[SourceRun]) -> dict[str, list[Point]]:
        out: dict[str, list[Point]] = {}
        if not self._dirs:
            self.experiments()
        for run in runs:
            points: list[Point] = []
            run_dir = self._dirs.get(run.run_id) or self._dirs[run.experiment_id] / run.run_id
            for _key, pts in sorted(self._metric_files(run_dir).items()):
                points += pts
            out[run.run_id] = points
        return out


def _status(value: Any) -> str:
    """File store metas keep status as MLflow's enum number or its name."""
    names = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    if isinstance(value, int):
        return names.get(value, "FINISHED")
    return str(value or "FINISHED")


def _lifecycle(value: Any) -> str:
    return str(value or "active")
