"""``gittrack.exceptions.MlflowException``: MLflow's name for the root of gittrack's errors.

Under ``import gittrack as mlflow``, ``except mlflow.exceptions.MlflowException`` catches every
gittrack error; each carries MLflow's ``error_code``.
"""

from __future__ import annotations

from gittrack.errors import GittrackError as MlflowException

__all__ = ["MlflowException"]
