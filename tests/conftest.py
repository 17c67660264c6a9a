"""Shared fixtures: real git repositories in tmp_path, isolated from the user's config."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def isolate_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make ``home`` the HOME and git config (none of the user's or the system's), this
    checkout importable, no GITTRACK_/MLFLOW_ variables but :data:`QUIET_ENV`."""
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


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    """A private HOME and git config per test; no GITTRACK_/MLFLOW_ variables leak in."""
    isolate_env(monkeypatch, tmp_path_factory.mktemp("home"))
    yield
    # end any run a test left active so it cannot leak into the next test
    if "gittrack.api.fluent" in sys.modules:
        sys.modules["gittrack.api.fluent"]._reset_for_tests()


_MLFLOW_URI_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def mlflow_uris_restored() -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs (``mlflow.set_tracking_uri``,
    ``mlflow.set_registry_uri`` and the environment variables they set) put back as they were
    on entry. MLflow is never imported here: a module it has not imported yet has no URI set."""
    tracking = sys.modules.get("mlflow.tracking._tracking_service.utils")
    registry = sys.modules.get("mlflow.tracking._model_registry.utils")
    tracking_uri = getattr(tracking, "_tracking_uri", None)
    registry_uri = getattr(registry, "_registry_uri", None)
    env = {var: os.environ.get(var) for var in _MLFLOW_URI_VARS}
    try:
        yield
    finally:
        tracking = sys.modules.get("mlflow.tracking._tracking_service.utils")
        registry = sys.modules.get("mlflow.tracking._model_registry.utils")
        if tracking is not None:
            tracking.set_tracking_uri(tracking_uri)  # also resets MLflow's tracer on a change
        if registry is not None:
            registry._registry_uri = registry_uri
        for var, value in env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@pytest.fixture(autouse=True)
def _restore_mlflow_uris() -> Iterator[None]:
    """A tracking URI one test sets never outranks the next test's environment."""
    with mlflow_uris_restored():
        yield


def git(cwd, *args: str, check: bool = True, env: dict | None = None) -> str:
    """Run the real git executable; return its stdout."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def forge_commit(
    repo,
    files: dict[str, str | bytes | None],
    *,
    base: str | None = None,
    parents: tuple[str, ...] = (),
    message: str = "forged",
    env: dict | None = None,
) -> str:
    """A commit made with git plumbing only (no gittrack code, on no ref), as a forger
    would push it: its tree is ``base``'s (a commit or tree id; empty when None) with
    ``files`` (tree path -> text or bytes, or None to remove it) written over it. Returns its
    id."""
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    index = {"GIT_INDEX_FILE": str(gitdir / f"forge-index-{uuid.uuid4().hex}")}
    try:
        if base is not None:
            git(repo, "read-tree", base, env=index)
        for path, content in files.items():
            if content is None:
                git(repo, "update-index", "--force-remove", path, env=index)
                continue
            data = content.encode() if isinstance(content, str) else content
            blob = subprocess.run(
                ["git", "hash-object", "-w", "--stdin"],
                cwd=repo,
                input=data,
                capture_output=True,
                check=True,
            ).stdout.decode()
            cacheinfo = f"100644,{blob.strip()},{path}"
            git(repo, "update-index", "--add", "--cacheinfo", cacheinfo, env=index)
        tree = git(repo, "write-tree", env=index).strip()
    finally:
        Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    return git(
        repo, "commit-tree", tree, *parent_args, "-m", message, env={**(env or {}), **index}
    ).strip()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git repository with one commit, set as the working directory."""
    path = init_project(tmp_path / "project", {".gitignore": "*.ckpt\n"})
    monkeypatch.chdir(path)
    return path


def init_project(path: Path, files: dict[str, str] | None = None) -> Path:
    """Make the new folder ``path`` a git repository (branch main, the test author) with
    one commit "initial" holding ``train.py`` and ``files`` (name -> text)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "author@example.com")
    commit_text(path, {"train.py": "print('training')\n", **(files or {})}, "initial")
    return path


def commit_text(repo: Path, files: dict[str, str], message: str) -> None:
    """Write ``files`` (path -> text; folders made as needed) in ``repo`` and commit them."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)


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


def python_with_mlflow_at(uri: str, code: str, cwd: Path) -> str:
    """``python -c CODE`` in ``cwd`` with ``MLFLOW_TRACKING_URI=uri`` (a user's MLflow
    script); it must succeed. Returns its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def client_process(repo: Path, body: str) -> str:
    """Run the Python lines ``body`` in a fresh process in ``repo``, with ``c`` a
    ``Client('.')``; return the last line it printed (e.g. a run id)."""
    code = "from gittrack.api.client import Client\nc = Client('.')\n" + body
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def kept_changing(path: Path, offset: Callable[[int], int], pause: float) -> Iterator[None]:
    """While the block runs, a thread keeps overwriting 4 KiB of ``path`` with random bytes
    (the k-th write at ``offset(k)``, ``pause`` seconds apart); it is stopped on leaving."""
    stop = threading.Event()

    def scribble() -> None:
        k = 0
        while not stop.is_set():
            with open(path, "r+b") as fh:
                fh.seek(offset(k))
                fh.write(os.urandom(4096))
            k += 1
            time.sleep(pause)

    t = threading.Thread(target=scribble)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing, but fail under CI=true where it must be there."""
    if IN_CI:
        pytest.fail(f"{name} is required under CI=true but is not reachable: {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


# Real servers for artifact stores: S3 (moto): fixtures `s3` and `s3_server_session`;
# Azure Blob (Azurite) and GCS (gcp-storage-emulator): fixtures `azurite` and `gcs`.
from tests.cloudservers import azurite, azurite_session, gcs, gcs_session  # noqa: E402, F401
from tests.s3server import s3, s3_server_session  # noqa: E402, F401
