"""Settings of one ``gittrack server``."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MAX_JSON_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_ARTIFACT_BYTES = 16 * 1024**3


@dataclass
class ServerConfig:
    """What the app needs to know; built by the CLI or by tests.

    ``auth_token``: when set, every request but ``/health`` must carry
    ``Authorization: Bearer <token>`` or HTTP basic auth whose password is the
    token (any user name; this is what ``git`` sends for
    ``http://user:token@host/git/``).
    """

    repo: str
    auth_token: str | None = None
    artifacts_destination: str | None = None
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    workers: int = 1

    @classmethod
    def from_env(cls) -> ServerConfig:
        """The config a worker process reads from ``GITTRACK_SERVER_*`` variables."""
        return cls(
            repo=os.environ["GITTRACK_SERVER_REPO"],
            auth_token=os.environ.get("GITTRACK_SERVER_TOKEN") or None,
            artifacts_destination=os.environ.get("GITTRACK_SERVER_ARTIFACTS") or None,
            max_json_bytes=int(
                os.environ.get("GITTRACK_SERVER_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES)
            ),
            max_artifact_bytes=int(
                os.environ.get("GITTRACK_SERVER_MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES)
            ),
            workers=int(os.environ.get("GITTRACK_SERVER_WORKERS", "1")),
        )

    def to_env(self) -> dict[str, str]:
        env = {
            "GITTRACK_SERVER_REPO": self.repo,
            "GITTRACK_SERVER_MAX_JSON_BYTES": str(self.max_json_bytes),
            "GITTRACK_SERVER_MAX_ARTIFACT_BYTES": str(self.max_artifact_bytes),
            "GITTRACK_SERVER_WORKERS": str(self.workers),
        }
        if self.auth_token:
            env["GITTRACK_SERVER_TOKEN"] = self.auth_token
        if self.artifacts_destination:
            env["GITTRACK_SERVER_ARTIFACTS"] = self.artifacts_destination
        return env
