"""Issue 12, finding 1: a crafted ``artifacts.yaml`` never makes gittrack read a file.

A run pushed with ``creds.txt: {sha256: ../../../../../../etc/passwd, where: store}``
(or ``sha256: ../../../config``, the server repository's ``.git/config``) is refused
by every face with a 4xx or a clear error naming the bad sha256 — the REST
artifact proxy, the UI's JSON endpoints, the CLI, the Python API, the SQL mirror
and push — and the file's bytes are never returned.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import gittrack
from gittrack.errors import BadArtifactEntry, InvalidArtifactPath
from tests.conftest import git, run_cli
from tests.hostile import (
    CONFIG_SHA,
    HOSTILE_SHAS,
    PASSWD_SHA,
    craft_model,
    craft_run,
    store_entry,
)
from tests.server_helpers import ServerProcess, bare_repo, http, own_git_env

PASSWD = Path("/etc/passwd").read_bytes()


def _leaks(body: object, config: bytes) -> bool:
    """Whether a response body holds the bytes of /etc/passwd or of the repository's config."""
    data = body if isinstance(body, bytes) else repr(body).encode()
    return PASSWD[:64] in data or config[:40] in data or b"[core]" in data


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    repo = bare_repo(base)
    # as on any server that stored a large artifact: open() resolves sha256/.. only then
    (repo / "gittrack" / "objects" / "sha256").mkdir(parents=True)
    runs = {sha: craft_run(repo, artifacts={"creds.txt": store_entry(sha)}) for sha in HOSTILE_SHAS}
    with ServerProcess(repo, env=own_git_env(base)) as srv:
        yield srv, repo, runs


@pytest.mark.parametrize("sha", HOSTILE_SHAS)
def test_server_proxy_refuses_a_sha256_that_is_a_path(hostile_server, sha):
    srv, repo, runs = hostile_server
    config = (repo / "config").read_bytes()
    url = f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/0/{runs[sha]}/artifacts/creds.txt"
    status, body = http("GET", url)
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert sha in body["message"] and "64 lowercase hex" in body["message"]
    assert "creds.txt" in body["message"]
    assert not _leaks(body, config)
    # listing the run's artifacts is refused the same way
    status, body = http("GET", f"{srv.url}/api/2.0/mlflow/artifacts/list?run_id={runs[sha]}")
    assert status == 400 and sha in body["message"]


@pytest.mark.parametrize("sha", HOSTILE_SHAS)
def test_ui_json_refuses_a_sha256_that_is_a_path(hostile_server, sha):
    srv, repo, runs = hostile_server
    config = (repo / "config").read_bytes()
    rid = runs[sha]
    for endpoint in ("artifact", "preview"):
        status, body = http("GET", f"{srv.url}/ui/api/runs/{rid}/{endpoint}?path=creds.txt")
        assert 400 <= status < 500, (endpoint, status, body)
        assert not _leaks(body, config)
        assert sha in str(body)
    status, body = http("GET", f"{srv.url}/ui/api/runs/{rid}/artifacts")
    assert 400 <= status < 500 and sha in str(body)


@pytest.mark.parametrize("sha", HOSTILE_SHAS)
def test_cli_and_python_refuse_a_sha256_that_is_a_path(repo, tmp_path, sha):
    rid = craft_run(repo, artifacts={"creds.txt": store_entry(sha)})
    (repo / ".git" / "gittrack" / "objects" / "sha256").mkdir(parents=True)
    config = (repo / ".git" / "config").read_bytes()
    out = tmp_path / "out"
    res = run_cli("artifacts", "get", rid, "creds.txt", "-o", str(out), cwd=repo)
    assert res.returncode != 0
    assert sha in res.stderr and "64 lowercase hex" in res.stderr
    assert not _leaks(res.stdout.encode() + res.stderr.encode(), config)
    assert not out.exists() or not any(out.rglob("*"))
    res = run_cli("artifacts", "ls", rid, cwd=repo)
    assert res.returncode != 0 and sha in res.stderr
    with pytest.raises(BadArtifactEntry, match="creds.txt.*64 lowercase hex"):
        gittrack.Client().download_artifacts(rid, "creds.txt", tmp_path / "py")
    with pytest.raises(BadArtifactEntry, match="64 lowercase hex"):
        gittrack.Client().list_artifacts(rid)
    with pytest.raises(BadArtifactEntry, match="64 lowercase hex"):
        gittrack.load_model(f"runs:/{rid}/creds.txt", dst_path=tmp_path / "model")


@pytest.mark.parametrize("sha", HOSTILE_SHAS)
def test_logged_model_artifacts_refuse_a_sha256_that_is_a_path(hostile_server, sha):
    srv, repo, _ = hostile_server
    config = (repo / "config").read_bytes()
    model_id = craft_model(repo, artifacts={"creds.txt": store_entry(sha)})
    url = f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/0/models/{model_id}/artifacts/creds.txt"
    status, body = http("GET", url)
    assert 400 <= status < 500, body
    assert sha in str(body) and not _leaks(body, config)


def test_hostile_path_in_the_manifest_is_refused_by_the_server(hostile_server):
    srv, repo, _ = hostile_server
    rid = craft_run(repo, artifacts={"../../escape.txt": store_entry("a" * 64)})
    status, body = http("GET", f"{srv.url}/api/2.0/mlflow/artifacts/list?run_id={rid}")
    assert status == 200 and body.get("files", []) == []  # never listed, never served


def test_sync_drops_the_hostile_entry_and_push_refuses_the_run(repo, tmp_path):
    good = gittrack.Client().create_run("0", run_name="good").info.run_id
    bad = craft_run(repo, artifacts={"creds.txt": store_entry(CONFIG_SHA)})
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    res = run_cli("sync", url, cwd=repo)
    assert res.returncode == 0, res.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "mirror.db") as db:
        ids = {r[0] for r in db.execute("SELECT run_id FROM runs")}
        shas = [r[0] for r in db.execute("SELECT sha256 FROM artifacts")]
    assert good in ids and bad in ids  # the run is mirrored, its bad entry is not
    assert CONFIG_SHA not in shas
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    res = run_cli("push", "origin", cwd=repo)
    assert bad in res.stdout + res.stderr and CONFIG_SHA in res.stdout + res.stderr
    remote_refs = git(remote, "for-each-ref", "--format=%(refname)")
    assert good in remote_refs and bad not in remote_refs


def test_valid_sha256_is_still_served(repo, tmp_path):
    """The rule refuses paths, not artifacts: a real store artifact still downloads."""
    client = gittrack.Client()
    rid = client.create_run("0").info.run_id
    big = tmp_path / "weights.bin"
    big.write_bytes(b"w" * (2 * 1024 * 1024))
    client.log_artifact(rid, str(big))
    got = client.download_artifacts(rid, "weights.bin", tmp_path / "dl")
    assert Path(got).read_bytes() == big.read_bytes()
    with pytest.raises(InvalidArtifactPath, match="contains '..'"):
        client.download_artifacts(rid, "../" + PASSWD_SHA, tmp_path / "dl2")


def test_the_guard_refuses_a_pushed_run_whose_sha256_is_a_path(repo, tmp_path):
    """The central repository's pre-receive guard applies the same artifact-entry rule."""
    bare = tmp_path / "central.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    guard = Path(__file__).resolve().parent.parent / "remotes" / "pre-receive"
    (bare / "hooks" / "pre-receive").symlink_to(guard)
    rid = craft_run(repo, artifacts={"creds.txt": store_entry(CONFIG_SHA)})
    ref = f"refs/gittrack/runs/{rid}"
    res = subprocess.run(
        ["git", "push", str(bare), f"{ref}:{ref}"], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert CONFIG_SHA in res.stderr and "64 lowercase hex" in res.stderr
    assert git(bare, "for-each-ref", "refs/gittrack/") == ""
