"""Artifact listing and safe previews for the UI.

Artifact bytes are untrusted: an HTML or SVG file logged by a run must never
run script in the UI's origin. Every artifact response carries
``X-Content-Type-Options: nosniff`` and a sandboxing ``Content-Security-Policy``;
only images and plain text are served inline, with a content type fixed by the
file's extension (never guessed from its bytes); HTML and anything unknown is
sent as an ``attachment`` download.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import TYPE_CHECKING, Any

from gittrack.core.validation import artifact_manifest, clean_artifact_path
from gittrack.errors import GittrackError, NotFound
from gittrack.layout import artifact_blob_relpath, object_key, objects_dir

if TYPE_CHECKING:
    from gittrack.ui.context import UIContext

PREVIEW_BYTES = 1024 * 1024

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
TEXT_KINDS = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".csv": "csv",
    ".tsv": "tsv",
    ".md": "text",
    ".txt": "text",
    ".log": "text",
    ".py": "text",
    ".cfg": "text",
    ".ini": "text",
    ".toml": "text",
    ".xml": "text",
    ".html": "html",
    ".htm": "html",
    ".svg": "html",
    ".sh": "text",
    ".rst": "text",
}
TEXT_NAMES = {
    "MLmodel": "yaml",
    "requirements.txt": "text",
    "conda.yaml": "yaml",
    "python_env.yaml": "yaml",
}

ARTIFACT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def kind_of(path: str) -> str:
    """How the UI previews ``path``: image, json, yaml, csv, tsv, text, html or binary."""
    name = posixpath.basename(path)
    if name in TEXT_NAMES:
        return TEXT_NAMES[name]
    ext = posixpath.splitext(name)[1].lower()
    if ext in IMAGE_TYPES:
        return "image"
    return TEXT_KINDS.get(ext, "binary")


def _manifest(run_id: str, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's artifact entries, checked (BadArtifactEntry, a 400, for a hostile one)."""
    return artifact_manifest(run_id, record.get("artifacts"))


def list_artifacts(ctx: UIContext, run_id: str, path: str = "") -> dict[str, Any]:
    """The files and folders directly under ``path`` in a run's artifacts.

    Returns ``{run_id, path, files: [{path, name, is_dir, size, kind}]}``, folders first.

    Raises:
        NotFound: ``path`` is neither a folder nor a file of the run.
    """
    full, _sha, record = ctx.run_record(run_id)
    entries = _manifest(full, record)
    base = clean_artifact_path(path, "artifact path")
    prefix = base + "/" if base else ""
    dirs: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    for p, entry in entries.items():
        if not p.startswith(prefix):
            continue
        rest = p[len(prefix) :]
        head, sep, _ = rest.partition("/")
        size = int((entry or {}).get("size") or 0)
        if sep:
            dirs[head] = dirs.get(head, 0) + size
        else:
            files.append(
                {"path": p, "name": head, "is_dir": False, "size": size, "kind": kind_of(p)}
            )
    if base and not dirs and not files:
        raise NotFound(f"Artifact folder {base!r} not found in run {full}")
    out: list[dict[str, Any]] = [
        {"path": prefix + d, "name": d, "is_dir": True, "size": s, "kind": "folder"}
        for d, s in sorted(dirs.items())
    ]
    out += sorted(files, key=lambda f: f["name"])
    return {"run_id": full, "path": base, "files": out}


def read_artifact(ctx: UIContext, run_id: str, path: str) -> tuple[str, bytes]:
    """``(run_id, bytes)`` of one artifact file, checked against its recorded sha256.

    Raises:
        NotFound: the run has no such artifact, or its bytes are not available here.
        GittrackError: the stored bytes do not match the recorded hash.
    """
    full, sha, record = ctx.run_record(run_id)
    p = clean_artifact_path(path, "artifact path")
    entry = _manifest(full, record).get(p)
    if entry is None:
        raise NotFound(f"Artifact {p!r} not found in run {full}")
    where = entry.get("where", "git")
    data: bytes | None = None
    if where == "git":
        data = ctx.record_blob(sha, artifact_blob_relpath(p))
    if data is None:
        data = _from_store(ctx, entry["sha256"])
    if data is None:
        raise NotFound(
            f"Artifact {p!r} of run {full} is in the artifact store and not in this "
            "repository's cache; fetch it with `gittrack pull`"
        )
    want = entry.get("sha256")
    if want and hashlib.sha256(data).hexdigest() != want:
        raise GittrackError(f"Artifact {p!r} of run {full} does not match its recorded sha256")
    return full, data


def _from_store(ctx: UIContext, digest: str) -> bytes | None:
    local = objects_dir(ctx.repo.state_dir) / object_key(digest)
    if local.is_file():
        return local.read_bytes()
    from gittrack.artifacts.storage import storage_for

    try:  # the artifact store (S3, shared folder...)
        return storage_for(ctx.repo).fetch_bytes(digest)
    except GittrackError as exc:
        if exc.http_status == 404:
            return None
        raise


def response_headers(path: str, *, download: bool) -> tuple[str, dict[str, str]]:
    """``(content_type, headers)`` for serving an artifact safely."""
    name = posixpath.basename(path)
    kind = kind_of(path)
    headers = {"Content-Security-Policy": ARTIFACT_CSP, "X-Content-Type-Options": "nosniff"}
    if kind == "image" and not download:
        ctype = IMAGE_TYPES[posixpath.splitext(name)[1].lower()]
    elif kind in ("json", "yaml", "csv", "tsv", "text") and not download:  # never html
        ctype = "text/plain; charset=utf-8"
    else:
        ctype = "application/octet-stream"
        download = True
    if download:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "artifact"
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return ctype, headers


def preview(ctx: UIContext, run_id: str, path: str) -> dict[str, Any]:
    """A text preview of an artifact as JSON: ``{path, kind, size, truncated, text}``.

    Images and binary files get ``text: null`` (the page shows images through the
    raw endpoint). Text is decoded as UTF-8 with replacement and cut at 1 MiB.
    """
    full, data = read_artifact(ctx, run_id, path)
    kind = kind_of(path)
    text = None
    if kind not in ("image", "binary"):
        text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return {
        "run_id": full,
        "path": clean_artifact_path(path, "artifact path"),
        "kind": kind,
        "size": len(data),
        "truncated": kind not in ("image", "binary") and len(data) > PREVIEW_BYTES,
        "text": text,
    }
