"""The pre-commit framework itself runs gittrack's hooks from `.pre-commit-hooks.yaml`.

pre-commit clones the gittrack repository at a commit, builds a virtualenv and
pip-installs gittrack into it, so this test commits a copy of the current
source tree first. It runs once per session (a minute at most; the virtualenv
sees the system site-packages so gittrack's dependencies are not downloaded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gittrack.env import environment
from tests.conftest import GIT_ENV, ROOT, git, require_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gittrack_source(tmp_path_factory) -> tuple[Path, str]:
    """A git repository holding the current gittrack source; returns (path, commit)."""
    src = tmp_path_factory.mktemp("gittrack-src")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        rel = raw.decode()
        source = ROOT / rel
        if not source.is_file():
            continue
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "src"]):
        subprocess.run(["git", *args], cwd=src, env=env, check=True, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, check=True
    ).stdout.strip()
    return src, sha


def precommit_env(cache: Path) -> dict[str, str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(cache)}
    env["VIRTUALENV_SYSTEM_SITE_PACKAGES"] = "1"
    env.pop("PYTHONPATH", None)  # the hooks must use the gittrack pre-commit installed
    return env


def test_precommit_framework_runs_gittrack_hooks(tmp_path, gittrack_source):
    if shutil.which("pre-commit") is None:
        require_service("pre-commit", "the pre-commit executable is not on PATH")
    src, sha = gittrack_source
    sample = tmp_path / "sample"
    sample.mkdir()
    git(sample, "init", "-q", "-b", "main")
    (sample / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {src}\n"
        f"    rev: {sha}\n"
        "    hooks:\n"
        "      - id: gittrack-env-snapshot\n"
        "      - id: gittrack-no-large-files\n"
    )
    (sample / "requirements.txt").write_text("scikit-learn\n")
    # the project's own interpreter: a venv with one marker distribution and no gittrack
    import venv

    venv.create(sample / ".venv", with_pip=False)
    site = next((sample / ".venv" / "lib").glob("python*/site-packages"))
    (site / "projectonly-3.1.dist-info").mkdir()
    (site / "projectonly-3.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: projectonly\nVersion: 3.1\n\n"
    )
    (sample / ".gitignore").write_text(".venv/\n")
    env = precommit_env(tmp_path / "cache")
    out = subprocess.run(
        ["pre-commit", "install"], cwd=sample, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    git(sample, "add", ".")
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "first"], cwd=sample, env=env, capture_output=True, text=True
    )
    text = done.stdout + done.stderr
    if done.returncode != 0 and ("Could not find a version" in text or "ConnectionError" in text):
        require_service("PyPI", "pip could not install gittrack's build dependencies")
    assert done.returncode == 0, text
    assert "gittrack environment snapshot" in text and "Passed" in text
    files = git(sample, "show", "--name-only", "--format=", "HEAD").split()
    assert ".gittrack/environment.lock.yaml" in files
    locked = environment.from_yaml(git(sample, "show", "HEAD:.gittrack/environment.lock.yaml"))
    assert locked["files"]["requirements.txt"]["size"] == len("scikit-learn\n")
    # the project's interpreter was described, not the virtualenv pre-commit made
    # for the hook (which has gittrack installed; the project's interpreter does not)
    assert locked["distributions"].get("projectonly") == "3.1"
    assert "pygit2" not in locked["distributions"]

    # a large model file is refused, with the way out
    (sample / "model.pt").write_bytes(b"\0" * (2 * 1024 * 1024))
    git(sample, "add", "model.pt")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "add model"],
        cwd=sample,
        env=env,
        capture_output=True,
        text=True,
    )
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "model.pt: model/data file of 2.0 MiB is over the 1024 KiB limit" in text
    assert "gittrack.log_artifact" in text
    assert git(sample, "log", "--format=%s") == "first\n"

    # an unchanged environment: the next commit carries only its own change
    git(sample, "rm", "-q", "--cached", "model.pt")
    (sample / "notes.txt").write_text("hello\n")
    git(sample, "add", "notes.txt")
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "notes"], cwd=sample, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(sample, "show", "--name-only", "--format=", "HEAD").split() == ["notes.txt"]
