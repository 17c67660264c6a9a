"""A push with nothing new reads the remote's push stamp (one ref, protocol v2) instead of
making a ``git push`` (issue 16), against real remotes: a bare repository over a path, git
daemon, git http-backend, and ``gittrack server``. Each remote counts the pushes it receives
(a ``pre-receive`` hook that then runs the guard), so a test sees whether a push was made."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, forge_commit, git, run_cli
from tests.remote_helpers import RUNS, forge_run, forge_runs, make_bare
from tests.server_helpers import ServerProcess, http, served_over

STAMP = "refs/gittrack-stamp/push"
GUARD = ROOT / "remotes" / "pre-receive"
API = "/api/2.0/mlflow"


def counting_guard(central: Path) -> None:
    """``central``'s pre-receive: count the push in ``pushes.log``, then run the guard."""
    hook = central / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\necho push >> "{central}/pushes.log"\nexec "{GUARD}"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def pushes(central: Path) -> int:
    log = central / "pushes.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def runs_in(path: Path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/")
    return dict(line.split() for line in out.splitlines())


def stamp_of(central: Path) -> str:
    return git(central, "rev-parse", "--verify", "-q", STAMP, check=False).strip()


def push(cwd: Path, *args: str) -> str:
    res = run_cli("push", *args, cwd=cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip()


def two_clones(repo: Path, tmp_path: Path, n: int) -> tuple[Path, Path, list[str]]:
    """A bare remote with ``n`` runs pushed from ``repo``, and ``other``, a clone that pulled
    them: (remote, other, run ids)."""
    central = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(central))
    git(repo, "push", "-q", "origin", "main")
    ids = forge_runs(repo, n)
    assert push(repo) == f"origin: pushed {n} runs ({n} new)"
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(central), str(other))
    assert run_cli("pull", cwd=other).returncode == 0
    return central, other, ids


@pytest.fixture(params=["file", "git-daemon", "http-backend", "gittrack-server"])
def served(request, repo, tmp_path) -> Iterator[Path]:
    """A guarded central repository that counts pushes, added to ``repo`` as ``origin``
    over each transport; yields its git dir."""
    base = tmp_path / "served"
    base.mkdir()
    central = make_bare(base / "team.git")
    counting_guard(central)
    with served_over(request.param, central) as url:
        git(repo, "remote", "add", "origin", url)
        git(repo, "push", "-q", "origin", "main")
        yield central


def test_a_push_with_nothing_new_makes_no_git_push(repo, served):
    forge_runs(repo, 3)
    assert push(repo) == "origin: pushed 3 runs (3 new)"
    made = pushes(served)
    stamp = stamp_of(served)
    assert git(served, "cat-file", "-t", stamp).strip() == "blob"
    for _ in range(2):
        assert push(repo) == "origin: 3 up to date"
    assert pushes(served) == made  # the remote received no push
    new_id, _ = forge_run(repo, index=9)
    assert push(repo) == "origin: pushed 1 run (1 new), 3 up to date"
    assert pushes(served) == made + 1
    assert runs_in(served) == runs_in(repo)
    assert stamp_of(served) != stamp
    assert push(repo) == "origin: 4 up to date"
    assert pushes(served) == made + 1
    # the stamp is no run: not fetched, not listed, not in the runs of a fresh clone
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(served), str(clone))
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == "origin: fetched 4 runs (4 new)", res.stdout + res.stderr
    assert runs_in(clone) == runs_in(repo)
    assert git(clone, "for-each-ref", "refs/gittrack-stamp/") == ""
    assert git(repo, "for-each-ref", "refs/gittrack-stamp/") == ""
    log = run_cli("log", cwd=clone)
    assert log.returncode == 0, log.stderr
    assert "stamp" not in log.stdout and new_id[:8] in log.stdout


def test_the_guard_still_refuses_a_bad_run_and_the_stamp_stays(repo, served):
    ids = forge_runs(repo, 2)
    assert push(repo) == "origin: pushed 2 runs (2 new)"
    stamp = stamp_of(served)
    # rewrite a finished run's params: the guard refuses; nothing of the push lands
    sha = runs_in(repo)[RUNS + ids[0]]
    bad = forge_commit(repo, {".gittrack/params.yaml": "lr: '9'\n"}, base=sha, parents=(sha,))
    git(repo, "update-ref", RUNS + ids[0], bad)
    new_id, _ = forge_run(repo, index=5)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert f"rejected run {ids[0]}" in res.stderr, res.stdout + res.stderr
    assert stamp_of(served) == stamp
    assert RUNS + new_id not in runs_in(served)
    assert runs_in(served)[RUNS + ids[0]] == sha
    # and a push with nothing new still asks the remote (the record is not the local state)
    assert run_cli("push", cwd=repo).returncode == 1


def test_a_remote_recreated_with_another_clones_runs_is_pushed_to(repo, tmp_path):
    """Not "up to date" because the record matches: the stamp of the new remote is not ours."""
    central = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(central))
    forge_runs(repo, 2)
    assert push(repo) == "origin: pushed 2 runs (2 new)"
    shutil.rmtree(central)
    make_bare(central)
    assert stamp_of(central) == ""
    assert push(repo) == "origin: pushed 2 runs (2 new)"
    assert runs_in(central) == runs_in(repo)
    assert push(repo) == "origin: 2 up to date"


def test_another_clone_pushing_changes_the_stamp_and_our_push_sees_the_remote(repo, tmp_path):
    central, other, ids = two_clones(repo, tmp_path, 2)
    counting_guard(central)
    # another clone pushes a new run: our push with nothing new makes the git push
    forge_run(other, index=4)
    assert push(other) == "origin: pushed 1 run (1 new), 2 up to date"
    made = pushes(central)
    assert push(repo) == "origin: 2 up to date"
    assert pushes(central) == made + 1
    # another clone changes a run we have: git refuses ours, the plan says what happened
    first = runs_in(other)[RUNS + ids[0]]
    theirs = forge_commit(other, {".gittrack/note.md": "theirs\n"}, base=first, parents=(first,))
    git(other, "update-ref", RUNS + ids[0], theirs)
    assert push(other) == "origin: pushed 1 run (1 updated), 2 up to date"
    assert push(repo) == (
        "origin: 1 up to date, 1 newer on the remote (pull to update), 1 only on the remote"
    )
    assert runs_in(central)[RUNS + ids[0]] == theirs
    # after a pull, the first push records the remote's state in the stamp; then none
    assert run_cli("pull", cwd=repo).returncode == 0
    assert push(repo) == "origin: 3 up to date"
    made = pushes(central)
    assert push(repo) == "origin: 3 up to date"
    assert pushes(central) == made


def test_a_remote_that_refuses_the_stamp_gets_the_runs(repo, tmp_path):
    """A remote whose hook refuses refs outside its namespaces: the runs go (without the
    stamp), and every push keeps asking git."""
    central = make_bare(tmp_path / "central.git")
    hook = central / "hooks" / "update"
    hook.write_text(
        '#!/bin/sh\ncase "$1" in refs/gittrack-stamp/*) echo "no stamps" >&2; exit 1;; esac\n'
        f'echo push >> "{central}/pushes.log"\n'
    )
    hook.chmod(0o755)
    git(repo, "remote", "add", "origin", str(central))
    forge_runs(repo, 2)
    assert push(repo) == "origin: pushed 2 runs (2 new)"
    assert runs_in(central) == runs_in(repo)
    assert stamp_of(central) == ""
    made = pushes(central)
    assert push(repo) == "origin: 2 up to date"
    forge_run(repo, index=3)
    assert push(repo) == "origin: pushed 1 run (1 new), 2 up to date"
    assert pushes(central) > made
    assert runs_in(central) == runs_in(repo)


def test_a_deleting_push_changes_the_stamp(repo, tmp_path):
    """Every gittrack push stamps the record it leaves: a clone whose record matched the
    old stamp asks the remote again."""
    central, other, ids = two_clones(repo, tmp_path, 3)
    assert push(other) == "origin: 3 up to date"  # stamps the remote with other's record
    made = stamp_of(central)
    assert push(other) == "origin: 3 up to date"
    assert stamp_of(central) == made
    res = run_cli("push", "--delete", ids[1], cwd=repo)
    assert res.returncode == 0, res.stdout + res.stderr
    assert RUNS + ids[1] not in runs_in(central)
    assert stamp_of(central) not in ("", made)
    # other's record still names the run: its push finds the remote changed and sends it
    assert push(other) == "origin: pushed 1 run (1 new), 2 up to date"
    assert RUNS + ids[1] in runs_in(central)


def test_a_run_the_server_moved_is_kept_and_pulled(repo, tmp_path):
    """``gittrack server`` writes runs itself (REST), without a push: the stamp does not
    change. A push with nothing new here then says up to date (as the record has it) and
    changes nothing on the server; the next pull brings the server's version."""
    central = make_bare(tmp_path / "central.git")
    with ServerProcess(central) as server:
        status, body = http("POST", f"{server.url}{API}/runs/create", {"experiment_id": "0"})
        assert status == 200, body
        run_id = body["run"]["info"]["run_id"]
        metric = {"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 1, "step": 0}
        assert http("POST", f"{server.url}{API}/runs/log-metric", metric)[0] == 200
        done = {"run_id": run_id, "status": "FINISHED", "end_time": 2}
        assert http("POST", f"{server.url}{API}/runs/update", done)[0] == 200
        git(repo, "remote", "add", "origin", f"{server.url}/git/")
        assert run_cli("pull", cwd=repo).returncode == 0
        ours = runs_in(repo)[RUNS + run_id]
        push(repo)  # stamps the remote with our record
        tag = {"run_id": run_id, "key": "reviewed", "value": "yes"}
        assert http("POST", f"{server.url}{API}/runs/set-tag", tag)[0] == 200
        theirs = _wait_for_move(central, RUNS + run_id, ours)
        res = run_cli("push", cwd=repo)
        assert res.returncode == 0, res.stdout + res.stderr
        assert runs_in(central)[RUNS + run_id] == theirs
        res = run_cli("pull", cwd=repo)
        assert res.stdout.strip() == "origin: fetched 1 run (1 updated)", res.stdout + res.stderr
        assert runs_in(repo)[RUNS + run_id] == theirs


def _wait_for_move(central: Path, ref: str, old: str) -> str:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = git(central, "rev-parse", ref).strip()
        if now != old:
            return now
        time.sleep(0.1)
    raise AssertionError(f"{ref} did not move on the server")


def test_the_stamp_is_read_with_its_ref_prefix_only(repo, tmp_path):
    """Protocol v2: the remote is asked for the stamp's prefix, not for every run."""
    central = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(central))
    forge_runs(repo, 5)
    assert push(repo) == "origin: pushed 5 runs (5 new)"
    trace = tmp_path / "packets.txt"
    res = subprocess.run(
        [sys.executable, "-m", "gittrack", "push"],
        cwd=repo,
        env={**os.environ, "GIT_TRACE_PACKET": str(trace)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.stdout.strip() == "origin: 5 up to date", res.stdout + res.stderr
    packets = trace.read_text()
    assert f"ref-prefix {STAMP}" in packets
    assert RUNS not in packets  # no run ref was advertised or sent
    assert "receive-pack" not in packets


def test_a_served_repository_with_a_stamp_syncs_and_serves_only_its_runs(repo, tmp_path):
    """The stamp lives on remotes: the SQL mirror of a served repository, and the runs its
    server lists, are its runs alone."""
    central = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(central))
    ids = forge_runs(repo, 2)
    assert push(repo) == "origin: pushed 2 runs (2 new)"
    assert stamp_of(central)
    from gittrack.mirror.sync import sync_to

    report = sync_to(f"sqlite:///{tmp_path / 'mirror.db'}", central)
    assert sorted(report.added) == sorted(ids), report.summary()
    with ServerProcess(central) as server:
        status, body = http("POST", f"{server.url}{API}/runs/search", {"experiment_ids": ["0"]})
    assert status == 200, body
    assert sorted(r["info"]["run_id"] for r in body["runs"]) == sorted(ids)


def test_a_run_moved_behind_the_stamps_back_is_refused_not_overwritten(repo, tmp_path):
    """The stamp still names our record, so the push names only the run that moved here;
    the same run was moved on the remote without a gittrack push (plain git, as the
    server's REST writes do): git refuses ours, the plan against the remote's listing says
    so, and neither side loses its commit."""
    central, other, ids = two_clones(repo, tmp_path, 2)
    assert push(repo) == "origin: 2 up to date"  # stamps the remote with our record
    ref = RUNS + ids[0]
    first = runs_in(repo)[ref]
    theirs = forge_commit(other, {".gittrack/note.md": "theirs\n"}, base=first, parents=(first,))
    git(other, "push", "-q", "origin", f"{theirs}:{ref}")  # no stamp: plain git
    ours = forge_commit(repo, {".gittrack/note.md": "ours\n"}, base=first, parents=(first,))
    git(repo, "update-ref", ref, ours)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert res.stdout.strip() == f"origin: 1 up to date, 1 rejected (diverged): {ids[0][:12]}"
    assert f"local {ours[:12]}, remote {theirs[:12]}" in res.stderr
    assert runs_in(central)[ref] == theirs
    assert runs_in(repo)[ref] == ours
    # a new run beside it, with the remote as recorded otherwise: named alone, and it lands
    res = run_cli("pull", cwd=repo)  # diverged here too: left alone, said
    assert res.returncode == 1 and "rejected (diverged)" in res.stdout, res.stdout
    git(repo, "update-ref", ref, theirs)  # the user takes theirs
    assert push(repo) == "origin: 2 up to date"
    new_id, _ = forge_run(repo, index=7)
    assert push(repo) == "origin: pushed 1 run (1 new), 2 up to date"
    assert runs_in(central) == runs_in(repo)
