"""The artifact manifest of a run (``.gittrack/artifacts.yaml``): path → entry.

An entry is ``{"sha256": hex, "size": bytes, "where": "git" | "store"}``;
``git`` entries have their bytes in the run tree under ``.gittrack/artifacts/``,
``store`` entries in the content-addressed store. Folders are implied by paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gittrack.artifacts.paths import parent_dirs
from gittrack.errors import ArtifactNotFound, InvalidArtifactPath


@dataclass(frozen=True)
class FileInfo:
    """One listing row, as MLflow's ``FileInfo``: ``file_size`` is None for folders."""

    path: str
    is_dir: bool
    file_size: int | None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's REST shape: ``{path, is_dir, file_size?}``."""
        out: dict[str, Any] = {"path": self.path, "is_dir": self.is_dir}
        if self.file_size is not None:
            out["file_size"] = self.file_size
        return out


def make_entry(sha256: str, size: int, where: str) -> dict[str, Any]:
    return {"sha256": sha256, "size": int(size), "where": where}


def check_no_collision(manifest: Mapping[str, Any], path: str) -> None:
    """Refuse a path that is a folder of existing files, or lies under an existing file.

    Re-logging the same file path is fine (it overwrites, as MLflow).

    Raises:
        InvalidArtifactPath: naming both paths.
    """
    for parent in parent_dirs(path):
        if parent in manifest:
            raise InvalidArtifactPath(
                f"cannot log {path!r}: {parent!r} is already a file artifact of this run"
            )
    prefix = path + "/"
    for existing in manifest:
        if existing.startswith(prefix):
            raise InvalidArtifactPath(
                f"cannot log the file {path!r}: it is already a folder of this run's "
                f"artifacts (it holds {existing!r})"
            )


def list_children(manifest: Mapping[str, Any], path: str = "") -> list[FileInfo]:
    """The files and folders directly inside folder ``path`` ('' = the root), sorted.

    A file path lists nothing (as MLflow); a path that is neither lists nothing.
    """
    prefix = path + "/" if path else ""
    files: dict[str, int] = {}
    dirs: set[str] = set()
    for name, entry in manifest.items():
        if not name.startswith(prefix) or name == path:
            continue
        rest = name[len(prefix) :]
        head, sep, _ = rest.partition("/")
        if sep:
            dirs.add(prefix + head)
        else:
            files[name] = int(entry.get("size", 0))
    rows = [FileInfo(d, True, None) for d in dirs]
    rows += [FileInfo(f, False, s) for f, s in files.items()]
    return sorted(rows, key=lambda r: r.path)


def select(manifest: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """The entries of file ``path``, or of every file under folder ``path``.

    Raises:
        ArtifactNotFound: nothing is at ``path``.
    """
    if not path:
        return dict(manifest)
    if path in manifest:
        return {path: manifest[path]}
    prefix = path + "/"
    found = {k: v for k, v in manifest.items() if k.startswith(prefix)}
    if not found:
        raise ArtifactNotFound(f"no artifact at {path!r} in this run")
    return found
