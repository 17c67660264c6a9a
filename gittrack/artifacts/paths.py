"""Validation of artifact paths (the names artifacts have inside a run).

An artifact path is relative, uses ``/`` as separator and never leaves the run's
artifact root: no ``..``, no leading ``/``, no backslash, no empty or ``.``
components, no NUL, and no ``.git`` component (git refuses such tree entries).
"""

from __future__ import annotations

from gittrack.errors import InvalidArtifactPath


def clean_artifact_path(path: str | None, what: str = "artifact_path") -> str:
    """``path`` checked and normalised ('' for the root; no trailing slash).

    Raises:
        InvalidArtifactPath: for absolute paths, ``..``, backslashes and the like.
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise InvalidArtifactPath(f"{what} must be a string, got {type(path).__name__}")
    if path in ("", ".", "./"):
        return ""
    if "\\" in path:
        raise InvalidArtifactPath(
            f"{what} {path!r} contains a backslash; use '/' to separate folders"
        )
    if "\x00" in path:
        raise InvalidArtifactPath(f"{what} {path!r} contains a NUL character")
    if path.startswith("/"):
        raise InvalidArtifactPath(
            f"{what} {path!r} is absolute; artifact paths are relative to the run's artifact root"
        )
    stripped = path[2:] if path.startswith("./") else path
    stripped = stripped.rstrip("/")
    parts = stripped.split("/")
    for part in parts:
        if part == "..":
            raise InvalidArtifactPath(
                f"{what} {path!r} contains '..'; artifacts cannot be written outside the run"
            )
        if part in ("", "."):
            raise InvalidArtifactPath(f"{what} {path!r} has an empty or '.' component")
        if part.lower() == ".git":
            raise InvalidArtifactPath(f"{what} {path!r} has a '.git' component, which git refuses")
    return "/".join(parts)


def join_artifact_path(*parts: str | None) -> str:
    """Join already-clean path parts, skipping empty ones."""
    return "/".join(p for p in parts if p)


def parent_dirs(path: str) -> list[str]:
    """The folders above ``path``: ``'a/b/c'`` → ``['a', 'a/b']``."""
    bits = path.split("/")
    return ["/".join(bits[:i]) for i in range(1, len(bits))]
