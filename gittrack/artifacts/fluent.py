"""The module-level artifact functions re-exported by :mod:`gittrack` (MLflow's names).

Logging functions act on the active run (starting one when none is active, as
MLflow's do); reading functions take a run id or a ``runs:/<run_id>/<path>`` URI.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gittrack.artifacts import formats, log, read
from gittrack.artifacts.paths import clean_artifact_path, join_artifact_path
from gittrack.artifacts.uris import is_runs_uri, make_runs_uri, parse_runs_uri
from gittrack.errors import InvalidArtifactPath

if TYPE_CHECKING:
    from gittrack.artifacts.manifest import FileInfo
    from gittrack.core.writer import RunWriter


def _writer(run_id: str | None = None) -> RunWriter:
    from gittrack.api import fluent as tracking

    return tracking._writer_for(run_id)


def _client() -> Any:
    from gittrack.api import fluent as tracking

    return tracking._client()


def _active_run_id() -> str:
    from gittrack.api import fluent as tracking

    active = tracking.active_run()
    if active is None:
        raise InvalidArtifactPath(
            "no active run: start one with gittrack.start_run() or pass run_id"
        )
    return active.info.run_id


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log a local file into the active run as ``<artifact_path>/<file name>``.

    Files up to the inline limit (1 MiB) are stored in the run's git tree; larger
    ones are uploaded to the artifact store before the run records them.

    Raises:
        InvalidArtifactPath: missing path, a directory, or a bad ``artifact_path``.
        ArtifactChanged: the file changed while it was being logged.
        ArtifactStoreError, ArtifactTransferError: the store failed (nothing recorded).
    """
    w = _writer(run_id)
    if not hasattr(w, "repo"):  # a run on a tracking server: through its artifact proxy
        _client().log_artifact(w.run_id, os.fspath(local_path), artifact_path)
        return
    log.log_artifact(w, w.repo, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Log every file under ``local_dir`` into the active run (see :func:`log_artifact`)."""
    w = _writer(run_id)
    if not hasattr(w, "repo"):  # a run on a tracking server: through its artifact proxy
        _client().log_artifacts(w.run_id, os.fspath(local_dir), artifact_path)
        return
    log.log_artifacts(w, w.repo, local_dir, artifact_path)


def _log_bytes(data: bytes, artifact_file: str, run_id: str | None) -> None:
    w = _writer(run_id)
    log.log_bytes(w, w.repo, data, artifact_file)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Log a string as a UTF-8 text file ``artifact_file``."""
    _log_bytes(formats.text_bytes(text), artifact_file, run_id)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a dict as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml."""
    _log_bytes(formats.dict_bytes(dictionary, artifact_file), artifact_file, run_id)


def log_figure(figure: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a matplotlib or plotly figure in the format its extension names (.png, .svg, .html)."""
    _log_bytes(formats.figure_bytes(figure, artifact_file), artifact_file, run_id)


def log_image(image: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a numpy array or PIL image as an image file (.png, .jpg, ...)."""
    _log_bytes(formats.image_bytes(image, artifact_file), artifact_file, run_id)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a DataFrame or dict of columns as MLflow's table JSON (``artifact_file`` ends in .json)."""
    _log_bytes(formats.table_bytes(data, artifact_file), artifact_file, run_id)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """``runs:/<active run id>[/<artifact_path>]``: where the active run's artifacts are.

    Raises:
        InvalidArtifactPath: no active run, or a bad ``artifact_path``.
    """
    return make_runs_uri(_active_run_id(), artifact_path)


def _target(
    artifact_uri: str | None, run_id: str | None, artifact_path: str | None
) -> tuple[str, str]:
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidArtifactPath("give either artifact_uri or run_id/artifact_path, not both")
        return parse_runs_uri(artifact_uri)
    rid = run_id if run_id is not None else _active_run_id()
    return rid, clean_artifact_path(artifact_path)


def list_artifacts(
    run_id: str | None = None, artifact_path: str | None = None, *, artifact_uri: str | None = None
) -> list[FileInfo]:
    """Files and folders directly under a folder of a run's artifacts (the active run by default)."""
    rid, path = _target(artifact_uri, run_id, artifact_path)
    return list(_client().list_artifacts(rid, path))


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> str:
    """Download a file or folder of a run's artifacts, verified; returns the local path.

    Raises:
        ArtifactNotFound, CorruptArtifact, ArtifactTransferError.
    """
    rid, path = _target(artifact_uri, run_id, artifact_path)
    return str(_client().download_artifacts(rid, path, dst_path))


def _read_uri(artifact_uri: str) -> tuple[bytes, str]:
    if not is_runs_uri(artifact_uri):
        raise InvalidArtifactPath(
            f"{artifact_uri!r} is not an artifact URI of the form runs:/<run_id>/<path>"
        )
    rid, path = parse_runs_uri(artifact_uri)
    return read.read_bytes(_client().repo, rid, path), path


def load_text(artifact_uri: str) -> str:
    """The text of artifact ``runs:/<run_id>/<path>``."""
    data, _ = _read_uri(artifact_uri)
    return data.decode("utf-8")


def load_dict(artifact_uri: str) -> Any:
    """A JSON (or .yaml/.yml) artifact parsed into Python objects."""
    data, path = _read_uri(artifact_uri)
    return formats.parse_dict(data, path)


def load_table(
    artifact_file: str, run_ids: list[str] | None = None, extra_columns: list[str] | None = None
) -> Any:
    """One DataFrame of table ``artifact_file`` from several runs (all runs that have it by default).

    ``extra_columns`` may name ``run_id`` to add a column saying which run each row is from.

    Raises:
        ArtifactNotFound: none of the runs has the table.
    """
    import pandas as pd

    from gittrack.errors import ArtifactNotFound

    path = clean_artifact_path(artifact_file, "artifact_file")
    client = _client()
    ids = list(run_ids) if run_ids is not None else sorted(client.store.run_refs())
    frames = []
    for rid in ids:
        try:
            df = formats.parse_table(read.read_bytes(client.repo, rid, path))
        except ArtifactNotFound:
            if run_ids is not None:
                raise
            continue
        for col in extra_columns or ():
            if col != "run_id":
                raise InvalidArtifactPath(f"load_table: unknown extra column {col!r} (only run_id)")
            df[col] = client.store.resolve_run_id(rid)
        frames.append(df)
    if not frames:
        raise ArtifactNotFound(f"no run has the table {join_artifact_path(path)!r}")
    return pd.concat(frames, ignore_index=True)
