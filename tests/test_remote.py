"""gittrack push / pull / fetch / remote setup against real remotes: a bare repository over
file://, git daemon on loopback, and git http-backend behind a loopback HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import forge_commit, git, run_cli
from tests.remote_helpers import (
    RUNS,
    GitDaemon,
    SmartHTTP,
    forge_run,
    forge_runs,
    free_port,
    make_bare,
)


def runs_in(path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/")
    return dict(line.split() for line in out.splitlines())


def fsck_clean(path) -> None:
    res = subprocess.run(["git", "fsck", "--strict"], cwd=path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "dangling" not in res.stdout + res.stderr or True  # dangling objects are not errors


def rewrite_file(repo, sha: str, path: str, text: str, parent: str | None = None) -> str:
    """A commit like ``sha`` (same parent, or ``parent``) with ``path`` replaced by ``text``:
    a forged record."""
    return forge_commit(repo, {path: text}, base=sha, parents=(parent or f"{sha}^",))


@pytest.fixture
def bare(tmp_path, repo) -> Path:
    """An empty bare repository holding `main`, added to ``repo`` as ``origin``."""
    path = make_bare(tmp_path / "central.git")
    git(repo, "remote", "add", "origin", str(path))
    git(repo, "push", "-q", "origin", "main")
    return path


def test_push_then_plain_clone_and_pull(repo, bare, tmp_path):
    ids = forge_runs(repo, 3)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "origin: pushed 3 runs (3 new)"
    assert runs_in(bare) == runs_in(repo)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert runs_in(clone) == {}  # a plain clone does not carry runs
    res = run_cli("pull", cwd=clone)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "origin: fetched 3 runs (3 new)"
    assert runs_in(clone) == runs_in(repo)
    # the exact code of each run came along
    for run_id in ids:
        assert git(clone, "show", f"{RUNS}{run_id}:train.py") == "print('training')\n"
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == "origin: 3 up to date"
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: 3 up to date"
    for path in (repo, bare, clone):
        fsck_clean(path)


def test_push_named_runs_and_url_remote(repo, bare, tmp_path):
    ids = forge_runs(repo, 3)
    res = run_cli("push", "origin", ids[0][:8], cwd=repo)
    assert res.stdout.strip() == "origin: pushed 1 run (1 new)", res.stderr
    assert set(runs_in(bare)) == {RUNS + ids[0]}
    # a run id without a remote name: the default remote
    res = run_cli("push", ids[1][:10], cwd=repo)
    assert res.stdout.strip() == "origin: pushed 1 run (1 new)", res.stderr
    other = make_bare(tmp_path / "other.git")
    res = run_cli("push", str(other), cwd=repo)
    assert res.stdout.strip() == f"{other}: pushed 3 runs (3 new)"


def test_incremental_push_and_wildcard_bulk(repo, bare, tmp_path):
    """600 runs go in one wildcard push; then one new run is the only thing sent."""
    forge_runs(repo, 600, seed=1)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: pushed 600 runs (600 new)", res.stderr
    new_id, _ = forge_run(repo, index=601)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: pushed 1 run (1 new), 600 up to date", res.stderr
    assert runs_in(bare) == runs_in(repo)
    assert RUNS + new_id in runs_in(bare)

    # pulling many runs: one wildcard fetch (only new refs), then with a local change
    # in the way (a scratch namespace, removed afterwards)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{bare}", str(clone))
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == "origin: fetched 601 runs (601 new)", res.stderr
    assert runs_in(clone) == runs_in(repo)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", f"file://{bare}", str(other))
    assert run_cli("pull", "origin", new_id, cwd=other).stdout.strip() == (
        "origin: fetched 1 run (1 new)"
    )
    _, ahead = forge_run(other, run_id=new_id, parent=runs_in(other)[RUNS + new_id], index=7)
    res = run_cli("pull", cwd=other)
    assert res.stdout.strip() == "origin: fetched 600 runs (600 new), 1 newer here (push to share)"
    assert runs_in(other)[RUNS + new_id] == ahead
    assert git(other, "for-each-ref", "refs/gittrack-incoming/") == ""


def test_live_run_pushes_fast_forward(repo, bare, tmp_path):
    run_id, first = forge_run(repo, status="RUNNING")
    assert run_cli("push", cwd=repo).returncode == 0
    _, second = forge_run(repo, run_id=run_id, parent=first, status="RUNNING", index=1)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: pushed 1 run (1 updated)", res.stderr
    assert runs_in(bare)[RUNS + run_id] == second
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert run_cli("pull", cwd=clone).returncode == 0
    _, third = forge_run(repo, run_id=run_id, parent=second, status="FINISHED", index=2)
    run_cli("push", cwd=repo)
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == "origin: fetched 1 run (1 updated)"
    assert runs_in(clone)[RUNS + run_id] == third


def test_diverged_run_is_reported_on_both_sides_and_never_overwritten(repo, bare, tmp_path):
    run_id, base = forge_run(repo)
    run_cli("push", cwd=repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    run_cli("pull", cwd=clone)
    _, theirs = forge_run(clone, run_id=run_id, parent=base, index=7)
    assert run_cli("push", cwd=clone).returncode == 0
    _, mine = forge_run(repo, run_id=run_id, parent=base, index=8)

    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"rejected run {run_id} (diverged): local {mine[:12]}, remote {theirs[:12]}" in res.stderr
    )
    assert res.stdout.strip() == f"origin: 1 rejected (diverged): {run_id[:12]}"
    assert runs_in(bare)[RUNS + run_id] == theirs

    res = run_cli("pull", cwd=repo)
    assert res.returncode == 1
    assert f"local {mine[:12]}, remote {theirs[:12]}" in res.stderr
    assert runs_in(repo)[RUNS + run_id] == mine

    res = run_cli("push", "--force", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert (
        f"overwrote run {run_id}: remote {theirs[:12]} replaced by local {mine[:12]}" in res.stdout
    )
    assert runs_in(bare)[RUNS + run_id] == mine

    res = run_cli("fetch", cwd=clone)
    assert res.returncode == 1
    res = run_cli("fetch", "--force", cwd=clone)
    assert res.returncode == 0
    assert f"local {theirs[:12]} replaced by remote {mine[:12]}" in res.stdout
    backup = f"refs/gittrack-backup/runs/{run_id}/{theirs[:12]}"
    assert git(clone, "rev-parse", backup).strip() == theirs


def test_pull_leaves_a_dirty_working_tree_untouched(repo, bare, tmp_path):
    forge_runs(repo, 2)
    run_cli("push", cwd=repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    (clone / "train.py").write_text("print('edited, not committed')\n")
    (clone / "notes.txt").write_text("untracked\n")
    (clone / "staged.py").write_text("x = 1\n")
    git(clone, "add", "staged.py")
    before = (
        git(clone, "status", "--porcelain"),
        git(clone, "rev-parse", "HEAD"),
        git(clone, "diff", "--cached"),
        git(clone, "diff"),
    )
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == "origin: fetched 2 runs (2 new)", res.stderr
    after = (
        git(clone, "status", "--porcelain"),
        git(clone, "rev-parse", "HEAD"),
        git(clone, "diff", "--cached"),
        git(clone, "diff"),
    )
    assert after == before
    assert (clone / "train.py").read_text() == "print('edited, not committed')\n"
    assert (clone / "notes.txt").read_text() == "untracked\n"


def test_unknown_and_unreachable_remotes(repo, bare):
    ids = forge_runs(repo, 2)
    before = runs_in(repo)
    res = run_cli("push", "nosuchremote", cwd=repo)
    assert res.returncode == 1
    assert "No such remote 'nosuchremote' (configured remotes: origin)" in res.stderr
    port = free_port()  # nothing listens there
    git(repo, "remote", "add", "dead", f"git://127.0.0.1:{port}/x.git")
    for cmd in ("push", "pull", "fetch"):
        res = run_cli(cmd, "dead", cwd=repo)
        assert res.returncode == 1
        assert f"Cannot read remote dead (git://127.0.0.1:{port}/x.git)" in res.stderr
        assert "Nothing was changed locally" in res.stderr
    assert runs_in(repo) == before
    res = run_cli("push", "--delete", "ffff", cwd=repo)
    assert res.returncode == 1 and "Run 'ffff' not found" in res.stderr
    assert len(ids) == 2


def test_remote_that_refuses_custom_refs(repo, bare):
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in refs/heads/*|refs/tags/*) ;; "
        '*) echo "only branches and tags here: $ref"; exit 1;; esac; done\n'
    )
    hook.chmod(0o755)
    forge_runs(repo, 2)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert "2 rejected (remote refused)" in res.stdout
    assert "pre-receive hook declined" in res.stderr or "only branches and tags" in res.stderr
    assert runs_in(bare) == {}


def test_delete_on_remote_needs_permission_from_the_guard(repo, bare):
    guard = Path(__file__).resolve().parent.parent / "remotes" / "pre-receive"
    (bare / "hooks" / "pre-receive").symlink_to(guard)
    ids = forge_runs(repo, 2)
    assert run_cli("push", cwd=repo).returncode == 0
    res = run_cli("push", "--delete", ids[0][:8], cwd=repo)
    assert res.returncode == 1
    assert "deleting gittrack refs is not allowed here" in res.stderr
    git(bare, "config", "gittrack.allowDeletes", "true")
    res = run_cli("push", "--delete", ids[0][:8], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "deleted 1" in res.stdout
    assert set(runs_in(bare)) == {RUNS + ids[1]}


def test_guard_rejects_forged_bad_records_and_rewrites_of_finished_runs(repo, bare):
    guard = Path(__file__).resolve().parent.parent / "remotes" / "pre-receive"
    (bare / "hooks" / "pre-receive").symlink_to(guard)
    good, good_sha = forge_run(repo, index=1)
    assert run_cli("push", cwd=repo).returncode == 0

    # a hand-forged record: run.yaml names another run id
    bad, bad_sha = forge_run(repo, index=2)
    text = git(repo, "show", f"{bad_sha}:.gittrack/run.yaml").replace(bad, "f" * 32)
    git(repo, "update-ref", RUNS + bad, rewrite_file(repo, bad_sha, ".gittrack/run.yaml", text))

    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"rejected run {bad} (remote refused: malformed run record: run.yaml names run "
        f"'{'f' * 32}', but its ref is '{bad}'" in res.stderr
    )
    assert RUNS + bad not in runs_in(bare)

    # a record that is not safe YAML
    git(repo, "update-ref", "-d", RUNS + bad)
    evil, sha = forge_run(repo, index=3)
    text = git(repo, "show", f"{sha}:.gittrack/run.yaml")
    text += "x: !!python/object/apply:os.system ['true']\n"
    git(repo, "update-ref", RUNS + evil, rewrite_file(repo, sha, ".gittrack/run.yaml", text))
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert "is not valid safe YAML" in res.stderr
    git(repo, "update-ref", "-d", RUNS + evil)

    # rewriting a finished run (not a fast-forward) is refused even with --force
    _, rewrite = forge_run(repo, run_id=good, index=9)  # parent: HEAD, not the old run commit
    res = run_cli("push", "--force", cwd=repo)
    assert res.returncode == 1
    assert "finished runs are immutable here" in res.stderr
    assert runs_in(bare)[RUNS + good] == good_sha
    # a fast-forward of the finished run (e.g. a tag added later) is accepted
    later = rewrite_file(repo, good_sha, ".gittrack/tags.yaml", "team: b\n", parent=good_sha)
    git(repo, "update-ref", RUNS + good, later)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert runs_in(bare)[RUNS + good] == later
    assert rewrite != later


def test_remote_setup_makes_plain_git_carry_runs(repo, bare, tmp_path):
    ids = forge_runs(repo, 2)
    res = run_cli("remote", "setup", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "added remote.origin.fetch = refs/gittrack/*:refs/gittrack/*" in res.stdout
    assert "git config --add remote.origin.push 'refs/gittrack/*:refs/gittrack/*'" in res.stdout
    assert run_cli("remote", "setup", cwd=repo).stdout.strip() == "origin: already set up for runs"
    (repo / "more.py").write_text("y = 2\n")
    git(repo, "add", "more.py")
    git(repo, "commit", "-q", "-m", "more")
    git(repo, "push", "-q")  # plain git push: the branch and the runs
    assert set(runs_in(bare)) == {RUNS + i for i in ids}
    assert git(bare, "rev-parse", "main") == git(repo, "rev-parse", "main")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert run_cli("remote", "setup", "--no-push", cwd=clone).returncode == 0
    git(clone, "fetch", "-q")
    assert runs_in(clone) == runs_in(repo)

    pruned = tmp_path / "pruned"
    git(tmp_path, "clone", "-q", str(bare), str(pruned))
    git(pruned, "config", "fetch.prune", "true")
    res = run_cli("remote", "setup", cwd=pruned)
    assert res.returncode == 1
    assert "Pruning is on for remote 'origin'" in res.stderr


def _push_and_pull_through(url: str, repo, tmp_path, n: int):
    """``n`` runs of ``repo`` pushed to the empty remote ``url`` and pulled into a clone;
    returns the clone."""
    git(repo, "remote", "add", "origin", url)
    git(repo, "push", "-q", "origin", "main")
    forge_runs(repo, n)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == f"origin: pushed {n} runs ({n} new)", res.stderr
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", url, str(clone))
    res = run_cli("pull", cwd=clone)
    assert res.stdout.strip() == f"origin: fetched {n} runs ({n} new)", res.stderr
    assert runs_in(clone) == runs_in(repo)
    return clone


def test_git_daemon_transport(repo, tmp_path):
    base = tmp_path / "served"
    base.mkdir()
    make_bare(base / "team.git")
    daemon = GitDaemon(base)
    try:
        _push_and_pull_through(daemon.url("team.git"), repo, tmp_path, 4)
    finally:
        daemon.stop()


def test_smart_http_transport_and_auth_failure(repo, tmp_path):
    base = tmp_path / "served"
    base.mkdir()
    make_bare(base / "team.git")
    server = SmartHTTP(base)
    locked = SmartHTTP(base, auth=("alice", "s3cret"))
    try:
        clone = _push_and_pull_through(server.url("team.git"), repo, tmp_path, 3)

        git(repo, "remote", "add", "locked", locked.url("team.git"))
        before = runs_in(repo)
        res = run_cli("push", "locked", cwd=repo)
        assert res.returncode == 1
        assert f"Cannot read remote locked ({locked.url('team.git')})" in res.stderr
        assert "could not read Username" in res.stderr or "Authentication failed" in res.stderr
        assert runs_in(repo) == before
        # with the right credentials in the URL, the same server accepts
        url = locked.url("team.git").replace("http://", "http://alice:s3cret@")
        res = run_cli("pull", url, cwd=clone)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().endswith("3 up to date")
    finally:
        server.stop()
        locked.stop()


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    kids = [int(p) for p in out.stdout.split()]
    return kids + [d for k in kids for d in _descendants(k)]


def test_push_killed_halfway_then_retried(repo, bare, tmp_path):
    """SIGKILL git (and the receiving end it spawned) while the server holds the pack,
    before any ref is updated; then push again."""
    marker = tmp_path / "receiving"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch {marker}\nsleep 60\n")
    hook.chmod(0o755)
    forge_runs(repo, 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "push"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the push never reached the server"
        time.sleep(0.05)
    doomed = _descendants(proc.pid)  # git push, its git-receive-pack, the hook
    assert doomed, "no git child process found"
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "killed by signal 9" in err
    assert "safe to run again" in err
    assert runs_in(bare) == {}  # nothing half-written on the server
    hook.unlink()
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "origin: pushed 20 runs (20 new)"
    assert runs_in(bare) == runs_in(repo)
    fsck_clean(bare)
    fsck_clean(repo)


def test_all_remotes_get_a_summary_line_each_and_progress_is_shown(repo, bare, tmp_path):
    second = make_bare(tmp_path / "second.git")
    git(repo, "remote", "add", "backup", str(second))
    forge_runs(repo, 2)
    res = run_cli("push", "--all-remotes", "--progress", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "backup: pushed 2 runs (2 new)",
        "origin: pushed 2 runs (2 new)",
    ]
    assert "Writing objects: 100%" in res.stderr  # git's own meter, passed through
    clone = tmp_path / "clone"  # file://: a real transfer, not the local clone's hard links
    git(tmp_path, "clone", "-q", f"file://{second}", str(clone))
    res = run_cli("pull", "--progress", cwd=clone)
    assert res.stdout.strip() == "origin: fetched 2 runs (2 new)"
    assert "remote: Total " in res.stderr  # the server's meter, passed through


def test_guard_as_update_hook_refuses_only_the_bad_ref(repo, bare):
    guard = Path(__file__).resolve().parent.parent / "remotes" / "pre-receive"
    (bare / "hooks" / "update").symlink_to(guard)
    good, _ = forge_run(repo, index=1)
    bad, sha = forge_run(repo, index=2)
    text = git(repo, "show", f"{sha}:.gittrack/run.yaml").replace(
        "status: FINISHED", "status: DONE"
    )
    git(repo, "update-ref", RUNS + bad, rewrite_file(repo, sha, ".gittrack/run.yaml", text))
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"rejected run {bad} (remote refused: malformed run record: run.yaml has an unknown "
        "status 'DONE' (expected one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED))"
        in res.stderr
    )
    assert (
        res.stdout.strip()
        == f"origin: pushed 1 run (1 new), 1 rejected (remote refused): {bad[:12]}"
    )
    assert set(runs_in(bare)) == {RUNS + good}


def test_no_remote_configured(repo, tmp_path):
    forge_runs(repo, 1)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert "This repository has no remotes. Add one with `git remote add origin URL`." in res.stderr
    other = make_bare(tmp_path / "x.git")
    res = run_cli("remote", "setup", str(other), cwd=repo)
    assert res.returncode == 1
    assert "is a URL, not a configured remote" in res.stderr


def test_w4_benchmark_smoke(tmp_path):
    """benchmarks/w4_remote.py --quick runs end to end and prints its table (no timing)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "w4_remote.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "W4: 50 runs, medians of 1 (seconds)" in out.stdout
    rows = {ln.split("|")[1].strip() for ln in out.stdout.splitlines() if ln.startswith("| ")}
    assert {
        "push all",
        "push all (git floor)",
        "push all (guarded remote)",
        "pull into fresh clone",
        "push 1 new run",
    } <= rows
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gtbench-")]


def _run_with_store_artifact(repo, data: bytes) -> tuple[str, str]:
    """A forged run whose artifacts.yaml lists one large artifact kept in the store."""
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    run_id, commit = forge_run(repo, index=5)
    entry = f"model.bin:\n  sha256: {sha}\n  size: {len(data)}\n  where: store\n"
    new = rewrite_file(repo, commit, ".gittrack/artifacts.yaml", entry)
    git(repo, "update-ref", RUNS + run_id, new)
    return run_id, sha


def test_push_checks_large_artifacts_in_the_store(repo, bare, tmp_path, monkeypatch):
    data = b"weights" * 1000
    plain, _ = forge_run(repo, index=1)
    run_id, sha = _run_with_store_artifact(repo, data)
    store = tmp_path / "store"
    monkeypatch.setenv("GITTRACK_ARTIFACTS", f"file://{store}")
    # the object is nowhere: that run is not pushed, and the message says what and where
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"failed run {run_id}: artifacts missing: model.bin (not in the artifact store "
        f"file://{store} nor in the local cache)"
    ) in res.stderr
    assert set(runs_in(bare)) == {RUNS + plain}
    # in the local cache only: uploaded first, then the run is pushed
    cached = repo / ".git" / "gittrack" / "objects" / "sha256" / sha[:2] / sha[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "note: uploaded 1 large artifact(s) to the artifact store" in res.stdout
    assert (store / "sha256" / sha[:2] / sha[2:]).read_bytes() == data
    assert RUNS + run_id in runs_in(bare)


def test_push_with_an_unreachable_artifact_store(repo, bare, monkeypatch):
    pytest.importorskip("s3fs")
    run_id, _ = _run_with_store_artifact(repo, b"x" * 5000)
    port = free_port()
    monkeypatch.setenv("GITTRACK_ARTIFACTS", "s3://bucket/gt")
    git(repo, "config", "gittrack.artifacts.endpoint-url", f"http://127.0.0.1:{port}")
    git(repo, "config", "gittrack.artifacts.retries", "0")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"failed run {run_id}: artifacts missing: model.bin (artifact store s3://bucket/gt"
        in res.stderr
    )
    assert "unreachable" in res.stderr
    assert runs_in(bare) == {}


def test_push_against_the_recorded_remote_state_still_reports_a_diverged_run(repo, bare, tmp_path):
    """A push after a push or pull sends what changed since without listing the remote
    first; when the remote moved meanwhile, git refuses the stale ref and the push plans
    against the remote's listing, reporting the diverged run as before."""
    ids = forge_runs(repo, 2)
    assert run_cli("push", cwd=repo).stdout.strip() == "origin: pushed 2 runs (2 new)"
    # another clone moves run 0 on the remote
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    assert run_cli("pull", cwd=other).returncode == 0
    first = runs_in(other)[RUNS + ids[0]]
    theirs = rewrite_file(other, first, ".gittrack/note.md", "theirs\n", parent=first)
    git(other, "update-ref", RUNS + ids[0], theirs)
    res = run_cli("push", cwd=other)
    assert res.stdout.strip() == "origin: pushed 1 run (1 updated), 1 up to date", res.stderr
    # here: run 0 moves differently, and one run is new
    ours = rewrite_file(repo, first, ".gittrack/note.md", "ours\n", parent=first)
    git(repo, "update-ref", RUNS + ids[0], ours)
    new_id, _ = forge_run(repo, index=7)
    res = run_cli("push", cwd=repo)
    assert res.returncode == 1
    assert (
        f"rejected run {ids[0]} (diverged): local {ours[:12]}, remote {theirs[:12]}" in res.stderr
    )
    assert res.stdout.strip().startswith(
        "origin: pushed 1 run (1 new), 1 up to date, 1 rejected (diverged)"
    ), res.stdout
    assert runs_in(bare)[RUNS + ids[0]] == theirs
    assert runs_in(bare)[RUNS + new_id] == runs_in(repo)[RUNS + new_id]
    # nothing new here: the recorded state says so, the remote keeps its version
    assert run_cli("push", cwd=repo).returncode == 1  # still diverged
    git(repo, "update-ref", RUNS + ids[0], theirs)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: 3 up to date", res.stdout + res.stderr


def test_fetching_one_run_through_gittrack_server_receives_only_that_ref(repo, bare, tmp_path):
    """``gittrack server`` passes the client's protocol v2 request (its ``Git-Protocol``
    header) to ``git http-backend``: a fetch of one run asks for its ref prefix and the
    server answers with that one ref, not every run."""
    import re

    from tests.server_helpers import ServerProcess

    ids = forge_runs(repo, 30)
    git(repo, "push", "-q", "origin", "refs/gittrack/*:refs/gittrack/*")
    want = RUNS + ids[7]
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", str(fresh))
    trace = tmp_path / "packets.txt"
    with ServerProcess(bare) as server:
        url = f"{server.url}/git/"
        assert len(git(tmp_path, "ls-remote", url, "refs/gittrack/runs/*").splitlines()) == 30
        subprocess.run(
            ["git", "-c", "protocol.version=2", "fetch", "-q", url, want],
            cwd=fresh,
            env={**os.environ, "GIT_TRACE_PACKET": str(trace)},
            check=True,
            timeout=120,
        )
    packets = trace.read_text()
    assert f"ref-prefix {want}" in packets
    advertised = re.findall(r"fetch< ([0-9a-f]{40}) (refs/\S+)", packets)
    assert advertised == [(runs_in(repo)[want], want)], advertised
    assert git(fresh, "rev-parse", "FETCH_HEAD").strip() == runs_in(repo)[want]


def test_a_push_after_the_remote_was_recreated_empty_sends_every_run_again(repo, bare):
    """The recorded remote state never hides a run: git compares every ref in the push."""
    import shutil

    forge_runs(repo, 3)
    assert run_cli("push", cwd=repo).stdout.strip() == "origin: pushed 3 runs (3 new)"
    shutil.rmtree(bare)
    make_bare(bare)
    res = run_cli("push", cwd=repo)
    assert res.stdout.strip() == "origin: pushed 3 runs (3 new)", res.stdout + res.stderr
    assert runs_in(bare) == runs_in(repo)
    assert run_cli("push", cwd=repo).stdout.strip() == "origin: 3 up to date"
