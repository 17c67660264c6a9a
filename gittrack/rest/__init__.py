"""Tracking over MLflow's REST API: the client side of ``gittrack server``.

``client_for_uri(uri)`` is the hook the fluent API uses: it returns a
:class:`~gittrack.rest.client.RestClient` for ``http(s)://`` tracking URIs and
None for anything else (a local repository).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def tracking_uri() -> str | None:
    """``GITTRACK_TRACKING_URI``, else ``MLFLOW_TRACKING_URI`` (None when neither is set)."""
    return os.environ.get("GITTRACK_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI") or None


def is_remote(uri: str | None) -> bool:
    return bool(uri) and uri.split(":", 1)[0].lower() in ("http", "https")  # type: ignore[union-attr]


def client_for_uri(uri: str | None = None) -> Any | None:
    """The REST client for ``uri`` (default: the tracking URI from the environment).

    One client per URI per process, so its background batcher is shared.
    Returns None when the URI is not http(s) (track into a local repository).
    """
    uri = uri if uri is not None else tracking_uri()
    if not is_remote(uri):
        return None
    assert uri is not None
    with _lock:
        client = _clients.get(uri)
        if client is None:
            from gittrack.rest.client import RestClient

            client = _clients[uri] = RestClient(uri)
        return client


__all__ = ["client_for_uri", "is_remote", "tracking_uri"]
