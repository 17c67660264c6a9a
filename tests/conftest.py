"""Shared fixtures: real git repositories in tmp_path, isolated from the user's config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# MLflow's telemetry is on outside CI and races with its own servers at exit
# (KeyError: '_MLFLOW_TELEMETRY_SESSION_ID'): off for the suite and every server it starts.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
os.environ.update(QUIET_ENV)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    """A private HOME and git config per test; no GITTRACK_/MLFLOW_ variables leak in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for var in list(os.environ):
        if var.startswith(("GITTRACK_", "MLFLOW_")):
            monkeypatch.delenv(var)
    for var, value in QUIET_ENV.items():
        monkeypatch.setenv(var, value)
    yield
    # end any run a test left active so it cannot leak into the next test
    if "gittrack.api.fluent" in sys.modules:
        sys.modules["gittrack.api.fluent"]._reset_for_tests()


def git(cwd, *args: str, check: bool = True, env: dict | None = None) -> str:
    """Run the real git executable; return its stdout."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git repository with one commit, set as the working directory."""
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "author@example.com")
    (path / "train.py").write_text("print('training')\n")
    (path / ".gitignore").write_text("*.ckpt\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    monkeypatch.chdir(path)
    return path


def run_cli(*args: str, cwd=None, env: dict | None = None, input: str | None = None):
    """Run ``python -m gittrack ARGS`` as a separate process (what a user types)."""
    return subprocess.run(
        [sys.executable, "-m", "gittrack", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
    )


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing, but fail under CI=true where it must be there."""
    if IN_CI:
        pytest.fail(f"{name} is required under CI=true but is not reachable: {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


# Real servers for artifact stores: S3 (moto): fixtures `s3` and `s3_server_session`;
# Azure Blob (Azurite) and GCS (gcp-storage-emulator): fixtures `azurite` and `gcs`.
from tests.cloudservers import azurite, azurite_session, gcs, gcs_session  # noqa: E402, F401
from tests.s3server import s3, s3_server_session  # noqa: E402, F401
