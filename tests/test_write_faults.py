"""Faults on the write side: process exits through every API, git maintenance beside
loggers, failed checkpoints, SIGKILL at full speed, and the checkpoint pack writer.

All with real processes and real git; the fault runs go through ``benchmarks/faults.py``
(the script that records the figures in docs/benchmarks.md) and assert its counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gittrack.api.client import Client
from gittrack.core import pack
from tests.conftest import ROOT, git

# a program logging 500 points through ``{client}``, then ending as argv[1] says
_LOGGER = textwrap.dedent(
    """
    import sys, time
    {imports}
    client = {client}
    run_id = client.create_run("0").info.run_id
    for i in range(500):
        client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
    print(run_id, flush=True)
    how = sys.argv[1]
    if how == "sys.exit":
        sys.exit(3)
    if how == "sigterm":
        time.sleep(600)
    """
)
CLIENT_LOGGER = _LOGGER.format(imports="from gittrack.api.client import Client", client="Client()")


def _run_logger(script: str, how: str, cwd: Path, env: dict | None = None) -> tuple[str, int, str]:
    """Run a logger script ending as ``how`` says; ``(run id, exit code, stderr)``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, how],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    run_id = proc.stdout.readline().strip()
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    return run_id, proc.returncode, err


def _client_run(repo: Path, how: str) -> tuple[str, int]:
    run_id, returncode, err = _run_logger(CLIENT_LOGGER, how, repo)
    assert err == "", err
    return run_id, returncode


@pytest.mark.parametrize(
    ("how", "code"), [("end", 0), ("sys.exit", 3), ("sigterm", -signal.SIGTERM)]
)
def test_client_run_keeps_every_point_when_the_process_ends(repo, how, code):
    git(repo, "config", "gittrack.checkpoint-seconds", "600")  # only the exit can commit
    run_id, returncode = _client_run(repo, how)
    assert returncode == code
    hist = Client(str(repo)).get_metric_history(run_id, "loss")
    assert [m.step for m in hist] == list(range(500))
    assert hist[-1].value == 1.0 / 500
    # a Client run is not ended for the user (as in MLflow): it stays RUNNING, unlocked
    run = Client(str(repo)).get_run(run_id)
    assert run.data.metrics["loss"] == 1.0 / 500
    assert git(repo, "fsck", "--no-dangling").strip() == ""


def test_client_process_runs_git_gc_auto_at_exit(repo):
    # a Client run leaves two checkpoint packs (create, exit); with autoPackLimit 1,
    # `git gc --auto` run at exit consolidates them into one
    git(repo, "config", "gc.autoPackLimit", "1")
    git(repo, "config", "gc.autoDetach", "false")
    _client_run(repo, "end")
    deadline = time.time() + 60
    while True:
        counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
        if counts["packs"] == "1" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert counts["packs"] == "1", counts
    git(repo, "config", "gittrack.auto-gc", "false")  # and off when asked
    _client_run(repo, "end")
    time.sleep(2)
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    assert counts["packs"] == "3", counts


def test_a_failed_checkpoint_keeps_its_points_for_the_next(repo):
    client = Client(str(repo))
    run_id = client.create_run("0", snapshot=False).info.run_id
    w = client.writer(run_id)
    for i in range(20_000):
        w.log_metric("loss", float(i), step=i)
    packs = repo / ".git" / "objects" / "pack"
    moved = packs.with_name("pack-away")
    packs.rename(moved)
    packs.write_text("not a folder")  # every pack write now fails
    try:
        with pytest.raises(OSError):
            w.checkpoint()
    finally:
        packs.unlink()
        moved.rename(packs)
    w.log_metric("loss", 20_000.0, step=20_000)
    w.end()
    hist = client.get_metric_history(run_id, "loss")
    assert [m.step for m in hist] == list(range(20_001))
    assert client.get_run(run_id).data.metrics["loss"] == 20_000.0
    assert git(repo, "fsck", "--no-dangling").strip() == ""


def test_checkpoint_pack_is_read_by_git_and_survives_prune_until_released(repo):
    pb = pack.PackBuilder()
    blob = pb.add("blob", b"step\tvalue\n" * 1000)
    tree = pb.add("tree", b"100644 h.tsv\0" + bytes.fromhex(blob))
    written = pb.write(repo / ".git" / "objects")
    assert written is not None and written.count == 2
    assert git(repo, "cat-file", "-p", blob) == "step\tvalue\n" * 1000
    assert git(repo, "ls-tree", tree) == f"100644 blob {blob}\th.tsv\n"
    verified = git(repo, "verify-pack", "-v", str(written.pack.with_suffix(".idx")))
    assert verified.rstrip().endswith(f"{written.pack}: ok"), verified
    git(repo, "gc", "--prune=now", "-q")  # unreachable, but kept: it stays
    assert git(repo, "cat-file", "-t", tree) == "tree\n"
    assert pack.release(written, ref_moved_at=0, common_dir=repo / ".git")
    git(repo, "gc", "--prune=now", "-q")  # released and unreachable: git may drop it now
    assert git(repo, "cat-file", "-t", tree, check=False) == ""


def test_a_pack_whose_index_git_gc_took_for_garbage_is_repaired(repo):
    # `git gc` listing objects/pack while a pack is renamed in can miss the .pack, see its
    # .idx and .keep alone and delete them as leftovers: the writer puts them back
    pb = pack.PackBuilder()
    blob = pb.add("blob", b"points\n")
    written = pb.write(repo / ".git" / "objects")
    written.pack.with_suffix(".idx").unlink()
    written.keep.unlink()
    assert git(repo, "cat-file", "-t", blob, check=False) == ""
    assert pack.repair(written, kept=True)
    assert git(repo, "cat-file", "-p", blob) == "points\n"
    assert written.keep.read_bytes() == pack.KEEP_MARK
    assert not pack.repair(written, kept=True)  # nothing more to do
    # a pack left without its index by a process that is gone: the next writer's sweep
    # rebuilds the index with git index-pack
    written.pack.with_suffix(".idx").unlink()
    old = time.time() - 120
    os.utime(written.pack, (old, old))
    pack.sweep(repo / ".git" / "objects")
    assert git(repo, "cat-file", "-p", blob) == "points\n"


def _faults(*args: str, seconds: float | None = None) -> dict:
    env = {**os.environ}
    if seconds is not None:
        env["GITTRACK_FAULT_SECONDS"] = str(seconds)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "faults.py"), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_loggers_beside_git_gc_prune_now_lose_nothing():
    seconds = float(os.environ.get("GITTRACK_FAULT_SECONDS", "15"))
    g = _faults("--only", "gc", seconds=seconds)["gc"]
    assert g["logger_errors"] == []
    assert g["gc_runs"] >= 2 and g["runs_ended"] >= 4
    assert g["finished_checked"] >= g["runs_ended"]
    assert g["incomplete_runs"] == []
    assert g["fsck_ok"], g["fsck_output"]


def test_sigkill_at_full_speed_keeps_all_but_the_last_two_intervals():
    kills = _faults("--only", "kill", "--kills", "2")["kill"]
    for k in kills:
        assert k["contiguous"], k
        assert k["kept"] >= k["logged_by_kill_minus_2"], k


REST_LOGGER = _LOGGER.format(
    imports="from gittrack.rest import client_for_uri", client="client_for_uri()"
)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    from tests.server_helpers import ServerProcess

    served = tmp_path_factory.mktemp("rest-exit") / "served.git"
    git(served.parent, "init", "-q", "--bare", str(served))
    with ServerProcess(served) as server:
        yield server


@pytest.mark.parametrize(
    ("how", "code"), [("end", 0), ("sys.exit", 3), ("sigterm", -signal.SIGTERM)]
)
def test_rest_client_delivers_every_queued_point_when_the_process_ends(
    tracking_server, tmp_path, how, code
):
    env = {
        **os.environ,
        "GITTRACK_TRACKING_URI": tracking_server.url,
        "GITTRACK_REST_FLUSH_SECONDS": "600",  # only the exit can send them
    }
    run_id, returncode, err = _run_logger(REST_LOGGER, how, tmp_path, env)
    assert returncode == code, err
    from gittrack.rest.client import RestClient

    hist = RestClient(tracking_server.url).get_metric_history(run_id, "loss")
    assert [m.step for m in hist] == list(range(500))


def test_packs_kept_for_a_running_gc_are_released_once_it_ends(repo):
    # a run that ends while `git gc` runs keeps its packs' .keep (the gc may have missed
    # the ref); they used to stay kept for good, out of every later consolidation
    git(repo, "config", "gittrack.auto-gc", "false")
    code = textwrap.dedent(
        """
        import os, time
        import gittrack
        gc_pid = os.path.join(".git", "gc.pid")
        with open(gc_pid, "w") as fh:
            fh.write("0 elsewhere")
        for i in range(3):
            with gittrack.start_run():
                gittrack.log_metric("x", float(i))
        kept = [n for n in os.listdir(".git/objects/pack") if n.endswith(".keep")]
        print(len(kept), flush=True)
        os.unlink(gc_pid)  # the gc ends before this process does
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert int(out.stdout.split()[0]) >= 3  # kept while the gc ran
    pack_dir = repo / ".git" / "objects" / "pack"
    assert sorted(p.name for p in pack_dir.glob("*.keep")) == []
    assert len(list(pack_dir.glob("*.pack"))) >= 3
    assert len(Client(repo).search_runs()) == 3


_CLIENT_LOOP = textwrap.dedent(
    """
    import sys
    from gittrack.api.client import Client
    from gittrack.core.entities import Metric, Param, RunTag
    client = Client()
    for i in range(int(sys.argv[1])):
        run_id = client.create_run("0", run_name=f"run-{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{k}", k + i / 10, 1700000000000 + s, s)
                     for s in range(10) for k in range(5)],
            params=[Param(f"p{k}", f"v{k}") for k in range(10)],
            tags=[RunTag("team", "a")],
        )
        client.set_terminated(run_id)
    """
)


def _count_objects(repo: Path) -> dict[str, int]:
    out = git(repo, "count-objects", "-v")
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}


def test_a_client_loop_leaves_packs_and_packed_refs_without_any_gc(repo):
    # 40 runs through the Client (create_run, log_batch, set_terminated: two checkpoint
    # packs each) with git's own auto gc off: only the writer's consolidation (every 64
    # checkpoint packs) can roll up the packs and pack the run refs
    git(repo, "config", "gc.auto", "0")
    before = _count_objects(repo)  # the fixture's first commit: loose objects of git's
    runs = 40
    res = subprocess.run(
        [sys.executable, "-c", _CLIENT_LOOP, str(runs)], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr
    ref_dir = repo / ".git" / "refs" / "gittrack" / "runs"
    deadline = time.time() + 60
    while True:
        counts = _count_objects(repo)
        loose_refs = len(list(ref_dir.iterdir())) if ref_dir.exists() else 0
        busy = any(p.name.startswith(".tmp-") for p in (repo / ".git/objects/pack").iterdir())
        if (loose_refs < runs and not busy) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert counts["count"] <= before["count"], counts  # every checkpoint was a pack
    assert counts["packs"] < 2 * runs - 40, counts  # 64 of the 80 packs rolled into few
    assert loose_refs < runs, loose_refs  # the refs of the runs before it were packed
    assert (repo / ".git" / "packed-refs").exists()
    assert git(repo, "fsck", "--no-dangling").strip() == ""
    listed = Client(str(repo)).search_runs(["0"], max_results=100)
    assert len(listed) == runs
    assert {r.info.status for r in listed} == {"FINISHED"}
    by_name = {r.info.run_name: r for r in listed}
    assert by_name["run-3"].data.metrics["m4"] == 4.3
    assert by_name["run-3"].data.params["p9"] == "v9"
