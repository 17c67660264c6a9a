"""``import gittrack.sklearn``: MLflow's ``mlflow.sklearn`` names (``save_model``, ``log_model``,
``load_model``) over gittrack's models.

``import gittrack as mlflow`` then ``import gittrack.sklearn`` (instead of ``import mlflow.sklearn``,
which would rebind ``mlflow`` to the real MLflow) keeps common MLflow code running unchanged.
"""

from __future__ import annotations

from gittrack.models.flavor_api import flavor_functions

save_model, log_model, load_model = flavor_functions("sklearn")
