"""Which source reads an MLflow tracking URI (kept apart from the package's shared helpers,
which the sources themselves import)."""

from __future__ import annotations

from urllib.parse import urlparse

from gittrack.errors import ImportRefused
from gittrack.importer.sources import SQL_SCHEMES, Source, display_uri, local_path


def open_source(uri: str) -> Source:
    """The source for an MLflow tracking URI.

    Raises:
        ImportRefused: nothing MLflow-like is there (named in the message).
    """
    scheme = urlparse(uri).scheme.lower() if "://" in uri else ""
    base = scheme.split("+")[0]
    if base in SQL_SCHEMES:
        from gittrack.importer.sources.sql import SqlSource

        return SqlSource(uri)
    if base in ("http", "https"):
        from gittrack.importer.sources.rest import RestSource

        return RestSource(uri)
    if base in ("", "file"):
        from gittrack.importer.sources.files import FileSource

        return FileSource(local_path(uri) or uri)
    raise ImportRefused(
        f"Unsupported MLflow source {display_uri(uri)!r}: give sqlite:///, postgresql://, "
        "mysql://, a mlruns folder (or file:// URI) or an http(s):// tracking server"
    )
