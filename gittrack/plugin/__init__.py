"""The MLflow plugin: ``MLFLOW_TRACKING_URI=gittrack:///path/to/repo`` makes MLflow itself
write runs, artifacts and logged models into a git repository as gittrack records.

Registered through entry points (``pip install gittrack[mlflow]``): ``mlflow.tracking_store``
(:class:`gittrack.plugin.tracking_store.GitTrackingStore`) and ``mlflow.artifact_repository``
(:class:`gittrack.plugin.artifact_repo.GitArtifactRepository`) for the scheme ``gittrack``.
Only this package imports MLflow; ``import gittrack`` never does.
"""
