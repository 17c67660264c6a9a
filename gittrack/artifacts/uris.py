"""Artifact URIs: ``runs:/<run_id>/<path>`` (a unique run id prefix works)."""

from __future__ import annotations

from gittrack.artifacts.paths import clean_artifact_path
from gittrack.errors import InvalidArtifactPath

SCHEME = "runs:/"


def is_runs_uri(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith(SCHEME)


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``'runs:/abc/model/MLmodel'`` → ``('abc', 'model/MLmodel')``; the path may be ''.

    Raises:
        InvalidArtifactPath: not a ``runs:/`` URI, no run id, or a bad path.
    """
    if not is_runs_uri(uri):
        raise InvalidArtifactPath(
            f"{uri!r} is not an artifact URI of the form runs:/<run_id>/<path>"
        )
    rest = uri[len(SCHEME) :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidArtifactPath(f"{uri!r} names no run: use runs:/<run_id>/<path>")
    return run_id, clean_artifact_path(path, f"path of {uri!r}")


def make_runs_uri(run_id: str, path: str | None = None) -> str:
    clean = clean_artifact_path(path)
    return f"{SCHEME}{run_id}/{clean}" if clean else f"{SCHEME}{run_id}"
