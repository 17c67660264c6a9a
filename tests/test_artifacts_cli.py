"""The artifact commands as a user types them: artifacts ls|get, gc, fsck."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gittrack
from tests.conftest import git, run_cli


def _run_with_files(repo: Path, tmp_path: Path) -> str:
    git(repo, "config", "gittrack.artifacts.inline-limit", "100")
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("aaa")
    (src / "sub" / "big.bin").write_bytes(b"b" * 1000)
    with gittrack.start_run() as run:
        gittrack.log_artifacts(src)
    return run.info.run_id


def test_artifacts_ls(repo, tmp_path):
    rid = _run_with_files(repo, tmp_path)
    out = run_cli("artifacts", "ls", rid[:8], cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["PATH   SIZE", "a.txt  3 B", "sub/   -"]
    js = run_cli("artifacts", "ls", rid, "sub", "--format", "json", cwd=repo)
    assert json.loads(js.stdout) == [{"path": "sub/big.bin", "is_dir": False, "size": 1000}]
    rec = run_cli("artifacts", "ls", rid, "-r", "--format", "csv", cwd=repo)
    lines = rec.stdout.splitlines()
    assert lines[0] == "path,size,where,sha256"
    assert lines[1].startswith("a.txt,3,git,") and lines[2].startswith("sub/big.bin,1000,store,")


def test_artifacts_get(repo, tmp_path):
    rid = _run_with_files(repo, tmp_path)
    dest = tmp_path / "dest"
    out = run_cli("artifacts", "get", rid, "sub/big.bin", "-o", str(dest), cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(dest / "sub" / "big.bin")
    assert (dest / "sub" / "big.bin").read_bytes() == b"b" * 1000
    everything = run_cli("artifacts", "get", rid, "-o", str(tmp_path / "all"), cwd=repo)
    assert everything.returncode == 0
    assert (tmp_path / "all" / "a.txt").read_text() == "aaa"


def test_artifacts_errors_are_clean(repo, tmp_path):
    rid = _run_with_files(repo, tmp_path)
    missing = run_cli("artifacts", "get", rid, "nope", cwd=repo)
    assert missing.returncode == 1
    assert "Error: no artifact at 'nope' in this run" in missing.stderr
    bad = run_cli("artifacts", "ls", rid, "../x", cwd=repo)
    assert bad.returncode == 1 and "contains '..'" in bad.stderr
    norun = run_cli("artifacts", "ls", "ffffffff", cwd=repo)
    assert norun.returncode == 1 and "not found" in norun.stderr
    assert "Traceback" not in missing.stderr + bad.stderr + norun.stderr


def test_gc_and_fsck_on_the_local_store(repo, tmp_path):
    rid = _run_with_files(repo, tmp_path)
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(500))
    with gittrack.start_run() as gone:
        gittrack.log_artifact(other)
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{gone.info.run_id}")
    dry = run_cli("gc", "-n", "--grace", "0", cwd=repo)
    assert "would remove 1 unreferenced object(s), 500 B" in dry.stdout
    done = run_cli("gc", "--grace", "0", cwd=repo)
    assert "removed 1 unreferenced object(s), 500 B" in done.stdout
    assert "1 referenced object(s) kept" in done.stdout
    ok = run_cli("fsck", cwd=repo)
    assert ok.returncode == 0
    assert ok.stdout.strip() == "checked 1 run(s), 2 artifact(s), 1 store object(s): ok"
    for p in (repo / ".git" / "gittrack" / "objects" / "sha256").rglob("*"):
        if p.is_file():
            p.unlink()
    broken = run_cli("fsck", "--quick", cwd=repo)
    assert broken.returncode == 1
    assert f"error: {rid} sub/big.bin: object" in broken.stderr and "is missing" in broken.stderr


def test_commands_have_help():
    for args in (["artifacts", "ls"], ["artifacts", "get"], ["gc"], ["fsck"]):
        out = run_cli(*args, "--help")
        assert out.returncode == 0 and "Usage:" in out.stdout
