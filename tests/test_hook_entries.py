"""The console scripts behind `.pre-commit-hooks.yaml`, run as the framework runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import yaml

from gittrack.env import environment
from tests.conftest import GIT_ENV, ROOT, git

LOCK = ".gittrack/environment.lock.yaml"


def entry(name: str, *args: str, cwd: Path, env: dict | None = None):
    """Run console script ``name`` (as pyproject.toml declares it) in a subprocess."""
    code = "import sys; from gittrack.hooks.entries import {0}; sys.exit({0}(sys.argv[1:]))".format(
        {
            "gittrack-env-snapshot": "env_snapshot_main",
            "gittrack-no-large-files": "no_large_files_main",
        }[name]  # fmt: skip
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
    )


def test_pre_commit_hooks_yaml_points_at_console_scripts():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert sorted(by_id) == ["gittrack-env-snapshot", "gittrack-no-large-files"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    for hook in hooks:
        assert hook["language"] == "python"
        assert f'{hook["entry"]} = "gittrack.hooks.entries:' in pyproject
    assert by_id["gittrack-env-snapshot"]["pass_filenames"] is False


def test_env_snapshot_describes_the_project_venv_under_pre_commit(repo):
    """Inside pre-commit's own virtualenv, the project's .venv is described instead."""
    target = repo / ".venv"
    venv.create(target, with_pip=False)
    site = next((target / "lib").glob("python*/site-packages"))
    d = site / "projectonly-3.1.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: projectonly\nVersion: 3.1\n\n")
    (repo / ".gitignore").write_text(".venv/\n")
    out = entry("gittrack-env-snapshot", cwd=repo, env={"PRE_COMMIT": "1"})
    assert out.returncode == 0, out.stderr
    assert f"gittrack: environment changed: staged {LOCK}" in out.stderr
    staged = git(repo, "diff", "--cached", "--name-only").split()
    assert staged == [LOCK]
    locked = environment.from_yaml((repo / LOCK).read_bytes())
    # the project's venv, not the hook's interpreter (an editable install of gittrack may
    # show through PYTHONPATH as gittrack.egg-info; nothing else of ours may)
    dists = dict(locked["distributions"])
    dists.pop("gittrack", None)
    assert dists == {"projectonly": "3.1"}

    # outside pre-commit the running interpreter is described; --python overrides both
    out = entry("gittrack-env-snapshot", "--python", str(target / "bin" / "python"), cwd=repo)
    assert out.returncode == 0, out.stderr
    assert "staged" not in out.stderr  # unchanged: nothing to stage
    out = entry("gittrack-env-snapshot", cwd=repo)
    assert out.returncode == 0, out.stderr
    assert "pygit2" in environment.from_yaml((repo / LOCK).read_bytes())["distributions"]


def test_no_large_files_checks_what_is_staged(repo):
    (repo / "big.safetensors").write_bytes(b"\1" * (1100 * 1024))
    (repo / "notes.txt").write_bytes(b"x" * (1100 * 1024))
    (repo / "small.txt").write_text("ok\n")
    git(repo, "add", "big.safetensors", "notes.txt", "small.txt")
    out = entry("gittrack-no-large-files", cwd=repo)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[0] == (
        "gittrack: big.safetensors: model/data file of 1.1 MiB is over the 1024 KiB limit"
    )
    assert lines[1] == "gittrack: notes.txt: file of 1.1 MiB is over the 1024 KiB limit"
    assert "gittrack.log_artifact('PATH')" in lines[2]

    # named files (as pre-commit passes them): only those; a higher limit lets them in
    out = entry("gittrack-no-large-files", "small.txt", cwd=repo)
    assert out.returncode == 0, out.stderr
    out = entry("gittrack-no-large-files", "--max-kb", "2048", cwd=repo)
    assert out.returncode == 0, out.stderr
    git(repo, "config", "gittrack.max-file-kb", "4096")
    assert entry("gittrack-no-large-files", cwd=repo).returncode == 0


def test_no_large_files_measures_the_staged_blob_not_the_disk_file(repo):
    """A file git would commit small (say an LFS pointer) passes even if big on disk."""
    (repo / "weights.pt").write_text("version https://git-lfs.github.com/spec/v1\n")
    git(repo, "add", "weights.pt")
    (repo / "weights.pt").write_bytes(b"\0" * (3 * 1024 * 1024))
    out = entry("gittrack-no-large-files", "weights.pt", cwd=repo)
    assert out.returncode == 0, out.stderr
    # files already committed are not "added" again unless --enforce-all
    (repo / "weights.pt").write_bytes(b"\0" * (3 * 1024 * 1024))
    git(repo, "add", "weights.pt")
    assert entry("gittrack-no-large-files", "weights.pt", cwd=repo).returncode == 1
    git(repo, "commit", "-q", "--no-verify", "-m", "weights")
    assert entry("gittrack-no-large-files", "weights.pt", cwd=repo).returncode == 0
    out = entry("gittrack-no-large-files", "--enforce-all", "weights.pt", cwd=repo)
    assert out.returncode == 1
    assert "weights.pt: model/data file of 3.0 MiB" in out.stderr
