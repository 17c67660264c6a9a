"""Lock files under ``.git/gittrack/locks``: removed by their holder once a run ended, kept
for a run left RUNNING or a process that died, and never two holders at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from gittrack.api.client import Client
from tests.conftest import client_process, git

LOCKS = Path(".git") / "gittrack" / "locks"

# two processes take one lock, in turn, many times; inside, each creates a marker file
# exclusively: a marker already there means the other process is inside too
HAMMER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from gittrack.core.locks import FileLock

    lock_file, marker, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for i in range(rounds):
        lock = FileLock(lock_file)
        if i % 3 == 0:
            while not lock.acquire(block=False):
                pass
        else:
            lock.acquire()
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            print("two holders at once", flush=True)
            sys.exit(3)
        os.close(fd)
        os.unlink(marker)
        lock.release()
    """
)


def test_two_processes_never_hold_one_lock_at_once_while_its_file_comes_and_goes(tmp_path):
    lock_file = tmp_path / "locks" / "run.lock"
    marker = tmp_path / "inside"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(lock_file), str(marker), "3000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not lock_file.exists()  # the last holder removed it


def test_ended_runs_leave_no_lock_file_and_a_run_left_running_keeps_its(repo):
    client = Client(repo)
    ended = client.create_run("0", snapshot=False).info.run_id
    client.log_metric(ended, "loss", 0.5)
    client.set_terminated(ended)
    assert not (repo / LOCKS / f"{ended}.lock").exists()

    # exits normally without ending the run: its writer closes, the run stays RUNNING
    left = client_process(
        repo,
        "r = c.create_run('0', snapshot=False)\n"
        "c.log_metric(r.info.run_id, 'loss', 0.5)\n"
        "print(r.info.run_id)\n",
    )
    assert (repo / LOCKS / f"{left}.lock").exists()
    assert Client(repo).get_run(left).info.status == "CRASHED"  # as before: writer gone
    assert Client(repo).get_run(ended).info.status == "FINISHED"


def test_a_run_ended_in_another_process_can_be_written_again_here(repo):
    run_id = client_process(
        repo,
        "r = c.create_run('0', snapshot=False)\nc.set_terminated(r.info.run_id)\n"
        "print(r.info.run_id)\n",
    )
    assert not (repo / LOCKS / f"{run_id}.lock").exists()
    client = Client(repo)
    client.set_tag(run_id, "after", "yes")  # takes (and creates) the lock again
    assert client.get_run(run_id).data.tags["after"] == "yes"
    assert not (repo / LOCKS / f"{run_id}.lock").exists()
    assert git(repo, "fsck", "--no-dangling").strip() == ""
