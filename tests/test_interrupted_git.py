"""A killed ``gittrack push`` takes its git child (and what git started) with it."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import pytest

import gittrack
from tests.conftest import ROOT, git

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()  # state, ppid, ...


def _running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != b"Z"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        fields = _stat(int(name)) if name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _command(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ")
    except OSError:
        return b""


def _wait_for_hanging_ssh(pid: int, timeout: float = 60) -> list[int]:
    """The processes below ``pid`` once the fake ssh (``sleep 600``) runs among them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        below = _descendants(pid)
        if any(_command(p).startswith(b"sleep 600") for p in below):
            return below
        time.sleep(0.05)
    raise AssertionError(f"no git child with a hanging ssh under {pid}: {_descendants(pid)}")


@pytest.mark.parametrize("terminal", [False, True], ids=["no-terminal", "terminal"])
def test_sigterm_to_push_ends_its_git_children(repo, terminal):
    with gittrack.start_run():
        gittrack.log_metric("m", 1.0)
    git(repo, "remote", "add", "origin", "ssh://example.invalid/project.git")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GIT_SSH_COMMAND": "sleep 600 #",  # an ssh that never answers
    }
    if terminal:
        leader, follower = pty.openpty()
        stdin = follower
    else:
        stdin = subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "push", "origin"],
        cwd=repo,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    below: list[int] = []
    try:
        below = _wait_for_hanging_ssh(proc.pid)
        assert any(os.path.basename(_command(p).split()[0]) == b"git" for p in below), [
            _command(p) for p in below
        ]
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the gittrack process only, by its PID
        assert proc.wait(timeout=30) == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while any(_running(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [_command(p) for p in below if _running(p)]
        assert left == [], left
        assert time.monotonic() - t0 < 10
    finally:
        if terminal:
            os.close(leader)
            os.close(follower)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for p in below:
            if _running(p):
                os.kill(p, signal.SIGKILL)
