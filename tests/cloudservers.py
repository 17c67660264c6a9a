"""Azure Blob and Google Cloud Storage emulators on 127.0.0.1 for tests.

``AzuriteServer`` runs Azurite (Microsoft's Azure Storage emulator, installed by
``make install-test`` into ``.cache/azurite``; ``npx azurite-blob`` when that
folder is missing) and ``GcsServer`` runs ``gcp-storage-emulator`` (PyPI), each
as a separate process on a free loopback port with a temporary workspace. Like
``tests/s3server.py`` they are real servers spoken to through the real backends
(adlfs, gcsfs); credentials and endpoints reach the backends through the
environment variables each backend reads (``AZURE_STORAGE_CONNECTION_STRING``,
``STORAGE_EMULATOR_HOST``), never through ``.gittrack.yaml``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.s3server import free_port

ROOT = Path(__file__).resolve().parent.parent
# gcsfs asks a real GCS control API for a bucket's layout, which an emulator lacks (a
# warning per call); read when gcsfs is imported, so set before any test imports it.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
AZURITE_BIN = ROOT / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> bool:
    """True once ``url`` answers (any HTTP status), False if ``proc`` died or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False


class _Process:
    """One emulator process with its own temporary workspace."""

    name = "emulator"

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.workspace: str | None = None
        self.log: Path | None = None

    def command(self) -> list[str] | None:
        raise NotImplementedError

    def probe_url(self) -> str:
        return self.endpoint

    def start(self):
        from tests.conftest import require_service

        self.workspace = tempfile.mkdtemp(prefix="gittrack-emulator-")
        cmd = self.command()
        if cmd is None:
            self.stop()
            require_service(self.name, "it is not installed (run `make install-test`)")
        self.log = Path(self.workspace) / "server.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workspace,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DO_NOT_TRACK": "1"},
            )
        if not _wait_http(self.probe_url(), self.proc):
            tail = self.log.read_text(errors="replace")[-2000:]
            self.stop()
            require_service(self.name, f"did not answer on {self.endpoint}: {tail}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.workspace is not None:
            shutil.rmtree(self.workspace, ignore_errors=True)
            self.workspace = None


class AzuriteServer(_Process):
    """Azurite's blob service; ``connection_string`` is what a user would export."""

    name = "Azurite"

    def command(self) -> list[str] | None:
        if AZURITE_BIN.exists():
            exe = [str(AZURITE_BIN)]
        elif shutil.which("azurite-blob"):
            exe = [str(shutil.which("azurite-blob"))]
        else:
            return None
        return [
            *exe,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            self.workspace or ".",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT};"
        )

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def make_container(self, name: str) -> None:
        self.service().create_container(name)

    def keys(self, container: str) -> list[str]:
        return sorted(b.name for b in self.service().get_container_client(container).list_blobs())

    def put(self, container: str, key: str, data: bytes) -> None:
        client = self.service().get_blob_client(container, key)
        client.upload_blob(data, overwrite=True)

    def delete(self, container: str, key: str) -> None:
        self.service().get_blob_client(container, key).delete_blob()

    def reset(self) -> None:
        service = self.service()
        for c in service.list_containers():
            service.delete_container(c.name)


class GcsServer(_Process):
    """gcp-storage-emulator, in memory; ``STORAGE_EMULATOR_HOST`` points gcsfs at it."""

    name = "GCS emulator"

    def command(self) -> list[str] | None:
        try:
            import gcp_storage_emulator  # noqa: F401
        except ImportError:
            return None
        return [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--in-memory",
            "--quiet",
        ]

    def probe_url(self) -> str:
        return f"{self.endpoint}/storage/v1/b"

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GOOGLE_CLOUD_PROJECT": "test"}

    def _call(self, method: str, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def make_bucket(self, name: str) -> None:
        import json

        self._call("POST", "/storage/v1/b?project=test", json.dumps({"name": name}).encode())

    def keys(self, bucket: str) -> list[str]:
        import json

        out = json.loads(self._call("GET", f"/storage/v1/b/{bucket}/o"))
        return sorted(o["name"] for o in out.get("items", []))

    def put(self, bucket: str, key: str, data: bytes) -> None:
        from urllib.parse import quote

        path = f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(key, safe='')}"
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST")
        req.add_header("Content-Type", "application/octet-stream")
        urllib.request.urlopen(req, timeout=30).read()

    def delete(self, bucket: str, key: str) -> None:
        from urllib.parse import quote

        self._call("DELETE", f"/storage/v1/b/{bucket}/o/{quote(key, safe='')}")

    def reset(self) -> None:
        self._call("GET", "/wipe")


@pytest.fixture(scope="session")
def azurite_session():
    server = AzuriteServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_session():
    server = GcsServer().start()
    yield server
    server.stop()


@pytest.fixture
def azurite(azurite_session, monkeypatch):
    """The session's Azurite, emptied, its connection string in the environment."""
    for k, v in azurite_session.env().items():
        monkeypatch.setenv(k, v)
    azurite_session.reset()
    return azurite_session


@pytest.fixture
def gcs(gcs_session, monkeypatch):
    """The session's GCS emulator, emptied, ``STORAGE_EMULATOR_HOST`` in the environment."""
    for k, v in gcs_session.env().items():
        monkeypatch.setenv(k, v)
    gcs_session.reset()
    return gcs_session
