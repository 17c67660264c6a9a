"""Artifacts in an S3 store (moto's server on loopback, through s3fs): the team workflow."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import gittrack
from gittrack.errors import ArtifactTransferError
from tests.conftest import git, kept_changing, run_cli
from tests.s3server import CREDENTIALS, S3Server

MiB = 1024 * 1024


class LinearModel:
    """A 'model' whose weights make it as large as we want."""

    def __init__(self, n_features: int, n_outputs: int, seed: int = 0) -> None:
        self.w = np.random.default_rng(seed).standard_normal((n_features, n_outputs))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w


def _project_file(endpoint: str, bucket: str = "team-bkt", extra: str = "") -> str:
    return (
        "artifacts:\n"
        f"  url: s3://{bucket}/ml/artifacts\n"
        "  options:\n"
        f"    endpoint_url: {endpoint}\n"
        "    config_kwargs: {retries: {max_attempts: 1}}\n" + extra
    )


@pytest.fixture
def team(tmp_path, s3, monkeypatch):
    """An origin, clone A (where runs are logged) and clone B (a colleague), sharing an S3 store."""
    s3.make_bucket("team-bkt")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(origin), str(a))
    (a / "train.py").write_text("print('train')\n")
    (a / ".gittrack.yaml").write_text(_project_file(s3.endpoint))
    git(a, "add", ".")
    git(a, "commit", "-q", "-m", "project with a shared artifact store")
    git(a, "push", "-q", "origin", "main")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(origin), str(b))
    monkeypatch.chdir(a)
    return {"origin": origin, "a": a, "b": b, "s3": s3}


def _bucket_keys(s3) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket="team-bkt")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_colleague_downloads_a_50mib_model_by_run_id(team, monkeypatch, tmp_path):
    model = LinearModel(n_features=6400, n_outputs=1024)  # 6.5M float64 = 50 MiB
    x = np.random.default_rng(1).standard_normal((5, 6400))
    with gittrack.start_run() as run:
        info = gittrack.log_model(model, "model")
        gittrack.log_text("small", "notes.txt")
    rid = run.info.run_id
    keys = _bucket_keys(team["s3"])
    assert len(keys) == 1 and keys[0].startswith("ml/artifacts/sha256/")
    git(team["a"], "push", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")

    # the colleague: a different clone, plain git fetch, only the run id
    b = team["b"]
    git(b, "fetch", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    monkeypatch.chdir(b)
    gittrack.api.fluent._reset_for_tests()
    loaded = gittrack.load_model(f"runs:/{rid}/model")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert info.model_uri == f"runs:/{rid}/model"
    assert gittrack.load_text(f"runs:/{rid}/notes.txt") == "small"

    # the second download is served by B's local cache, even with the bucket emptied
    for key in _bucket_keys(team["s3"]):
        team["s3"].client().delete_object(Bucket="team-bkt", Key=key)
    again = gittrack.load_model(f"runs:/{rid}/model", dst_path=tmp_path / "again")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_gc_frees_exactly_the_unreferenced_objects_and_fsck_is_clean(team, tmp_path):
    a = team["a"]
    keep, drop = tmp_path / "keep.bin", tmp_path / "drop.bin"
    keep.write_bytes(os.urandom(2 * MiB))
    drop.write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run() as kept:
        gittrack.log_artifact(keep)
    with gittrack.start_run() as dropped:
        gittrack.log_artifact(drop)
        gittrack.log_artifact(keep)  # shared with the kept run: must survive
    assert len(_bucket_keys(team["s3"])) == 2
    git(a, "update-ref", "-d", f"refs/gittrack/runs/{dropped.info.run_id}")

    dry = run_cli("gc", "--dry-run", "--grace", "0", cwd=a)
    assert dry.returncode == 0, dry.stderr
    assert "would remove 1 unreferenced object(s), 2.0 MiB" in dry.stdout
    assert len(_bucket_keys(team["s3"])) == 2

    recent = run_cli("gc", cwd=a)
    assert "kept 1 unreferenced object(s) younger than 3600 s" in recent.stdout
    assert len(_bucket_keys(team["s3"])) == 2

    done = run_cli("gc", "--grace", "0", cwd=a)
    assert "removed 1 unreferenced object(s), 2.0 MiB" in done.stdout
    import hashlib

    want = hashlib.sha256(keep.read_bytes()).hexdigest()
    assert _bucket_keys(team["s3"]) == [f"ml/artifacts/sha256/{want[:2]}/{want[2:]}"]
    fsck = run_cli("fsck", cwd=a)
    assert fsck.returncode == 0, fsck.stderr
    assert "checked 1 run(s), 1 artifact(s), 1 store object(s): ok" in fsck.stdout
    out = gittrack.download_artifacts(run_id=kept.info.run_id, dst_path=tmp_path / "dl")
    assert Path(out, "keep.bin").read_bytes() == keep.read_bytes()

    # an object altered by hand: fsck names the run and the file, download refuses
    team["s3"].client().put_object(
        Bucket="team-bkt", Key=f"ml/artifacts/sha256/{want[:2]}/{want[2:]}", Body=b"x" * (2 * MiB)
    )
    bad = run_cli("fsck", cwd=a)
    assert bad.returncode == 1
    assert f"{kept.info.run_id} keep.bin: object {want[:12]}" in bad.stderr
    assert "does not match its sha256" in bad.stderr


def test_server_stopped_mid_upload_leaves_the_run_intact(tmp_path, monkeypatch, repo):
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    server = S3Server().start()
    try:
        server.make_bucket("team-bkt")
        (repo / ".gittrack.yaml").write_text(
            _project_file(server.endpoint, extra="  retries: 1\n  retry-backoff: 0.05\n")
        )
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(40 * MiB))
        client = server.client()

        def kill_when_uploading() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.list_multipart_uploads(Bucket="team-bkt").get("Uploads"):
                        server.stop()
                        return
                except Exception:
                    return
                time.sleep(0.01)

        with gittrack.start_run() as run:
            gittrack.log_text("before", "before.txt")
            t = threading.Thread(target=kill_when_uploading)
            t.start()
            with pytest.raises(ArtifactTransferError, match="big.bin .*failed after 2 attempt"):
                gittrack.log_artifact(big)
            t.join()
            gittrack.log_metric("loss", 0.5)  # the run keeps working
            assert [f.path for f in gittrack.list_artifacts()] == ["before.txt"]
            server.start()
            server.make_bucket("team-bkt")
            gittrack.log_artifact(big)  # retrying later works
        rid = run.info.run_id
        assert [f.path for f in gittrack.list_artifacts(rid)] == ["before.txt", "big.bin"]
        assert gittrack.get_run(rid).data.metrics == {"loss": 0.5}
        out = gittrack.download_artifacts(
            run_id=rid, artifact_path="big.bin", dst_path=tmp_path / "o"
        )
        assert Path(out).read_bytes() == big.read_bytes()
        fsck = run_cli("fsck", cwd=repo)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    finally:
        server.stop()


def test_wrong_credentials_are_reported(repo, tmp_path, monkeypatch):
    server = S3Server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        git(repo, "config", "gittrack.artifacts", "s3://team-bkt/x")
        git(repo, "config", "gittrack.artifacts.endpoint-url", server.endpoint)
        git(repo, "config", "gittrack.artifacts.retries", "0")
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(2 * MiB))
        with gittrack.start_run() as run:
            with pytest.raises(gittrack.GittrackError, match="was denied .*Check the credentials"):
                gittrack.log_artifact(big)
        assert gittrack.list_artifacts(run.info.run_id) == []
    finally:
        server.stop()


def test_file_changing_during_s3_upload_is_not_recorded(repo, s3, tmp_path):
    s3.make_bucket("team-bkt")
    git(repo, "config", "gittrack.artifacts", "s3://team-bkt/x")
    git(repo, "config", "gittrack.artifacts.endpoint-url", s3.endpoint)
    git(repo, "config", "gittrack.artifacts.chunk-size", str(5 * MiB))
    f = tmp_path / "changing.bin"
    f.write_bytes(os.urandom(30 * MiB))
    with gittrack.start_run() as run, kept_changing(f, lambda k: k * 4096 % (30 * MiB), 0.002):
        with pytest.raises(gittrack.GittrackError, match="changed while it was being logged"):
            for _ in range(5):
                gittrack.log_artifact(f)
    assert gittrack.list_artifacts(run.info.run_id) == []
    assert _bucket_keys(s3) == []
    assert s3.client().list_multipart_uploads(Bucket="team-bkt").get("Uploads") is None


def test_large_upload_declares_part_checksums_and_waits_for_a_slow_completion(repo, s3, tmp_path):
    """Each part carries its CRC32 (the service checks it and combines them), and the S3
    client waits as long as boto3 for a completion (s3fs's 15 s resent slow ones)."""
    s3.make_bucket("team-bkt")
    git(repo, "config", "gittrack.artifacts", "s3://team-bkt/x")
    git(repo, "config", "gittrack.artifacts.endpoint-url", s3.endpoint)
    git(repo, "config", "gittrack.artifacts.chunk-size", str(5 * MiB))
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(12 * MiB))  # 3 parts
    with gittrack.start_run() as run:
        gittrack.log_artifact(f)
    [key] = _bucket_keys(s3)
    head = s3.client().head_object(Bucket="team-bkt", Key=key, ChecksumMode="ENABLED")
    # declared CRC32 of the parts (undeclared, S3 and moto give a full-object CRC64NVME)
    assert head.get("ChecksumCRC32") and "ChecksumCRC64NVME" not in head, head
    assert head["ContentLength"] == 12 * MiB
    out = tmp_path / "back"
    gittrack.download_artifacts(run_id=run.info.run_id, dst_path=out)
    assert (out / "weights.bin").read_bytes() == f.read_bytes()

    from gittrack.artifacts.cas import S3_READ_TIMEOUT, ContentStore

    store = ContentStore("s3://team-bkt/x", {"endpoint_url": s3.endpoint})
    assert store.fs.s3.meta.config.read_timeout == S3_READ_TIMEOUT == 60
    mine = ContentStore(
        "s3://team-bkt/x", {"endpoint_url": s3.endpoint, "config_kwargs": {"read_timeout": 7}}
    )
    assert mine.fs.s3.meta.config.read_timeout == 7


def test_completion_whose_answer_is_lost_is_not_uploaded_again(repo, s3, tmp_path, monkeypatch):
    from gittrack.artifacts import uploads

    s3.make_bucket("team-bkt")
    git(repo, "config", "gittrack.artifacts", "s3://team-bkt/x")
    git(repo, "config", "gittrack.artifacts.endpoint-url", s3.endpoint)
    git(repo, "config", "gittrack.artifacts.chunk-size", str(5 * MiB))
    git(repo, "config", "gittrack.artifacts.retry-backoff", "0.01")
    sent: list[int] = []
    real_send, real_complete = uploads.S3Parts.send, uploads.S3Parts.complete

    def send(self, number, *args):
        sent.append(number)
        return real_send(self, number, *args)

    def complete_then_lose_the_answer(self, parts):
        real_complete(self, parts)  # the service stored the object...
        if not getattr(complete_then_lose_the_answer, "done", False):
            complete_then_lose_the_answer.done = True
            raise ConnectionError("read timeout")  # ...but its answer never arrived

    monkeypatch.setattr(uploads.S3Parts, "send", send)
    monkeypatch.setattr(uploads.S3Parts, "complete", complete_then_lose_the_answer)
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(11 * MiB))
    with gittrack.start_run() as run:
        gittrack.log_artifact(f)
    assert sorted(sent) == [1, 2, 3]  # each part sent once: no second upload
    [entry] = gittrack.list_artifacts(run.info.run_id)
    assert (entry.path, entry.file_size) == ("weights.bin", 11 * MiB)
    assert len(_bucket_keys(s3)) == 1


@pytest.mark.parametrize("signed", [True, False], ids=["payload-signed", "unsigned-payload"])
def test_part_rewritten_after_naming_with_its_stat_restored_is_not_stored(
    repo, s3, tmp_path, monkeypatch, signed
):
    """Each part is checked against the sha256 it had when the file was named, before
    its bytes leave: with botocore's payload hash (plain http signs the body) or, when
    the payload goes unsigned (as over https), with the part's own. A rewrite that
    keeps size, mtime and inode is caught by that check alone."""
    from gittrack.artifacts import uploads

    s3.make_bucket("team-bkt")
    signing = "" if signed else ", s3: {payload_signing_enabled: false}"
    (repo / ".gittrack.yaml").write_text(
        _project_file(s3.endpoint).replace(
            "{retries: {max_attempts: 1}}", "{retries: {max_attempts: 1}" + signing + "}"
        )
        + f"  chunk-size: {5 * MiB}\n"
    )
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(12 * MiB))
    real_part_upload_for = uploads.part_upload_for

    def rewrite_part_2_then_upload(store, target):
        st = f.stat()
        with open(f, "r+b") as fh:
            fh.seek(6 * MiB)
            fh.write(os.urandom(4096))
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
        return real_part_upload_for(store, target)

    monkeypatch.setattr(uploads, "part_upload_for", rewrite_part_2_then_upload)
    with gittrack.start_run() as run:
        with pytest.raises(gittrack.GittrackError, match="changed while it was being logged"):
            gittrack.log_artifact(f)
    assert gittrack.list_artifacts(run.info.run_id) == []
    assert _bucket_keys(s3) == []
    assert s3.client().list_multipart_uploads(Bucket="team-bkt").get("Uploads") is None
    monkeypatch.setattr(uploads, "part_upload_for", real_part_upload_for)
    with gittrack.start_run() as run:  # the file as it is now uploads and reads back
        gittrack.log_artifact(f)
    out = gittrack.download_artifacts(run_id=run.info.run_id, dst_path=tmp_path / "back")
    assert (Path(out) / "weights.bin").read_bytes() == f.read_bytes()


def test_part_client_is_the_s3fs_client_configuration(s3, monkeypatch):
    """Parts go through a blocking botocore client built from s3fs's: same endpoint,
    region, configuration and credentials (here the store's options, not the
    environment's), s3fs's error translation."""
    from gittrack.artifacts import s3client
    from gittrack.artifacts.cas import ContentStore

    s3.make_bucket("team-bkt")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMENT")
    store = ContentStore(
        "s3://team-bkt/x",
        {
            "endpoint_url": s3.endpoint,
            "key": "AKIAFROMTHEOPTIONS00",
            "secret": "s",
            "config_kwargs": {"read_timeout": 7, "retries": {"max_attempts": 2}},
        },
    )
    client = s3client.thread_client(store.fs, "team-bkt", 12)
    aio = store.fs.s3
    assert client.meta.endpoint_url == aio.meta.endpoint_url == s3.endpoint
    assert client.meta.region_name == aio.meta.region_name
    assert client.meta.config.read_timeout == 7
    assert client.meta.config.retries == aio.meta.config.retries
    assert client.meta.config.retries["total_max_attempts"] == 3  # 2 retries
    assert client.meta.config.max_pool_connections >= 12
    sent: list[str] = []
    client.meta.events.register(
        "before-send.s3.HeadBucket",
        lambda request, **_: sent.append(request.headers["Authorization"].decode()),
    )
    s3client.call(store.fs, client, "head_bucket", Bucket="team-bkt")
    assert "Credential=AKIAFROMTHEOPTIONS00/" in sent[0]
    with pytest.raises(FileNotFoundError):
        s3client.call(store.fs, client, "head_object", Bucket="team-bkt", Key="nothing")
