"""Readers of MLflow stores: SQL databases, ``mlruns`` folders and tracking servers.

:func:`open_source` picks one from the URI, as MLflow does for a tracking URI.
Each source has the same methods (see :class:`Source`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from gittrack.importer.model import Point, SourceExperiment, SourceRun

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


class Source(Protocol):
    """What every MLflow source offers the importer."""

    uri: str  # as shown to the user (no credentials)

    def experiments(self) -> list[SourceExperiment]: ...

    def runs(self, experiment_ids: list[str]) -> list[SourceRun]: ...

    def histories(self, runs: list[SourceRun]) -> dict[str, list[Point]]:
        """Every metric point of ``runs``: run id → points, in logging order."""
        ...

    def artifact_files(
        self, run: SourceRun, scratch: Path
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """The run's artifact files as (local path to read, artifact path), remote ones
        downloaded under ``scratch``, and what could not be read (one line each)."""
        ...

    def close(self) -> None: ...


def display_uri(uri: str) -> str:
    """``uri`` without a password (``postgresql://u:pw@h/db`` → ``postgresql://u@h/db``)."""
    parsed = urlparse(uri)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", "@", 1)
        return parsed._replace(netloc=netloc).geturl()
    return uri


def local_path(uri: str) -> str | None:
    """The local file system path of ``uri`` (a plain path or ``file://``), else None."""
    if not uri:
        return None
    if "://" not in uri and not uri.startswith("file:"):
        return os.path.abspath(uri)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return None


def walk_files(root: str, prefix: str = "") -> tuple[list[tuple[str, str]], list[str]]:
    """Files under the local folder ``root`` as (path, artifact path under ``prefix``), and
    the entries that cannot be read (broken links, special files)."""
    files: list[tuple[str, str]] = []
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
            rel = f"{prefix}/{rel}" if prefix else rel
            if os.path.isfile(path) and os.access(path, os.R_OK):
                files.append((path, rel))
            else:
                problems.append(f"{rel}: missing or unreadable at the source ({path})")
    return files, problems


def local_artifact_files(run: SourceRun) -> tuple[list[tuple[str, str]], list[str]]:
    """The files of a run's local artifact folder (file:// or a path) and of the MLflow 3
    LoggedModels it logged (under ``<model name>/``, MLflow 2's layout, so
    ``runs:/<run>/<name>`` loads them), and the problems found.

    An absent run folder means no artifacts (MLflow creates it on the first log); an
    absent model folder, an unreadable file or a non-local location is a problem.
    """
    files: list[tuple[str, str]] = []
    problems: list[str] = []
    root = local_path(run.artifact_uri)
    if root is None:
        problems.append(
            f"artifact location {run.artifact_uri} is not a local folder; import through the "
            "tracking server's http(s):// URI to read it"
        )
    elif os.path.isdir(root):
        files, problems = walk_files(root)
    add_model_files(run, files, problems, _local_model_folder)
    return files, problems


class LocalArtifacts:
    """For a source whose runs keep their artifacts in local folders (an ``mlruns`` folder,
    a database beside one): ``artifact_files`` reads them in place."""

    def artifact_files(
        self, run: SourceRun, scratch: Path
    ) -> tuple[list[tuple[str, str]], list[str]]:
        return local_artifact_files(run)


def _local_model_folder(location: str, model_id: str) -> str:
    where = local_path(location)
    if where is None or not os.path.isdir(where):
        raise NoModelFolder(f"folder {location} is missing")
    return where


class NoModelFolder(Exception):
    """A LoggedModel's files cannot be had (the message says why)."""


def add_model_files(
    run: SourceRun,
    files: list[tuple[str, str]],
    problems: list[str],
    folder: Callable[[str, str], str],
) -> None:
    """Add to ``files`` the files of the MLflow 3 LoggedModels of ``run`` (under
    ``<model name>/``) that no artifact folder of the run already holds.
    ``folder(location, model_id)`` gives a model's local folder or raises
    :class:`NoModelFolder`, which becomes a problem."""
    taken = {rel.split("/")[0] for _, rel in files}
    for name, location, model_id in run.models:
        if name in taken:
            continue
        try:
            where = folder(location, model_id)
        except NoModelFolder as exc:
            problems.append(f"model {name} ({model_id}): {exc}")
            continue
        more, bad = walk_files(where, name)
        files += more
        problems += bad
        taken.add(name)
