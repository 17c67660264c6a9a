"""The pre-receive guard (remotes/pre-receive → gittrack.remote.guard) holds what the docs
promise, behind plain git (file://, git http-backend) and behind ``gittrack server``:
legitimate runs and the changes allowed after a run ends are accepted; rewriting a
finished run (even as a fast-forward) and forcing the experiments ref are refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gittrack.api.client import Client
from tests.conftest import ROOT, forge_commit, git, run_cli
from tests.remote_helpers import make_bare
from tests.server_helpers import served_over

GUARD = ROOT / "remotes" / "pre-receive"
RUNS = "refs/gittrack/runs/"
EXPERIMENTS = "refs/gittrack/experiments"


@pytest.fixture(params=["file", "http-backend", "gittrack-server"])
def guarded(request, repo, tmp_path) -> Iterator[Path]:
    """A guarded central repository added to ``repo`` as ``origin``; yields its git dir."""
    base = tmp_path / "served"
    base.mkdir()
    central = make_bare(base / "team.git")
    (central / "hooks" / "pre-receive").symlink_to(GUARD)
    with served_over(request.param, central) as url:
        git(repo, "remote", "add", "origin", url)
        git(repo, "push", "-q", "origin", "main")
        yield central


def finished_run(repo: Path, points: int = 5) -> str:
    client = Client(str(repo))
    run_id = client.create_run("0", run_name="real").info.run_id
    client.log_param(run_id, "lr", "0.1")
    for i in range(points):
        client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
    client.set_terminated(run_id)
    return run_id


def commit_with(repo: Path, sha: str, files: dict[str, str | None]) -> str:
    """A child of ``sha`` whose tree is ``sha``'s with ``files`` (path -> text, or None to
    remove the file) replaced."""
    return forge_commit(repo, files, base=sha, parents=(sha,))


def git_push(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git push ARGS`` as a user types it (the guard's refusal is in its stderr); a hang
    fails the test through the timeout."""
    return subprocess.run(
        ["git", "push", *args], cwd=repo, capture_output=True, text=True, timeout=120
    )


def remote_ref(central: Path, ref: str) -> str:
    return git(central, "rev-parse", "--verify", "-q", ref, check=False).strip()


def test_real_runs_and_changes_allowed_after_the_end_are_accepted(repo, guarded):
    run_id = finished_run(repo)
    Client(str(repo)).create_experiment("team-exp")
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert remote_ref(guarded, RUNS + run_id) == git(repo, "rev-parse", RUNS + run_id).strip()
    assert remote_ref(guarded, EXPERIMENTS) != ""
    # after the end: a tag, a note, a new name, then deleting the run
    client = Client(str(repo))
    client.set_tag(run_id, "reviewed", "yes")
    client.set_tag(run_id, "mlflow.note.content", "looks good")
    client.update_run(run_id, name="renamed")
    client.delete_run(run_id)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert remote_ref(guarded, RUNS + run_id) == git(repo, "rev-parse", RUNS + run_id).strip()


def test_fast_forward_rewriting_a_finished_run_is_refused(repo, guarded):
    run_id = finished_run(repo)
    assert run_cli("push", cwd=repo).returncode == 0
    pushed = git(repo, "rev-parse", RUNS + run_id).strip()
    history = git(repo, "show", f"{pushed}:.gittrack/metrics/loss/000000.tsv")
    forged = commit_with(
        repo,
        pushed,
        {
            ".gittrack/params.yaml": "lr: 0.5\n",
            ".gittrack/metrics/loss/000000.tsv": "".join(history.splitlines(True)[:2]),
        },
    )
    res = git_push(repo, "origin", f"{forged}:{RUNS}{run_id}")
    assert res.returncode != 0
    assert (
        f"refusing {RUNS}{run_id}: run {run_id} is finished: the metric history, params.yaml "
        "cannot change after the end" in res.stderr
    ), res.stderr
    assert remote_ref(guarded, RUNS + run_id) == pushed


def test_experiments_ref_only_moves_forward_keeping_every_id(repo, guarded):
    client = Client(str(repo))
    exp_id = client.create_experiment("kept")
    assert run_cli("push", cwd=repo).returncode == 0
    before = remote_ref(guarded, EXPERIMENTS)
    assert before

    # an unrelated commit holding an empty table, forced over the ref
    unrelated = forge_commit(repo, {"experiments.yaml": "{}\n"}, message="wipe")
    res = git_push(repo, "--force", "origin", f"{unrelated}:{EXPERIMENTS}")
    assert res.returncode != 0
    assert f"refusing {EXPERIMENTS}: {EXPERIMENTS} may only move forward" in res.stderr, res.stderr
    assert remote_ref(guarded, EXPERIMENTS) == before

    # a descendant that drops an experiment id
    dropped = commit_with(repo, before, {"experiments.yaml": "{}\n"})
    res = git_push(repo, "origin", f"{dropped}:{EXPERIMENTS}")
    assert res.returncode != 0
    assert f"this update drops experiments 0, {exp_id}: ids are never removed" in res.stderr
    assert remote_ref(guarded, EXPERIMENTS) == before


@pytest.mark.parametrize("attack", ["alias_bomb", "deep_nesting"])
def test_hostile_records_are_refused_quickly(repo, guarded, attack):
    """Issue 12 finding 2: the guard read records with no bound and accepted an alias bomb;
    it now reads them with the client's bounded reader and refuses, without hanging."""
    from tests.hostile import plant

    run_id = plant(repo, attack)
    out = git_push(repo, "origin", f"{RUNS}{run_id}:{RUNS}{run_id}")  # a hang: the timeout
    assert out.returncode != 0, out.stderr
    assert run_id[:8] in out.stderr
    assert remote_ref(guarded, RUNS + run_id) == ""


def test_a_push_of_many_runs_is_checked_in_parallel_and_still_refuses_crafted_records(
    repo, tmp_path
):
    """From 256 run refs the guard splits the check between one process per core: a
    crafted record in any share is refused with the same message, and nothing lands."""
    from tests.remote_helpers import bulk_forge_runs, forge_run

    bulk_forge_runs(repo, 300, steps=2)
    bad = []
    for i in range(1, 4):  # the first refs in git's order, so every share gets one
        run_id = f"{i:032x}"
        _, sha = forge_run(repo, run_id=run_id, index=1000 + i)
        text = git(repo, "show", f"{sha}:.gittrack/run.yaml").replace(run_id, "f" * 32)
        git(repo, "update-ref", RUNS + run_id, commit_with(repo, sha, {".gittrack/run.yaml": text}))
        bad.append(run_id)
    central = make_bare(tmp_path / "team.git")
    (central / "hooks" / "pre-receive").symlink_to(GUARD)
    out = git_push(repo, str(central), "refs/gittrack/*:refs/gittrack/*")
    assert out.returncode != 0
    for run_id in bad:
        assert (
            f"refusing {RUNS}{run_id}: malformed run record: run.yaml names run "
            f"'{'f' * 32}', but its ref is '{run_id}'" in out.stderr
        ), out.stderr
    assert git(central, "for-each-ref", "refs/gittrack/").strip() == ""
    for run_id in bad:
        git(repo, "update-ref", "-d", RUNS + run_id)
    out = git_push(repo, str(central), "refs/gittrack/*:refs/gittrack/*")
    assert out.returncode == 0, out.stderr
    assert len(git(central, "for-each-ref", RUNS).splitlines()) == 300
