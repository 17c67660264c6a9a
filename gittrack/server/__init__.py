"""The gittrack tracking server: MLflow's REST API over a git repository.

``gittrack server --repo PATH`` serves:

- ``/api/2.0/mlflow/...`` (and ``/ajax-api/...``): MLflow's tracking REST API,
- ``/api/2.0/mlflow-artifacts/artifacts/...``: the artifact proxy,
- ``/git/``: git smart-HTTP for clone, fetch and push of the repository,
- ``/`` and ``/ui/...``: the web UI (:mod:`gittrack.ui`),
- ``/openapi.json``, ``/health``.

Modules: :mod:`.app` (the one route table and app builder), :mod:`.schema` (fields of each method),
:mod:`.wire` (parsing and JSON), :mod:`.errors` (errors → responses),
:mod:`.backend` (repository thread, group commit), :mod:`.experiments`,
:mod:`.runs`, :mod:`.artifacts` (handlers), :mod:`.gitweb`/:mod:`.wsgi` (git),
:mod:`.auth`, :mod:`.accesslog`, :mod:`.bodies`, :mod:`.openapi` (page tokens: :mod:`gittrack.query.pages`).
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any = None) -> Any:
    """The ASGI app (see :func:`gittrack.server.app.create_app`)."""
    from gittrack.server.app import create_app as _create

    return _create(config)


__all__ = ["create_app"]
