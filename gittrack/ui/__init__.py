"""The gittrack web UI: its routes (:mod:`gittrack.ui.app`, part of the server's route
table) plus static assets in ``gittrack/static``.

Use :func:`make_ui_app` to get the UI alone as an app; ``gittrack ui`` serves it on
127.0.0.1, ``gittrack server`` serves it next to the REST API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["make_ui_app"]


def make_ui_app(repo_path: str | Path | None = None, *, preload: bool = True) -> Any:
    """The UI Starlette app for one repository; see :func:`gittrack.server.app.create_ui_app`.

    Raises:
        NoRepository: ``repo_path`` is not inside a git repository.
    """
    from gittrack.server.app import create_ui_app

    return create_ui_app(repo_path, preload=preload)
