"""Real processes: crashes, signals, exits, concurrent writers, no git identity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import gittrack
from gittrack.errors import RunLocked
from tests.conftest import git

TRAIN = textwrap.dedent(
    """
    import sys, time
    import gittrack
    run = gittrack.start_run(run_name="victim")
    print(run.info.run_id, flush=True)
    i = 0
    while True:
        gittrack.log_metric("loss", 1.0 / (i + 1), step=i)
        i += 1
        if i % 100 == 0:
            time.sleep(0.01)
    """
)


def _spawn(repo, code, env=None):
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for_checkpoints(repo, run_id, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = git(repo, "rev-list", "--count", f"HEAD..refs/gittrack/runs/{run_id}", check=False)
        if out.strip() and int(out) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {n} commits")


def test_sigkill_mid_training_lists_as_crashed_with_checkpointed_metrics(repo):
    git(repo, "config", "gittrack.checkpoint-seconds", "0.2")
    proc = _spawn(repo, TRAIN)
    run_id = proc.stdout.readline().strip()
    _wait_for_checkpoints(repo, run_id, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = gittrack.get_run(run_id)
    assert run.info.status == "CRASHED"
    hist = gittrack.get_metric_history(run_id, "loss")
    assert len(hist) > 0
    assert [h.step for h in hist] == list(range(len(hist)))  # a prefix, nothing torn
    assert run.data.metrics["loss"] == hist[-1].value
    assert git(repo, "fsck", "--no-dangling").strip() == ""
    out = subprocess.run(
        [sys.executable, "-m", "gittrack", "log"], cwd=repo, capture_output=True, text=True
    )
    assert "CRASHED" in out.stdout and "victim" in out.stdout


def test_sigterm_ends_the_run_killed_with_every_point(repo):
    git(repo, "config", "gittrack.checkpoint-seconds", "60")
    proc = _spawn(repo, TRAIN)
    run_id = proc.stdout.readline().strip()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    run = gittrack.get_run(run_id)
    assert run.info.status == "KILLED"
    hist = gittrack.get_metric_history(run_id, "loss")
    assert len(hist) > 100  # written at SIGTERM, not lost with the buffer


@pytest.mark.parametrize(
    ("tail", "status"),
    [("", "FINISHED"), ("raise RuntimeError('boom')", "FAILED")],
)
def test_exit_without_end_run(repo, tail, status):
    code = textwrap.dedent(
        f"""
        import gittrack
        gittrack.log_metric("m", 1.0)
        print(gittrack.active_run().info.run_id, flush=True)
        {tail}
        """
    )
    proc = _spawn(repo, code)
    out, _ = proc.communicate(timeout=60)
    run_id = out.strip()
    assert gittrack.get_run(run_id).info.status == status
    assert gittrack.get_run(run_id).data.metrics == {"m": 1.0}


def test_concurrent_processes_each_log_their_run(repo):
    code = textwrap.dedent(
        """
        import gittrack, sys
        with gittrack.start_run(run_name=sys.argv[1]) as r:
            for i in range(2000):
                gittrack.log_metric("x", i, step=i)
                if i % 500 == 0:
                    gittrack.Client().flush()
            gittrack.log_param("who", sys.argv[1])
        print(r.info.run_id)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"w{i}"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids.append(out.strip())
    for i, run_id in enumerate(ids):
        run = gittrack.get_run(run_id)
        assert run.data.params == {"who": f"w{i}"} and run.data.metrics == {"x": 1999.0}
        assert len(gittrack.get_metric_history(run_id, "x")) == 2000
    assert git(repo, "fsck", "--no-dangling").strip() == ""


def test_a_live_run_cannot_be_written_by_a_second_process(repo):
    git(repo, "config", "gittrack.checkpoint-seconds", "0.2")
    proc = _spawn(repo, TRAIN)
    run_id = proc.stdout.readline().strip()
    try:
        _wait_for_checkpoints(repo, run_id, 2)
        assert gittrack.get_run(run_id).info.status == "RUNNING"
        with pytest.raises(RunLocked, match="another process"):
            gittrack.Client().log_metric(run_id, "intruder", 1.0)
    finally:
        proc.kill()
        proc.wait()


def test_no_git_identity_falls_back_to_the_os_user(repo, tmp_path):
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["HOME"] = str(tmp_path / "nohome")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    code = "import gittrack\nwith gittrack.start_run() as r:\n    gittrack.log_metric('m', 1)\nprint(r.info.run_id)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    author = git(repo, "log", "-1", "--format=%an <%ae>", f"refs/gittrack/runs/{run_id}")
    import getpass
    import socket

    user = getpass.getuser()
    assert author.strip() == f"{user} <{user}@{socket.gethostname()}>"
