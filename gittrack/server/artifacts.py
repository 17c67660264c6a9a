"""Artifacts over HTTP: ``artifacts/list``, the ``mlflow-artifacts`` proxy, and the two
routes MLflow's web UI uses: ``GET /get-artifact?run_id=&path=`` (one file) and
``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=`` (the body is the file, at
most 10 MB, as MLflow allows).

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
from typing import TYPE_CHECKING, Any

from gittrack.core.validation import (
    artifact_manifest,
    artifact_path_ok,
    clean_artifact_path,
    validate_experiment_id,
    validate_run_id,
)
from gittrack.errors import InvalidArtifactPath, InvalidParameter, NotFound, PayloadTooLarge
from gittrack.layout import artifact_blob_relpath, record_path
from gittrack.server.runs import artifact_uri, run_id_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

CHUNK = 256 * 1024
MAX_UI_UPLOAD = 10 * 1024 * 1024  # MLflow's limit on one upload-artifact request


def mlflow_path(path: Any) -> str:
    """``path`` checked as MLflow's REST handlers check it: any unsafe path is MLflow's
    plain "Invalid path" (400 ``INVALID_PARAMETER_VALUE``).

    Raises:
        InvalidParameter: "Invalid path".
    """
    try:
        return clean_artifact_path(path, "path")
    except InvalidArtifactPath:
        raise InvalidParameter("Invalid path") from None


def split_proxy_path(path: str) -> tuple[str, str, str]:
    """``(experiment_id, run_id, artifact_path)`` of a proxy path.

    Raises:
        InvalidArtifactPath: the path is unsafe or not ``<exp>/<run>/artifacts[/...]``.
    """
    # "<exp>/<run>/artifacts/." (MLflow's download of "."): "." parts name where they are
    path = "/".join(p for p in path.split("/") if p != ".")
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
    path = mlflow_path(args.get("path"))
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


# -- routes (event loop) ----------------------------------------------------------------


async def send(request: Request, run_id: str, path: str) -> Response:
    """Answer with artifact ``path`` of run ``run_id``, streamed, as an attachment."""
    from starlette.responses import Response, StreamingResponse

    from gittrack.server.artifact_store import open_object

    backend = request.app.state.backend
    dest = request.app.state.config.artifacts_destination
    kind, what = await backend.call(locate, run_id, path, dest)
    headers = {"Content-Disposition": f'attachment; filename="{path.rsplit("/", 1)[-1]}"'}
    if kind == "bytes":
        return Response(what, media_type="application/octet-stream", headers=headers)
    # opened on the repository thread (it reads the repository's store config)
    fh = await backend.call(lambda c: open_object(c.repo, dest, what))

    def chunks() -> Any:
        with fh:
            while True:
                data = fh.read(CHUNK)
                if not data:
                    return
                yield data

    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


async def receive(
    request: Request, run_id: str, path: str, limit: int, allow_empty: bool = True
) -> bool:
    """Record the request body as artifact ``path`` of run ``run_id`` (an unknown run fails
    before a byte is written). False when the client went away, or the body was empty and
    not ``allow_empty``: nothing was recorded then.

    Raises:
        PayloadTooLarge: the body is over ``limit`` bytes.
    """
    from gittrack.server.bodies import received_upload

    backend = request.app.state.backend
    config = request.app.state.config
    state_dir = await backend.call(lambda c, r=run_id: (c.get_run(r), str(c.repo.state_dir))[1])
    name = path.rsplit("/", 1)[-1]
    async with received_upload(request, name, state_dir, limit) as got:
        if got is None or (got[0].size == 0 and not allow_empty):
            return False
        upload, sha = got
        await backend.write(
            run_id,
            lambda c: attach(
                c, run_id, path, upload.path, sha, upload.size, config.artifacts_destination
            ),
        )
    return True


async def get_artifact(request: Request) -> Response:
    """``GET /get-artifact?run_id=&path=`` (``run_uuid`` too): one file of a run."""
    query = request.query_params
    run_id = validate_run_id(query.get("run_id") or query.get("run_uuid") or "")
    path = mlflow_path(query.get("path"))
    if not path:
        raise InvalidParameter("Artifact path refers to a directory, not a file: ''")
    return await send(request, run_id, path)


async def upload_artifact(request: Request) -> Response:
    """``POST upload-artifact?run_uuid=&path=``: the body becomes the run's artifact."""
    from gittrack.server.bodies import drain
    from gittrack.server.wire import dumps

    query = request.query_params
    try:
        if not query.get("run_uuid"):
            raise InvalidParameter("Request must specify run_uuid.")
        if not query.get("path"):
            raise InvalidParameter("Request must specify path.")
        path = mlflow_path(query["path"])
        run_id = validate_run_id(query["run_uuid"])
        if int(request.headers.get("content-length") or 0) > MAX_UI_UPLOAD:
            raise InvalidParameter("Artifact size is too large. Max size is 10MB.")
    except InvalidParameter:
        await drain(request)
        raise
    limit = min(MAX_UI_UPLOAD, request.app.state.config.max_artifact_bytes)
    try:
        stored = await receive(request, run_id, path, limit, allow_empty=False)
    except PayloadTooLarge:
        await drain(request)
        raise InvalidParameter("Artifact size is too large. Max size is 10MB.") from None
    if not stored:
        raise InvalidParameter("Request must specify data.")
    from starlette.responses import Response

    return Response(dumps({}), media_type="application/json")


# MLflow's words, which its client matches to fall back to one streamed PUT / GET
MULTIPART_UPLOAD_UNSUPPORTED = (
    "Multipart upload is not supported for the current artifact repository"
)
MULTIPART_DOWNLOAD_UNSUPPORTED = (
    "Multipart download is not supported for the current artifact repository"
)


async def multipart(request: Request) -> Response:
    """``mlflow-artifacts/mpu/{create,complete,abort}`` and ``presigned``: gittrack streams
    every upload and download through itself, so it answers as an MLflow server over a
    local store does (NOT_IMPLEMENTED), and MLflow's client falls back to a plain transfer
    (with ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`` too)."""
    from gittrack.errors import NotSupported
    from gittrack.server.bodies import drain

    await drain(request)
    if request.method == "GET":
        raise NotSupported(MULTIPART_DOWNLOAD_UNSUPPORTED + ": gittrack streams downloads")
    raise NotSupported(
        MULTIPART_UPLOAD_UNSUPPORTED + ": gittrack streams each upload (use one PUT)"
    )


def routes(api_prefixes: tuple[str, ...], artifact_prefixes: tuple[str, ...]) -> list[Route]:
    """The routes MLflow's web UI uses for single files (``api_prefixes``: the REST API's)
    and the multipart/presigned routes MLflow's client may try (beside each of
    ``artifact_prefixes``, the artifact proxy's)."""
    from starlette.routing import Route

    table = [Route("/get-artifact", get_artifact, methods=["GET"])]
    table += [Route(p + "upload-artifact", upload_artifact, methods=["POST"]) for p in api_prefixes]
    for prefix in artifact_prefixes:
        base = prefix.rsplit("/artifacts", 1)[0]  # /api/2.0/mlflow-artifacts
        for step in ("create", "complete", "abort"):
            table.append(Route(f"{base}/mpu/{step}/{{path:path}}", multipart, methods=["POST"]))
        table.append(Route(f"{base}/presigned/{{path:path}}", multipart, methods=["GET"]))
    return table
