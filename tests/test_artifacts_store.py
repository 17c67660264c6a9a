"""The content-addressed store on its own: local folder and S3 (moto server)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from gittrack.artifacts.cas import ContentStore
from gittrack.errors import (
    ArtifactChanged,
    ArtifactNotFound,
    ArtifactStoreError,
    CorruptArtifact,
    InvalidArtifactPath,
)

MiB = 1024 * 1024


def _file(path: Path, size: int, seed: int = 0) -> Path:
    path.write_bytes(os.urandom(size) if seed == 0 else bytes([seed % 256]) * size)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def local_store(tmp_path) -> ContentStore:
    return ContentStore(str(tmp_path / "store"))


def test_local_put_dedupes_and_get_verifies(tmp_path, local_store):
    f = _file(tmp_path / "a.bin", 3 * MiB)
    first = local_store.put_file(f)
    again = local_store.put_file(f)
    assert (first.sha256, first.size, first.uploaded) == (_sha(f), 3 * MiB, True)
    assert again.uploaded is False
    sha = first.sha256
    obj = tmp_path / "store" / "sha256" / sha[:2] / sha[2:]
    assert obj.read_bytes() == f.read_bytes()
    assert list(local_store.iter_objects()) == [(sha, 3 * MiB)]
    out = tmp_path / "out" / "copy.bin"
    assert local_store.get_file(sha, out) == 3 * MiB
    assert out.read_bytes() == f.read_bytes()
    assert not list((tmp_path / "store" / "tmp").iterdir())


def test_local_object_altered_by_hand_is_refused(tmp_path, local_store):
    f = _file(tmp_path / "a.bin", 1000)
    sha = local_store.put_file(f).sha256
    obj = Path(local_store.object_path(sha))
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered" + f.read_bytes()[8:])
    out = tmp_path / "out.bin"
    with pytest.raises(CorruptArtifact, match="does not match its recorded sha256"):
        local_store.get_file(sha, out)
    assert not out.exists()
    assert local_store.verify(sha) != sha


def test_missing_object(tmp_path, local_store):
    with pytest.raises(ArtifactNotFound, match="missing from the artifact store"):
        local_store.get_file("ab" * 32, tmp_path / "x")


def test_bad_sources(tmp_path, local_store):
    with pytest.raises(InvalidArtifactPath, match="does not exist"):
        local_store.put_file(tmp_path / "nope")
    with pytest.raises(InvalidArtifactPath, match="is a directory"):
        local_store.put_file(tmp_path)


def _keep_writing(path: Path, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        with open(path, "r+b") as f:
            f.seek(i % (1024 * 1024))
            f.write(os.urandom(4096))
        i += 4096
        time.sleep(0.001)


def test_local_file_changing_during_put_is_not_stored(tmp_path, local_store):
    f = _file(tmp_path / "big.bin", 64 * MiB)
    stop = threading.Event()
    t = threading.Thread(target=_keep_writing, args=(f, stop))
    t.start()
    try:
        time.sleep(0.01)
        with pytest.raises(ArtifactChanged, match="changed while it was being logged"):
            for _ in range(20):  # each try reads 64 MiB while the file is rewritten
                local_store.put_file(f)
    finally:
        stop.set()
        t.join()
    assert list(local_store.iter_objects()) == []


def test_unknown_protocol_names_it(tmp_path):
    with pytest.raises(ArtifactStoreError, match="unknown protocol 'nosuch'"):
        ContentStore("nosuch://bucket/x").put_file(_file(tmp_path / "a", 10))


# --- S3 through s3fs against moto's server --------------------------------------


def _s3_store(server, bucket="bkt", **kw) -> ContentStore:
    options = {"endpoint_url": server.endpoint, "config_kwargs": {"retries": {"max_attempts": 1}}}
    return ContentStore(f"s3://{bucket}/team/artifacts", options, **kw)


def test_s3_upload_dedupe_download_verify_delete(tmp_path, s3):
    s3.make_bucket("bkt")
    store = _s3_store(s3, chunk_size=5 * MiB)
    big = _file(tmp_path / "big.bin", 12 * MiB)  # three multipart parts
    small = _file(tmp_path / "small.bin", 100)
    r1 = store.put_file(big)
    r2 = store.put_file(small)
    assert r1.uploaded and r2.uploaded
    assert store.put_file(big).uploaded is False
    keys = sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket="bkt")["Contents"])
    assert keys == sorted(f"team/artifacts/sha256/{s[:2]}/{s[2:]}" for s in (r1.sha256, r2.sha256))
    assert s3.client().list_multipart_uploads(Bucket="bkt").get("Uploads") is None
    assert sorted(store.iter_objects()) == sorted([(r1.sha256, 12 * MiB), (r2.sha256, 100)])
    out = tmp_path / "dl" / "big.bin"
    store.get_file(r1.sha256, out)
    assert out.read_bytes() == big.read_bytes()
    assert store.read_bytes(r2.sha256) == small.read_bytes()
    store.delete(r2.sha256)
    assert not store.has(r2.sha256)


def test_s3_object_altered_by_hand_is_refused(tmp_path, s3):
    s3.make_bucket("bkt")
    store = _s3_store(s3)
    f = _file(tmp_path / "a.bin", 2000)
    sha = store.put_file(f).sha256
    key = f"team/artifacts/sha256/{sha[:2]}/{sha[2:]}"
    s3.client().put_object(Bucket="bkt", Key=key, Body=b"x" * 2000)
    out = tmp_path / "out.bin"
    with pytest.raises(CorruptArtifact, match="does not match its recorded sha256"):
        store.get_file(sha, out)
    assert not out.exists()


def test_s3_missing_bucket(tmp_path, s3):
    store = _s3_store(s3, bucket="no-such-bucket", retries=0)
    with pytest.raises(ArtifactStoreError, match="bucket"):
        store.put_file(_file(tmp_path / "a", 10))


def test_any_fsspec_protocol_works(tmp_path):
    store = ContentStore("memory://gittrack-test-bucket/x", chunk_size=MiB)
    f = _file(tmp_path / "a.bin", 3 * MiB)
    r = store.put_file(f)
    assert store.put_file(f).uploaded is False
    store.get_file(r.sha256, tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == f.read_bytes()
    assert list(store.iter_objects()) == [(r.sha256, 3 * MiB)]
    store.delete(r.sha256)


# --- which store a repository uses --------------------------------------------------


def test_store_config_precedence(repo, monkeypatch):
    from gittrack.artifacts.config import resolve_store_config
    from gittrack.core.repo import Repo
    from tests.conftest import git

    default = resolve_store_config(Repo())
    assert default.url == str(repo / ".git" / "gittrack" / "objects")
    assert (default.source, default.inline_limit, default.parallel) == ("default", MiB, 4)

    (repo / ".gittrack.yaml").write_text(
        "artifacts:\n  url: ../shared-store\n  inline-limit: 100\n"
        "  options: {endpoint_url: 'http://127.0.0.1:9'}\n"
    )
    from_yaml = resolve_store_config(Repo())
    assert from_yaml.url == str(repo.parent / "shared-store")
    assert from_yaml.source == ".gittrack.yaml" and from_yaml.inline_limit == 100
    assert from_yaml.options == {"endpoint_url": "http://127.0.0.1:9"}

    git(repo, "config", "gittrack.artifacts", "s3://clone-bucket/p")
    git(repo, "config", "gittrack.artifacts.endpoint-url", "http://127.0.0.1:10")
    git(repo, "config", "gittrack.artifacts.parallel", "8")
    from_git = resolve_store_config(Repo())
    assert (from_git.url, from_git.source) == (
        "s3://clone-bucket/p",
        "git config gittrack.artifacts",
    )
    assert from_git.options == {"endpoint_url": "http://127.0.0.1:10"}
    assert (from_git.parallel, from_git.inline_limit) == (8, 100)

    monkeypatch.setenv("GITTRACK_ARTIFACTS", "memory://env/p")
    assert resolve_store_config(Repo()).url == "memory://env/p"


def test_bad_store_settings_are_named(repo):
    from gittrack.artifacts.config import resolve_store_config
    from gittrack.core.repo import Repo
    from tests.conftest import git

    git(repo, "config", "gittrack.artifacts.parallel", "lots")
    with pytest.raises(
        ArtifactStoreError, match="gittrack.artifacts.parallel: parallel='lots' is not an integer"
    ):
        resolve_store_config(Repo())
    git(repo, "config", "--unset", "gittrack.artifacts.parallel")
    (repo / ".gittrack.yaml").write_text("artifacts: [1, 2]\n")
    with pytest.raises(ArtifactStoreError, match="artifacts must be a URL or a mapping"):
        resolve_store_config(Repo())
    (repo / ".gittrack.yaml").write_text(
        "artifacts: {url: 's3://b', options: {aws_secret_access_key: x}}\n"
    )
    with pytest.raises(ArtifactStoreError, match="looks like a credential"):
        resolve_store_config(Repo())
