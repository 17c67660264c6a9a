"""The gittrack web UI: a Starlette sub-application plus static assets in ``gittrack/static``.

Use :func:`make_ui_app` to get the app; ``gittrack ui`` serves it on 127.0.0.1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["make_ui_app"]


def make_ui_app(repo_path: str | Path | None = None, *, preload: bool = True) -> Any:
    """The UI Starlette app for one repository; see :func:`gittrack.ui.app.make_ui_app`."""
    from gittrack.ui.app import make_ui_app as _make

    return _make(repo_path, preload=preload)
