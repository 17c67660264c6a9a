"""The README's quickstart, run as written in a repository made by a plain ``git init``.

The Python quickstart is saved as ``train.py`` and run; then every command of the
CLI quickstart and of "Plain git sees everything" runs through bash, in order. Only
the README's placeholders are filled in: ``3f2a``/``9b1c``/``<id>`` (run ids),
``<source-commit>``, ``PATH`` (the repository) and ``/tmp/code`` (a temporary
folder). The two servers (``gittrack server``, ``gittrack ui``) get ``--port 0``,
answer one request and are stopped; ``gittrack push``/``pull`` get a bare ``origin``.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, git

README = ROOT / "README.md"
SERVERS = ("gittrack server", "gittrack ui")


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def _commands(block: str) -> list[str]:
    """Each command of a bash block: comments dropped, ``a / b`` split into two."""
    out = []
    for line in block.splitlines():
        line = re.split(r"\s{2,}#", line)[0].strip()
        if line and not line.startswith("#"):
            out += [part.strip() for part in line.split(" / ")]
    return out


def quickstart() -> tuple[str, list[str]]:
    """The README's Python quickstart and its CLI commands, in order."""
    text = README.read_text()
    (python,) = _blocks(_section(text, "Quickstart (Python)"), "python")
    commands = []
    for block in _blocks(_section(text, "Quickstart (CLI)"), "bash"):
        commands += _commands(block)
    return python, commands


def _run_ids(repo, env) -> list[str]:
    out = subprocess.run(
        ["gittrack", "log", "--format", "csv"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [ln.split(",")[0] for ln in out.stdout.splitlines()[1:]]


def _serve_once(command: str, repo, env) -> str:
    """Start a long-running command, read its URL, fetch it, stop it; returns the page."""
    proc = subprocess.Popen(
        shlex.split(command) + ["--port", "0"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:\d+/", first)
        assert m, f"{command}: {first!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        with urllib.request.urlopen(m.group(0), timeout=30) as resp:
            assert resp.status == 200
            return resp.read().decode(errors="replace")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_readme_lists_its_commands():
    python, commands = quickstart()
    assert "mlflow.start_run" in python
    assert commands[0] == "gittrack log" and len(commands) > 15
    assert "gittrack fsck" in commands and "gittrack push" in commands


@pytest.mark.timeout(600)
def test_the_readme_quickstart_runs_verbatim_after_git_init(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)  # the default branch, whatever
    git(repo, "config", "user.name", "New User")
    git(repo, "config", "user.email", "new@example.com")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    # `python` and `gittrack` as an installed gittrack provides them, for this interpreter
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A wrapper, not a symlink: a symlinked venv interpreter outside its venv loses the venv
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    (bin_dir / "gittrack").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gittrack "$@"\n')
    (bin_dir / "gittrack").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "BROWSER": "true",  # `gittrack ui` opens no browser
    }

    python, commands = quickstart()
    (repo / "train.py").write_text(python)
    for _ in range(2):
        subprocess.run(["python", "train.py"], cwd=repo, env=env, check=True, timeout=120)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "train")
    subprocess.run(["python", "train.py"], cwd=repo, env=env, check=True, timeout=120)
    newest, second = _run_ids(repo, env)[:2]
    head = git(repo, "rev-parse", "HEAD").strip()
    fill = {
        "3f2a": newest[:4],
        "9b1c": second[:4],
        "<id>": newest,
        "<source-commit>": head,
        "--repo PATH": "--repo .",
        "/tmp/code": str(tmp_path / "code"),
    }
    ran = []
    for command in commands:
        for placeholder, value in fill.items():
            command = command.replace(placeholder, value)
        if command.startswith(SERVERS):
            page = _serve_once(command, repo, env)
            assert "<html" in page.lower() or "gittrack" in page.lower(), (command, page[:200])
            ran.append(command)
            continue
        out = subprocess.run(
            ["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, f"`{command}` failed:\n{out.stdout}\n{out.stderr}"
        ran.append(command)
        if command.startswith("gittrack search"):
            assert newest in out.stdout  # the --branch of the README matches this repository
    assert len(ran) == len(commands)
    # what the quickstart left behind does not make the next run dirty
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert (tmp_path / "code" / "train.py").read_text() == python
