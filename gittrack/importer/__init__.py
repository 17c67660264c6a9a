"""Import other trackers' history into the repository: ``gittrack import mlflow SOURCE``.

Layout: :mod:`.sources` (read MLflow SQL stores, ``mlruns`` folders, tracking servers),
:mod:`.model` (what a source yields), :mod:`.writer` (one run → one commit),
:mod:`.mapping` (MLflow run id → gittrack run id, in the repository),
:mod:`.pipeline` (:func:`import_mlflow`), :mod:`.verify` (:func:`verify_mlflow`).
MLflow itself is imported only to read a tracking server.
"""

from __future__ import annotations

from gittrack.importer.pipeline import ImportReport, import_mlflow
from gittrack.importer.verify import verify_mlflow

__all__ = ["ImportReport", "import_mlflow", "verify_mlflow"]
