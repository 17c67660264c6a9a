"""Runs recorded by the real client travel between clones through a central bare repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, run_cli
from tests.remote_helpers import RUNS, make_bare

LOGGER = """
import sys
from gittrack.api.client import Client

tag = sys.argv[1]
c = Client()
for name in ("shared", "only-" + tag):
    if c.get_experiment_by_name(name) is None:
        c.create_experiment(name)
for i in range(4):
    exp = c.get_experiment_by_name("shared" if i % 2 else "only-" + tag)
    run = c.create_run(exp.experiment_id, run_name=f"{tag}-{i}")
    rid = run.info.run_id
    c.log_param(rid, "i", i)
    for step in range(50):
        c.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    c.set_terminated(rid)
"""


def run_refs(path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", RUNS)
    return dict(line.split() for line in out.splitlines())


@pytest.fixture
def team(tmp_path, repo):
    """A central bare repository and two clones of it, ``a`` and ``b``."""
    central = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(central))
    git(repo, "push", "-q", "origin", "main")
    clones = []
    for name in ("a", "b"):
        path = tmp_path / name
        git(tmp_path, "clone", "-q", str(central), str(path))
        git(path, "config", "user.name", f"User {name}")
        git(path, "config", "user.email", f"{name}@example.com")
        clones.append(path)
    return central, clones[0], clones[1]


def test_two_clones_log_concurrently_and_end_with_the_same_runs(team, tmp_path):
    central, a, b = team
    # each clone runs different, uncommitted code
    (a / "train.py").write_text("print('variant a')\n")
    (b / "train.py").write_text("print('variant b')\n")
    (b / "extra.py").write_text("LR = 0.1\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LOGGER, tag],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, path in (("a", a), ("b", b))
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    res = run_cli("push", cwd=a)
    assert res.stdout.strip() == "origin: pushed 4 runs (4 new), experiments new", res.stderr
    res = run_cli("push", cwd=b)  # b's experiments diverged from a's: merged, then pushed
    assert res.returncode == 0, res.stderr
    assert (
        res.stdout.strip()
        == "origin: pushed 4 runs (4 new), 4 only on the remote, experiments merged"
    )
    res = run_cli("pull", cwd=a)
    assert res.stdout.strip() == "origin: fetched 4 runs (4 new), 4 up to date, experiments updated"
    res = run_cli("pull", cwd=b)
    assert res.stdout.strip() == "origin: fetched 4 runs (4 new), 4 up to date"

    assert len(run_refs(a)) == 8
    assert run_refs(a) == run_refs(b) == run_refs(central)
    exp_ref = "refs/gittrack/experiments"
    assert (
        git(a, "rev-parse", exp_ref)
        == git(b, "rev-parse", exp_ref)
        == git(central, "rev-parse", exp_ref)
    )

    from gittrack.api.client import Client

    ca, cb = Client(a), Client(b)
    names = {e.name for e in ca.search_experiments()}
    assert {"Default", "shared", "only-a", "only-b"} <= names
    assert {e.name: e.experiment_id for e in ca.search_experiments()} == {
        e.name: e.experiment_id for e in cb.search_experiments()
    }
    for run in ca.list_runs():
        other = cb.get_run(run.info.run_id)
        assert other.data.params == run.data.params
        assert other.data.metrics == run.data.metrics
        assert other.info.run_name == run.info.run_name
        assert [m.value for m in cb.get_metric_history(run.info.run_id, "loss")] == [
            1.0 / (s + 1) for s in range(50)
        ]
        # the exact code of the run, restored in both clones
        out_a, out_b = tmp_path / f"co-a-{run.info.run_id}", tmp_path / f"co-b-{run.info.run_id}"
        assert run_cli("checkout", run.info.run_id, "--path", str(out_a), cwd=a).returncode == 0
        assert run_cli("checkout", run.info.run_id, "--path", str(out_b), cwd=b).returncode == 0
        files_a = {p.relative_to(out_a): p.read_bytes() for p in out_a.rglob("*") if p.is_file()}
        files_b = {p.relative_to(out_b): p.read_bytes() for p in out_b.rglob("*") if p.is_file()}
        assert files_a == files_b
        variant = run.info.run_name.split("-")[0]
        assert files_a[Path("train.py")] == f"print('variant {variant}')\n".encode()
        assert (Path("extra.py") in files_a) == (variant == "b")
    for path in (a, b, central):
        res = subprocess.run(["git", "fsck", "--strict"], cwd=path, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_push_one_experiment(team):
    _, a, _ = team
    proc = subprocess.run(
        [sys.executable, "-c", LOGGER, "a"], cwd=a, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    res = run_cli("push", "-e", "shared", cwd=a)
    assert res.stdout.strip() == "origin: pushed 2 runs (2 new), experiments new", res.stderr
    res = run_cli("push", cwd=a)
    assert res.stdout.strip() == "origin: pushed 2 runs (2 new), 2 up to date"


def test_pull_never_moves_a_run_being_written_here(team):
    from gittrack.api.client import Client

    _, a, b = team
    ca = Client(a)
    run_id = ca.create_run("0", run_name="live").info.run_id
    ca.log_metric(run_id, "x", 1.0, step=0)
    ca.flush(run_id)
    assert run_cli("push", cwd=a).returncode == 0
    assert run_cli("pull", cwd=b).returncode == 0
    # someone resumes the run in clone b and pushes a checkpoint
    cb = Client(b)
    w = cb.writer(run_id, resume=True)
    w.log_metric("x", 2.0, step=1)
    w.checkpoint()
    cb.set_terminated(run_id)
    assert run_cli("push", cwd=b).returncode == 0
    before = run_refs(a)[RUNS + run_id]
    res = run_cli("pull", cwd=a)  # the writer in this process still holds the run in a
    assert res.returncode == 1
    assert f"failed run {run_id}: the run is being written by a live process here" in res.stderr
    assert run_refs(a)[RUNS + run_id] == before
    ca.set_terminated(run_id)


def test_experiment_changes_on_both_sides_are_merged(team):
    from gittrack.api.client import Client

    _, a, b = team
    ca = Client(a)
    x = ca.create_experiment("x")
    y = ca.create_experiment("y")
    assert run_cli("push", cwd=a).returncode == 0
    assert run_cli("pull", cwd=b).returncode == 0
    cb = Client(b)
    ca.rename_experiment(x, "x-renamed")
    cb.set_experiment_tag(y, "owner", "bob")
    cb.create_experiment("z")
    assert run_cli("push", cwd=a).returncode == 0
    res = run_cli("push", cwd=b)
    assert res.stdout.strip() == "origin: experiments merged", res.stderr
    res = run_cli("pull", cwd=a)
    assert res.stdout.strip() == "origin: experiments updated", res.stderr
    for c in (Client(a), Client(b)):
        assert c.get_experiment(x).name == "x-renamed"
        assert c.get_experiment(y).tags == {"owner": "bob"}
        assert c.get_experiment_by_name("z") is not None


def test_pull_refreshes_an_existing_query_index(team):
    import sqlite3

    _, a, b = team
    proc = subprocess.run(
        [sys.executable, "-c", LOGGER, "a"], cwd=a, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert run_cli("push", cwd=a).returncode == 0
    assert run_cli("log", cwd=b).returncode == 0  # builds b's index (no runs yet)
    index = b / ".git" / "gittrack" / "index.sqlite"
    assert index.exists()
    assert run_cli("pull", cwd=b).returncode == 0
    with sqlite3.connect(index) as db:  # read the file itself: no refresh on read here
        names = sorted(r[0] for r in db.execute("select run_name from runs"))
    assert names == ["a-0", "a-1", "a-2", "a-3"]
