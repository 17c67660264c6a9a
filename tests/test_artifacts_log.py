"""Logging and reading a run's artifacts through the fluent API and the Client."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gittrack
from gittrack.errors import (
    ArtifactChanged,
    ArtifactNotFound,
    ArtifactStoreError,
    CorruptArtifact,
    InvalidArtifactPath,
)
from tests.conftest import git, kept_changing

KiB = 1024
MiB = 1024 * KiB


def _manifest(repo: Path, run_id: str) -> str:
    return git(repo, "show", f"refs/gittrack/runs/{run_id}:.gittrack/artifacts.yaml")


def _objects(repo: Path) -> list[Path]:
    base = repo / ".git" / "gittrack" / "objects" / "sha256"
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_small_files_go_inline_and_large_ones_to_the_store(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts.inline-limit", "1024")
    small = tmp_path / "small.txt"
    small.write_text("s" * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1025))
    with gittrack.start_run() as run:
        gittrack.log_artifact(small)
        gittrack.log_artifact(big, "data")
    rid = run.info.run_id
    manifest = _manifest(repo, rid)
    assert "small.txt:\n" in manifest and "where: git" in manifest
    assert "data/big.bin:\n" in manifest and "where: store" in manifest
    tree = git(
        repo, "ls-tree", "-r", "--name-only", f"refs/gittrack/runs/{rid}", ".gittrack/artifacts"
    )
    assert tree.split() == [".gittrack/artifacts/small.txt"]
    assert [p.read_bytes() for p in _objects(repo)] == [big.read_bytes()]
    out = gittrack.download_artifacts(run_id=rid, dst_path=tmp_path / "dl")
    assert Path(out, "small.txt").read_text() == "s" * 1024
    assert Path(out, "data", "big.bin").read_bytes() == big.read_bytes()


def test_text_dict_table_image_figure_round_trip(repo):
    import numpy as np
    import pandas as pd

    with gittrack.start_run() as run:
        gittrack.log_text("héllo\n", "notes/readme.txt")
        gittrack.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.json")
        gittrack.log_dict({"lr": 0.1}, "config.yaml")
        gittrack.log_table({"a": [1, 2], "b": ["x", "y"]}, "tables/t.json")
        gittrack.log_image(np.zeros((4, 5, 3), dtype=np.uint8), "img/zeros.png")
        gittrack.log_image(np.ones((2, 2)), "img/ones.jpg")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        gittrack.log_figure(fig, "plots/line.png")
        uri = gittrack.get_artifact_uri("config.json")
    rid = run.info.run_id
    assert uri == f"runs:/{rid}/config.json"
    assert gittrack.load_text(f"runs:/{rid}/notes/readme.txt") == "héllo\n"
    assert gittrack.load_dict(uri) == {"lr": 0.1, "layers": [1, 2]}
    assert gittrack.load_dict(f"runs:/{rid[:10]}/config.yaml") == {"lr": 0.1}
    assert json.loads(gittrack.load_text(uri)) == {"lr": 0.1, "layers": [1, 2]}
    df = gittrack.load_table("tables/t.json", run_ids=[rid], extra_columns=["run_id"])
    pd.testing.assert_frame_equal(
        df, pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "run_id": [rid, rid]})
    )
    from PIL import Image

    png = gittrack.download_artifacts(run_id=rid, artifact_path="img/zeros.png")
    assert Image.open(png).size == (5, 4)
    assert (
        open(gittrack.download_artifacts(f"runs:/{rid}/plots/line.png"), "rb").read(4) == b"\x89PNG"
    )
    names = [(f.path, f.is_dir, f.file_size) for f in gittrack.list_artifacts(rid)]
    assert names == [
        ("config.json", False, len(json.dumps({"lr": 0.1, "layers": [1, 2]}, indent=2))),
        ("config.yaml", False, len("lr: 0.1\n")),
        ("img", True, None),
        ("notes", True, None),
        ("plots", True, None),
        ("tables", True, None),
    ]
    assert [f.path for f in gittrack.list_artifacts(rid, "img")] == [
        "img/ones.jpg",
        "img/zeros.png",
    ]
    assert gittrack.list_artifacts(rid, "config.json") == []


def test_log_artifacts_keeps_the_folder_layout(repo, tmp_path):
    src = tmp_path / "out"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("1")
    (src / "a" / "b" / "deep.txt").write_text("2")
    (src / "empty").mkdir()
    with gittrack.start_run() as run:
        gittrack.log_artifacts(src, "results")
    dl = gittrack.download_artifacts(
        run_id=run.info.run_id, artifact_path="results", dst_path=tmp_path / "dl"
    )
    assert dl == str(tmp_path / "dl" / "results")
    assert Path(dl, "top.txt").read_text() == "1"
    assert Path(dl, "a", "b", "deep.txt").read_text() == "2"
    assert not Path(dl, "empty").exists()


def test_same_content_in_many_runs_is_stored_once(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts.inline-limit", "10")
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(5000))
    ids = []
    for _ in range(3):
        with gittrack.start_run() as run:
            gittrack.log_artifact(f)
        ids.append(run.info.run_id)
    assert len(_objects(repo)) == 1
    for rid in ids:
        assert (
            Path(gittrack.download_artifacts(run_id=rid, artifact_path="weights.bin")).read_bytes()
            == f.read_bytes()
        )


def test_same_name_overwrites_and_keeps_the_manifest_right(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts.inline-limit", "100")
    f = tmp_path / "a.txt"
    f.write_text("first")
    with gittrack.start_run() as run:
        gittrack.log_artifact(f)
        f.write_text("second, and long enough to go to the store " * 5)
        gittrack.log_artifact(f)
    rid = run.info.run_id
    assert gittrack.load_text(f"runs:/{rid}/a.txt").startswith("second")
    manifest = _manifest(repo, rid)
    assert manifest.count("a.txt:") == 1 and "where: store" in manifest
    tree = git(repo, "ls-tree", "-r", "--name-only", f"refs/gittrack/runs/{rid}")
    assert ".gittrack/artifacts/a.txt" not in tree  # the old inline copy is gone
    with gittrack.start_run(run_id=rid):
        gittrack.log_text("third", "a.txt")
    assert gittrack.load_text(f"runs:/{rid}/a.txt") == "third"
    assert "where: git" in _manifest(repo, rid)


def test_file_and_folder_names_cannot_collide(repo):
    with gittrack.start_run():
        gittrack.log_text("x", "a/b.txt")
        with pytest.raises(InvalidArtifactPath, match="'a/b.txt/c': 'a/b.txt' is already a file"):
            gittrack.log_text("y", "a/b.txt/c")
        with pytest.raises(InvalidArtifactPath, match="already a folder"):
            gittrack.log_text("y", "a")
        assert [f.path for f in gittrack.list_artifacts(artifact_path="a")] == ["a/b.txt"]


@pytest.mark.parametrize(
    ("artifact_path", "message"),
    [
        ("../outside", "contains '..'"),
        ("a/../../b", "contains '..'"),
        ("/etc", "is absolute"),
        ("a\\b", "contains a backslash"),
        ("a//b", "empty or '.' component"),
        ("x/.git/y", "'.git' component"),
    ],
)
def test_bad_artifact_paths_are_refused(repo, tmp_path, artifact_path, message):
    f = tmp_path / "f.txt"
    f.write_text("x")
    with gittrack.start_run() as run:
        with pytest.raises(InvalidArtifactPath, match=message):
            gittrack.log_artifact(f, artifact_path)
        with pytest.raises(InvalidArtifactPath, match=message):
            gittrack.log_text("x", f"{artifact_path}/f.txt")
    assert gittrack.list_artifacts(run.info.run_id) == []


def test_missing_paths_and_wrong_kinds(repo, tmp_path):
    with gittrack.start_run() as run:
        with pytest.raises(InvalidArtifactPath, match="nope.txt does not exist"):
            gittrack.log_artifact(tmp_path / "nope.txt")
        with pytest.raises(InvalidArtifactPath, match="is a directory; use log_artifacts"):
            gittrack.log_artifact(tmp_path)
        with pytest.raises(InvalidArtifactPath, match="nodir does not exist"):
            gittrack.log_artifacts(tmp_path / "nodir")
        (tmp_path / "file.txt").write_text("x")
        with pytest.raises(InvalidArtifactPath, match="is not a directory; use log_artifact"):
            gittrack.log_artifacts(tmp_path / "file.txt")
        gittrack.log_text("still works", "ok.txt")
    rid = run.info.run_id
    assert [f.path for f in gittrack.list_artifacts(rid)] == ["ok.txt"]
    with pytest.raises(ArtifactNotFound, match="no artifact at 'missing'"):
        gittrack.download_artifacts(run_id=rid, artifact_path="missing")
    with pytest.raises(ArtifactNotFound, match="no artifact file 'missing.txt'"):
        gittrack.load_text(f"runs:/{rid}/missing.txt")
    with pytest.raises(InvalidArtifactPath, match="not an artifact URI"):
        gittrack.load_text("s3://bucket/key")
    with pytest.raises(InvalidArtifactPath, match="names no run"):
        gittrack.load_text("runs:/")


def test_symlinks_inside_are_followed_outside_refused(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_text("real")
    (src / "link.txt").symlink_to(src / "real.txt")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not take me")
    with gittrack.start_run() as run:
        gittrack.log_artifacts(src, "in")
        (src / "escape.txt").symlink_to(secret)
        with pytest.raises(
            InvalidArtifactPath, match=r"escape.txt is a symlink to .*secret.txt, outside"
        ):
            gittrack.log_artifacts(src, "again")
    rid = run.info.run_id
    assert gittrack.load_text(f"runs:/{rid}/in/link.txt") == "real"
    assert [f.path for f in gittrack.list_artifacts(rid)] == ["in"]


def test_unreadable_file(repo, tmp_path):
    if os.geteuid() == 0:
        target = "/proc/self/mem"  # root reads any mode bits; this file fails to read
    else:
        f = tmp_path / "locked.txt"
        f.write_text("x")
        f.chmod(0)
        target = str(f)
    with gittrack.start_run() as run:
        with pytest.raises(InvalidArtifactPath, match="cannot be read"):
            gittrack.log_artifact(target)
    assert gittrack.list_artifacts(run.info.run_id) == []


def test_file_changing_while_logged_is_not_recorded(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts.inline-limit", "1024")
    f = tmp_path / "growing.bin"
    f.write_bytes(os.urandom(64 * MiB))
    with gittrack.start_run() as run, kept_changing(f, lambda k: k * 4096 % MiB, 0.001):
        with pytest.raises(ArtifactChanged, match="growing.bin changed while it was being logged"):
            for _ in range(20):
                gittrack.log_artifact(f)
    assert gittrack.list_artifacts(run.info.run_id) == []
    assert _objects(repo) == []


def test_blob_altered_in_the_store_is_refused(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts.inline-limit", "10")
    f = tmp_path / "model.bin"
    f.write_bytes(b"good bytes " * 100)
    with gittrack.start_run() as run:
        gittrack.log_artifact(f)
    (obj,) = _objects(repo)
    obj.chmod(0o644)
    obj.write_bytes(b"evil bytes " * 100)
    dst = tmp_path / "dl"
    with pytest.raises(CorruptArtifact, match="does not match its recorded sha256"):
        gittrack.download_artifacts(run_id=run.info.run_id, dst_path=dst)
    assert not (dst / "model.bin").exists()


def test_unknown_store_protocol(repo, tmp_path):
    git(repo, "config", "gittrack.artifacts", "nosuch://bucket/path")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run() as run:
        with pytest.raises(ArtifactStoreError, match="unknown protocol 'nosuch'"):
            gittrack.log_artifact(big)
        gittrack.log_text("small files still work", "ok.txt")  # they live in git
        gittrack.log_metric("m", 1.0)
    assert [f.path for f in gittrack.list_artifacts(run.info.run_id)] == ["ok.txt"]
    assert gittrack.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_project_file_cannot_hold_credentials(repo, tmp_path):
    (repo / ".gittrack.yaml").write_text(
        "artifacts:\n  url: s3://b/p\n  options:\n    secret: hunter2\n"
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * MiB))
    with gittrack.start_run():
        with pytest.raises(ArtifactStoreError, match="'secret', which looks like a credential"):
            gittrack.log_artifact(big)


def test_client_methods_on_a_finished_run(repo, tmp_path):
    client = gittrack.Client()
    run = client.create_run("0")
    client.set_terminated(run.info.run_id)
    f = tmp_path / "later.txt"
    f.write_text("added after the end")
    client.log_artifact(run.info.run_id, f, "post")
    client.log_dict(run.info.run_id, {"k": 1}, "d.json")
    rows = client.list_artifacts(run.info.run_id)
    assert [(r.path, r.is_dir) for r in rows] == [("d.json", False), ("post", True)]
    assert [r.to_dict() for r in client.list_artifacts(run.info.run_id, "post")] == [
        {"path": "post/later.txt", "is_dir": False, "file_size": len("added after the end")}
    ]
    out = client.download_artifacts(run.info.run_id, "post/later.txt", tmp_path / "dl")
    assert out == str(tmp_path / "dl" / "post" / "later.txt")
    assert Path(out).read_text() == "added after the end"
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_hostile_manifest_cannot_write_outside_the_destination(repo, tmp_path):
    client = gittrack.Client()
    run = client.create_run("0")
    w = client.writer(run.info.run_id)
    w.artifacts["../../escaped.txt"] = {"sha256": "a" * 64, "size": 1, "where": "store"}
    w.mark_dirty()
    w.checkpoint()
    dst = tmp_path / "deep" / "dst"
    with pytest.raises(InvalidArtifactPath, match="contains '..'"):
        client.download_artifacts(run.info.run_id, "", dst)
    assert not (tmp_path / "escaped.txt").exists()


def test_one_small_artifact_per_run_is_cheap_and_durable(repo):
    """W1's shape: an inline 1 KiB artifact is committed with the run's end."""
    with gittrack.start_run() as run:
        gittrack.log_text("x" * 1024, "artifact.txt")
        gittrack.log_metric("m", 1.0)
    rid = run.info.run_id
    assert (
        git(repo, "show", f"refs/gittrack/runs/{rid}:.gittrack/artifacts/artifact.txt")
        == "x" * 1024
    )


def test_many_small_files_one_pack_that_git_reads_and_compresses_text(repo, tmp_path):
    """A folder of small files goes into the run's checkpoint pack: random (incompressible)
    files are stored as they are, text compressed; git itself reads every object, and the
    download (written by several threads) gives the same bytes back."""
    src = tmp_path / "out"
    files: dict[str, bytes] = {}
    for i in range(40):
        d = src / f"d{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        data = os.urandom(4096 + i) if i % 2 else (b"epoch,loss\n" + b"%d,0.5\n" % i) * 6000
        (d / f"f{i:02d}.txt").write_bytes(data)
        files[f"d{i % 4}/f{i:02d}.txt"] = data
    packs_before = set((repo / ".git" / "objects" / "pack").glob("*.pack"))
    with gittrack.start_run() as run:
        gittrack.log_artifacts(src, "many")
    git(repo, "fsck", "--full", "--strict")
    rid = run.info.run_id
    assert (
        git(
            repo, "cat-file", "-p", f"refs/gittrack/runs/{rid}:.gittrack/artifacts/many/d0/f00.txt"
        ).encode()
        == files["d0/f00.txt"]
    )
    new = set((repo / ".git" / "objects" / "pack").glob("*.pack")) - packs_before
    random_bytes = sum(len(b) for i, b in enumerate(files.values()) if i % 2)
    text_bytes = sum(len(b) for i, b in enumerate(files.values()) if not i % 2)
    assert new and sum(p.stat().st_size for p in new) < random_bytes + text_bytes // 10
    dl = Path(
        gittrack.download_artifacts(run_id=rid, artifact_path="many", dst_path=tmp_path / "dl")
    )
    assert {
        p.relative_to(dl).as_posix(): p.read_bytes() for p in dl.rglob("*") if p.is_file()
    } == files
