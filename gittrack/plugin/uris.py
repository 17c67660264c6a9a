"""``gittrack:`` URIs: the tracking store's (a repository) and artifact locations in it.

* ``gittrack:///abs/path/to/repo`` — that repository; ``gittrack:`` alone — the repository
  of the working directory.
* ``gittrack:///abs/repo/.gittrack/runs/<run_id>/artifacts[/<path>]`` — a run's artifacts.
* ``gittrack:///abs/repo/.gittrack/models/<model_id>/artifacts[/<path>]`` — a logged model's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gittrack.errors import InvalidParameter
from gittrack.layout import RECORD_DIR

SCHEME = "gittrack"
_MARK = f"/{RECORD_DIR}/"


def repo_path_of(store_uri: str) -> str:
    """The repository path a tracking URI names (not checked to exist).

    Raises:
        InvalidParameter: not a ``gittrack:`` URI, or it names a host.
    """
    parts = urlsplit(store_uri)
    if parts.scheme != SCHEME:
        raise InvalidParameter(f"{store_uri!r} is not a gittrack: URI")
    if parts.netloc not in ("", "localhost"):
        raise InvalidParameter(
            f"{store_uri!r} names a host ({parts.netloc!r}); gittrack: URIs name a local "
            "repository: gittrack:///absolute/path/to/repo, or gittrack: for the working "
            "directory's repository (use http(s):// for a gittrack server)"
        )
    path = unquote(parts.path)
    return path or os.getcwd()


def store_uri(repo_path: str) -> str:
    return f"{SCHEME}://{os.path.abspath(repo_path)}"


@dataclass(frozen=True)
class ArtifactLocation:
    repo: str  # the repository's path
    kind: str  # "runs" or "models"
    owner: str  # run id or model id
    path: str  # path below the artifacts root ('' for the root)


def artifact_uri(repo_path: str, kind: str, owner: str) -> str:
    """The artifact root URI of a run (``kind='runs'``) or logged model (``'models'``)."""
    return f"{store_uri(repo_path)}{_MARK}{kind}/{owner}/artifacts"


def experiment_location(repo_path: str, experiment_id: str) -> str:
    """The artifact location URI of an experiment."""
    return f"{store_uri(repo_path)}{_MARK}experiments/{experiment_id}"


def parse_artifact_uri(uri: str) -> ArtifactLocation:
    """Split an artifact URI made by :func:`artifact_uri` (with an optional path below it).

    Raises:
        InvalidParameter: naming the URI, when it is not of that form.
    """
    repo = repo_path_of(uri)
    head, mark, rest = repo.rpartition(_MARK)
    parts = rest.split("/", 3) if mark else []
    if len(parts) < 3 or parts[0] not in ("runs", "models") or parts[2] != "artifacts":
        raise InvalidParameter(
            f"{uri!r} is not a gittrack artifact URI: expected "
            f"gittrack:///<repo>{_MARK}runs/<run_id>/artifacts[/<path>]"
        )
    return ArtifactLocation(head or "/", parts[0], parts[1], parts[3] if len(parts) > 3 else "")
