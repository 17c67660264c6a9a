"""Artifact operations on a run named by id: what :class:`gittrack.api.client.Client` exposes.

Logging to a run that is live in this process goes through its writer; any
other run is opened, written and committed at once (finished runs accept
artifacts, as in MLflow). Reading never takes a lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gittrack.artifacts import formats, log, read

if TYPE_CHECKING:
    from gittrack.api.client import Client
    from gittrack.artifacts.manifest import FileInfo
    from gittrack.core.writer import RunWriter


def with_writer(client: Client, run_id: str, fn: Callable[[RunWriter], Any]) -> Any:
    """``fn(writer)`` on run ``run_id``; the change is committed before this returns."""
    return client._with_writer(run_id, fn, data=False)


def log_artifact(
    client: Client,
    run_id: str,
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
) -> None:
    """Log one local file into run ``run_id`` (see :func:`gittrack.artifacts.log.log_artifact`)."""
    with_writer(client, run_id, lambda w: log.log_artifact(w, w.repo, local_path, artifact_path))


def log_artifacts(
    client: Client, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
) -> None:
    """Log a local folder into run ``run_id``."""
    with_writer(client, run_id, lambda w: log.log_artifacts(w, w.repo, local_dir, artifact_path))


def log_bytes(client: Client, run_id: str, data: bytes, artifact_file: str) -> None:
    with_writer(client, run_id, lambda w: log.log_bytes(w, w.repo, data, artifact_file))


def log_text(client: Client, run_id: str, text: str, artifact_file: str) -> None:
    log_bytes(client, run_id, formats.text_bytes(text), artifact_file)


def log_dict(client: Client, run_id: str, dictionary: Any, artifact_file: str) -> None:
    log_bytes(client, run_id, formats.dict_bytes(dictionary, artifact_file), artifact_file)


def log_figure(client: Client, run_id: str, figure: Any, artifact_file: str) -> None:
    log_bytes(client, run_id, formats.figure_bytes(figure, artifact_file), artifact_file)


def log_image(client: Client, run_id: str, image: Any, artifact_file: str) -> None:
    log_bytes(client, run_id, formats.image_bytes(image, artifact_file), artifact_file)


def log_table(client: Client, run_id: str, data: Any, artifact_file: str) -> None:
    log_bytes(client, run_id, formats.table_bytes(data, artifact_file), artifact_file)


def list_artifacts(client: Client, run_id: str, path: str | None = None) -> list[FileInfo]:
    """Files and folders directly under ``path`` (MLflow ``FileInfo`` rows)."""
    return read.list_artifacts(client.repo, run_id, path)


def download_artifacts(
    client: Client, run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
) -> str:
    """Download a file or folder; returns its local path (see :func:`read.download_artifacts`).

    A path ``<name>[/<rest>]`` the run's artifacts lack is looked for, as MLflow 3 does, in
    the model named ``<name>`` the run logged (:meth:`LoggedModelStore.of_run`): its files
    land in ``<dst_path>/<name>`` as run artifacts would.

    Raises:
        ArtifactNotFound: neither the run nor a model it logged has ``path``.
    """
    from gittrack.artifacts.paths import clean_artifact_path
    from gittrack.errors import ArtifactNotFound

    try:
        return read.download_artifacts(client.repo, run_id, path, dst_path)
    except ArtifactNotFound:
        name, _, rest = clean_artifact_path(path).partition("/")
        model_id = _run_model(client, run_id, name) if name else None
        if model_id is None:
            raise
    dst = read._destination(dst_path) / name
    read.download_logged_model(client.repo, model_id, dst)
    local = dst / rest if rest else dst
    if not local.exists():
        raise ArtifactNotFound(f"no artifact at {path!r} in this run or its model {model_id}")
    return str(local)


def _run_model(client: Client, run_id: str, name: str) -> str | None:
    from gittrack.core.logged_models import LoggedModelStore

    info = client.get_run(run_id).info
    return LoggedModelStore(client.repo).of_run(info.run_id, str(info.experiment_id), name)
