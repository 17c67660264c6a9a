"""Artifacts over HTTP: ``artifacts/list`` and the ``mlflow-artifacts`` proxy.

Proxy paths are ``<experiment_id>/<run_id>/artifacts/<path>``, what the run
artifact URI ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`` expands
to. Uploads stream to a temporary file while their sha256 is computed (never
held in memory), then are recorded in the run like any logged artifact: small
files as blobs in the run's tree, large ones in the content-addressed store.
Downloads stream from there. Paths and artifact entries are checked by the
one rule set, :mod:`gittrack.core.validation`: no ``..``, no absolute paths, no
NUL, no backslash, nothing outside the run, and a ``sha256`` read from the
run's ``artifacts.yaml`` must be 64 lowercase hex digits before it names an object.
"""

from __future__ import annotations

import posixpath
from typing import Any

from gittrack.core.validation import (
    artifact_manifest,
    artifact_path_ok,
    clean_artifact_path,
    validate_experiment_id,
    validate_run_id,
)
from gittrack.errors import InvalidArtifactPath, NotFound
from gittrack.layout import artifact_blob_relpath, record_path
from gittrack.server.runs import artifact_uri, run_id_of

CHUNK = 256 * 1024


def split_proxy_path(path: str) -> tuple[str, str, str]:
    """``(experiment_id, run_id, artifact_path)`` of a proxy path.

    Raises:
        InvalidArtifactPath: the path is unsafe or not ``<exp>/<run>/artifacts[/...]``.
    """
    clean = clean_artifact_path(path, "artifact path")
    parts = clean.split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise InvalidArtifactPath(
            f"Invalid artifact path {path!r}: expected <experiment_id>/<run_id>/artifacts/<path>"
        )
    return validate_experiment_id(parts[0]), validate_run_id(parts[1]), "/".join(parts[3:])


# -- reading a run's artifacts (repository thread) -------------------------------------


def run_artifacts(client: Any, run_id: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The run and its artifacts (path → {sha256, size, where}), every entry checked.

    Raises:
        BadArtifactEntry: the run's artifacts.yaml has an unsafe path or sha256 (400).
    """
    run = client.get_run(run_id)
    record = client.store.read_record(run.commit) if run.commit else {}
    raw = record.get("artifacts") or {}
    # a path that leaves the run is never served (as if absent); a bad sha256 is a 400
    entries = (
        {p: e for p, e in raw.items() if artifact_path_ok(p)} if isinstance(raw, dict) else raw
    )
    return run, artifact_manifest(run.info.run_id, entries)


def children(entries: dict[str, dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The files and folders directly under ``path``, sorted, with paths from the root."""
    prefix = f"{path}/" if path else ""
    seen: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        if not name.startswith(prefix) or name == path:
            continue
        rest = name[len(prefix) :]
        head, sep, _ = rest.partition("/")
        full = prefix + head
        if sep:
            seen.setdefault(full, {"path": full, "is_dir": True})
        else:
            seen[full] = {"path": full, "is_dir": False, "file_size": int(entry.get("size", 0))}
    return [seen[k] for k in sorted(seen)]


def list_run(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    """``GET artifacts/list``: paths relative to the run's artifact root."""
    run_id = run_id_of(args)
    path = clean_artifact_path(args.get("path"), "path")
    run, entries = run_artifacts(client, run_id)
    return {
        "root_uri": artifact_uri(run.info.experiment_id, run_id),
        "files": children(entries, path),
    }


def list_proxy(client: Any, proxy_path: str) -> dict[str, Any]:
    """``GET mlflow-artifacts/artifacts?path=``: base names, as MLflow's proxy answers."""
    if not proxy_path:
        return {"files": []}
    from gittrack.server import logged_models

    if logged_models.is_model_proxy_path(proxy_path):
        return logged_models.list_proxy(client, proxy_path)
    _, run_id, path = split_proxy_path(proxy_path)
    _, entries = run_artifacts(client, run_id)
    files = []
    for f in children(entries, path):
        f = dict(f)
        f["path"] = posixpath.basename(f["path"])
        files.append(f)
    return {"files": files}


def locate(client: Any, run_id: str, path: str, destination: str | None) -> tuple[str, Any]:
    """How to read artifact ``path`` of run ``run_id``: ('bytes', data) or ('store', sha).

    Raises:
        NotFound: no such artifact (folders are not files).
    """
    run, entries = run_artifacts(client, run_id)
    entry = entries.get(path)
    if entry is None:
        raise NotFound(f"Artifact {path!r} of run {run_id} not found")
    if entry.get("where") == "git":
        tree = client.repo.git[run.commit].tree
        blob = tree[record_path(artifact_blob_relpath(path))]
        return "bytes", client.repo.git[blob.id].data
    return "store", entry["sha256"]


# -- writing (repository thread, via Backend.write) ------------------------------------


def attach(
    client: Any, run_id: str, path: str, local: str, sha: str, size: int, destination: str | None
) -> None:
    """Record the uploaded file ``local`` as artifact ``path`` of the run, as local logging
    does (``Client.log_artifact``: small files in the run's tree, large ones in the store
    the server was started with). ``sha``, ``size`` and ``destination`` are the caller's
    (the upload was hashed while it was written; the store is configured at start-up)."""
    client.log_artifact(run_id, local, posixpath.dirname(path) or None)


def detach(client: Any, run_id: str, path: str) -> None:
    """Remove artifact ``path`` (or every artifact under the folder ``path``)."""
    _, entries = run_artifacts(client, run_id)
    doomed = [p for p in entries if p == path or p.startswith(path + "/")]
    if not doomed:
        raise NotFound(f"Artifact {path!r} of run {run_id} not found")
    writer = client.writer(run_id)
    for p in doomed:
        writer.artifacts.pop(p, None)
        writer.put_record_file(artifact_blob_relpath(p), None)
    writer.mark_dirty()
