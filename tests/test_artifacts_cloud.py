"""Artifacts in Azure Blob (``az://``, ``abfs://``) and Google Cloud Storage (``gs://``) stores.

Real emulators on loopback (Azurite through adlfs, gcp-storage-emulator through
gcsfs, see ``tests/cloudservers.py``); credentials and endpoints come from the
environment variables each backend reads, as a user's would.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import gittrack
from tests.conftest import git, kept_changing, run_cli
from tests.server_helpers import ServerProcess

MiB = 1024 * 1024
BUCKET = "team-bkt"
PREFIX = "ml/artifacts"


@dataclass
class Cloud:
    """One emulated store: ``url`` is the artifact store URL a project would configure."""

    scheme: str
    server: Any

    @property
    def url(self) -> str:
        return f"{self.scheme}://{BUCKET}/{PREFIX}"

    def keys(self) -> list[str]:
        return self.server.keys(BUCKET)

    def object_key(self, sha: str) -> str:
        return f"{PREFIX}/sha256/{sha[:2]}/{sha[2:]}"


def _forget_filesystems() -> None:
    """Drop fsspec's cached Azure/GCS filesystems: they hold the credentials they were made with."""
    import fsspec

    for protocol in ("az", "gs"):
        fsspec.get_filesystem_class(protocol).clear_instance_cache()


def _cloud(request: pytest.FixtureRequest, scheme: str) -> Cloud:
    _forget_filesystems()
    server = request.getfixturevalue("gcs" if scheme == "gs" else "azurite")
    if scheme == "gs":
        server.make_bucket(BUCKET)
    else:
        server.make_container(BUCKET)
    return Cloud(scheme, server)


@pytest.fixture(params=["az", "abfs", "gs"])
def any_cloud(request) -> Cloud:
    return _cloud(request, request.param)


@pytest.fixture(params=["az", "gs"])
def cloud(request) -> Cloud:
    return _cloud(request, request.param)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_log_list_download_and_a_large_upload_in_parts(any_cloud, repo, tmp_path):
    git(repo, "config", "gittrack.artifacts", any_cloud.url)
    git(repo, "config", "gittrack.artifacts.chunk-size", str(5 * MiB))
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(23 * MiB + 17))  # five parts of 5 MiB, the last one short
    plots = tmp_path / "plots"
    (plots / "deep").mkdir(parents=True)
    (plots / "a.csv").write_text("x,y\n1,2\n")
    (plots / "deep" / "b.bin").write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run() as run:
        gittrack.log_artifact(big, "model")
        gittrack.log_artifacts(plots, "plots")
        gittrack.log_text("hello", "notes.txt")
    rid = run.info.run_id

    # the two files over 1 MiB are in the bucket, under their sha256; small ones stay in git
    want = sorted(
        any_cloud.object_key(_sha(p.read_bytes())) for p in (big, plots / "deep" / "b.bin")
    )
    assert any_cloud.keys() == want
    listed = {(f.path, f.is_dir, f.file_size) for f in gittrack.list_artifacts(rid)}
    assert listed == {("model", True, None), ("notes.txt", False, 5), ("plots", True, None)}
    out = Path(gittrack.download_artifacts(run_id=rid, dst_path=tmp_path / "dl"))
    assert (out / "model" / "weights.bin").read_bytes() == big.read_bytes()
    assert (out / "plots" / "deep" / "b.bin").read_bytes() == (
        plots / "deep" / "b.bin"
    ).read_bytes()
    assert (out / "notes.txt").read_text() == "hello"

    # the CLI sees the same, and a second clone of the config downloads from the bucket
    ls = run_cli("artifacts", "ls", rid[:8], "model", cwd=repo)
    assert ls.returncode == 0, ls.stderr
    assert "model/weights.bin" in ls.stdout and "23.0 MiB" in ls.stdout
    fresh = tmp_path / "fresh"
    got = run_cli("artifacts", "get", rid, "model/weights.bin", "-o", str(fresh), cwd=repo)
    assert got.returncode == 0, got.stderr
    assert (fresh / "model" / "weights.bin").read_bytes() == big.read_bytes()
    fsck = run_cli("fsck", cwd=repo)
    assert fsck.returncode == 0, fsck.stderr
    assert "checked 1 run(s), 4 artifact(s), 2 store object(s): ok" in fsck.stdout


def test_gc_frees_exactly_the_unreferenced_objects_and_fsck_finds_damage(cloud, repo, tmp_path):
    git(repo, "config", "gittrack.artifacts", cloud.url)
    keep, drop = tmp_path / "keep.bin", tmp_path / "drop.bin"
    keep.write_bytes(os.urandom(2 * MiB))
    drop.write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run() as kept:
        gittrack.log_artifact(keep)
    with gittrack.start_run() as dropped:
        gittrack.log_artifact(drop)
        gittrack.log_artifact(keep)  # shared with the kept run: must survive
    assert len(cloud.keys()) == 2
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{dropped.info.run_id}")

    dry = run_cli("gc", "--dry-run", "--grace", "0", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    assert "would remove 1 unreferenced object(s), 2.0 MiB" in dry.stdout
    assert len(cloud.keys()) == 2
    recent = run_cli("artifacts", "gc", cwd=repo)  # the same command under `artifacts`
    assert "kept 1 unreferenced object(s) younger than 3600 s" in recent.stdout
    done = run_cli("gc", "--grace", "0", cwd=repo)
    assert "removed 1 unreferenced object(s), 2.0 MiB" in done.stdout
    assert cloud.keys() == [cloud.object_key(_sha(keep.read_bytes()))]
    fsck = run_cli("fsck", cwd=repo)
    assert fsck.returncode == 0, fsck.stderr
    assert "checked 1 run(s), 1 artifact(s), 1 store object(s): ok" in fsck.stdout

    # an object altered by hand: fsck names the run and the file, download refuses
    sha = _sha(keep.read_bytes())
    cloud.server.put(BUCKET, cloud.object_key(sha), b"x" * (2 * MiB))
    bad = run_cli("fsck", cwd=repo)
    assert bad.returncode == 1
    assert f"{kept.info.run_id} keep.bin: object {sha[:12]}" in bad.stderr
    assert "does not match its sha256" in bad.stderr
    with pytest.raises(gittrack.GittrackError, match="does not match its recorded sha256"):
        gittrack.download_artifacts(run_id=kept.info.run_id, dst_path=tmp_path / "dl")
    assert not (tmp_path / "dl" / "keep.bin").exists()


def test_file_changing_during_upload_is_not_recorded(cloud, repo, tmp_path):
    git(repo, "config", "gittrack.artifacts", cloud.url)
    git(repo, "config", "gittrack.artifacts.chunk-size", str(5 * MiB))
    f = tmp_path / "changing.bin"
    f.write_bytes(os.urandom(30 * MiB))
    with gittrack.start_run() as run, kept_changing(f, lambda k: k * 4096 % (30 * MiB), 0.002):
        with pytest.raises(gittrack.GittrackError, match="changed while it was being logged"):
            for _ in range(5):
                gittrack.log_artifact(f)
    assert gittrack.list_artifacts(run.info.run_id) == []
    assert cloud.keys() == []  # nothing half-written or wrong under any sha256


def test_missing_bucket_is_a_clear_error(cloud, repo, tmp_path):
    url = f"{cloud.scheme}://no-such-bucket/x"
    git(repo, "config", "gittrack.artifacts", url)
    git(repo, "config", "gittrack.artifacts.retries", "0")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run() as run:
        with pytest.raises(gittrack.GittrackError, match=f"artifact store {url} does not exist"):
            gittrack.log_artifact(big)
    assert gittrack.list_artifacts(run.info.run_id) == []


def test_push_uploads_and_pull_artifacts_downloads(cloud, tmp_path, monkeypatch):
    """Runs logged before the team store was set: push uploads their objects from the
    local cache; a colleague's `pull --artifacts` downloads them, then works offline."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(origin), str(a))
    (a / "train.py").write_text("print('train')\n")
    git(a, "add", ".")
    git(a, "commit", "-q", "-m", "train")
    git(a, "push", "-q", "origin", "main")
    monkeypatch.chdir(a)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(3 * MiB))
    with gittrack.start_run() as run:  # the default store: a's local .git/gittrack/objects
        gittrack.log_artifact(weights)
    rid = run.info.run_id
    assert cloud.keys() == []

    git(a, "config", "gittrack.artifacts", cloud.url)
    pushed = run_cli("push", cwd=a)
    assert pushed.returncode == 0, pushed.stderr
    assert "note: uploaded 1 large artifact(s) to the artifact store" in pushed.stdout
    assert cloud.keys() == [cloud.object_key(_sha(weights.read_bytes()))]

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(origin), str(b))
    git(b, "config", "gittrack.artifacts", cloud.url)
    pulled = run_cli("pull", "--artifacts", cwd=b)
    assert pulled.returncode == 0, pulled.stderr
    cached = b / ".git" / "gittrack" / "objects" / "sha256"
    sha = _sha(weights.read_bytes())
    assert (cached / sha[:2] / sha[2:]).read_bytes() == weights.read_bytes()
    cloud.server.delete(BUCKET, cloud.object_key(sha))  # B now works from its cache alone
    got = run_cli("artifacts", "get", rid[:8], "weights.bin", "-o", str(tmp_path / "o"), cwd=b)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "o" / "weights.bin").read_bytes() == weights.read_bytes()


def test_server_artifact_proxy_stores_in_the_bucket(cloud, tmp_path):
    repo = tmp_path / "srv.git"
    git(tmp_path, "init", "-q", "--bare", str(repo))
    data = os.urandom(3 * MiB + 5)
    sha = _sha(data)
    env = dict(cloud.server.env())
    with ServerProcess(repo, "--artifacts-destination", cloud.url, env=env) as server:
        import json

        req = urllib.request.Request(
            f"{server.url}/api/2.0/mlflow/runs/create",
            data=json.dumps({"experiment_id": "0"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            rid = json.loads(resp.read())["run"]["info"]["run_id"]
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/{rid}/artifacts/model/w.bin"
        put = urllib.request.Request(url, data=data, method="PUT")
        with urllib.request.urlopen(put, timeout=60) as resp:
            assert resp.status == 200, server.stderr()
        assert cloud.keys() == [cloud.object_key(sha)]
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert resp.read() == data


def test_wrong_azure_key_is_reported_with_where_credentials_come_from(
    azurite, repo, tmp_path, monkeypatch
):
    azurite.make_container(BUCKET)
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=Xby8")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong)
    _forget_filesystems()  # fsspec reuses a filesystem made with the right key before
    git(repo, "config", "gittrack.artifacts", f"az://{BUCKET}/x")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * MiB))
    try:
        with gittrack.start_run() as run:
            with pytest.raises(gittrack.GittrackError) as err:
                gittrack.log_artifact(big)
    finally:
        _forget_filesystems()  # the next test gets one made with its own key
    assert f"access to the artifact store az://{BUCKET}/x was denied" in str(err.value)
    assert "for Azure: AZURE_STORAGE_CONNECTION_STRING" in str(err.value)
    assert gittrack.list_artifacts(run.info.run_id) == []
    assert azurite.keys(BUCKET) == []
