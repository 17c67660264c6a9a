"""Errors of the artifact layer, all under :class:`gittrack.errors.GittrackError`::

GittrackError
├── InvalidParameter
│   └── InvalidArtifactPath     an artifact path with '..', '/...', '\\' or a bad local path
├── NotFound
│   └── ArtifactNotFound        no such artifact in the run (or no such object in the store)
├── Conflict
│   └── ArtifactChanged         the local file changed while it was being logged
└── ArtifactError               INTERNAL_ERROR 500
    ├── ArtifactStoreError      the store URL or its options are unusable (BAD_REQUEST 400)
    ├── ArtifactTransferError   an upload/download failed after its retries (503)
    └── CorruptArtifact         stored bytes do not match the recorded sha256
"""

from __future__ import annotations

from gittrack.errors import Conflict, GittrackError, InvalidArtifactPath, NotFound

__all__ = [
    "ArtifactChanged",
    "ArtifactError",
    "ArtifactNotFound",
    "ArtifactStoreError",
    "ArtifactTransferError",
    "CorruptArtifact",
    "InvalidArtifactPath",
]


class ArtifactNotFound(NotFound):
    """The run has no artifact at that path, or the store lacks the object."""


class ArtifactChanged(Conflict):
    """The file being logged changed while it was read; nothing was recorded."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} changed while it was being logged (its sha256 differs between reads); "
            "nothing was recorded. Log it again once it is no longer being written."
        )
        self.path = path


class ArtifactError(GittrackError):
    """Root of artifact storage errors."""


class ArtifactStoreError(ArtifactError):
    """The artifact store URL or its options cannot be used."""

    error_code = "BAD_REQUEST"
    http_status = 400


class ArtifactTransferError(ArtifactError):
    """An upload or download failed after its retries; the run records nothing of it."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class CorruptArtifact(ArtifactError):
    """Bytes read back do not match the sha256 the run recorded."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{what}: content does not match its recorded sha256 "
            f"(expected {expected[:16]}…, got {actual[:16]}…); refusing to use it. "
            "Run `gittrack fsck` to list damaged artifacts."
        )
        self.expected, self.actual = expected, actual
