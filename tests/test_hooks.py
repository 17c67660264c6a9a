"""gittrack's git hooks with real `git commit`, `git push` and `git rebase`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gittrack.env import environment
from tests.conftest import GIT_ENV, ROOT, git, run_cli

LOCK = ".gittrack/environment.lock.yaml"


def commit(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``git commit ARGS`` as a user types it; returns the finished process."""
    return subprocess.run(
        ["git", "commit", "-q", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
    )


def files_in(cwd: Path, rev: str = "HEAD") -> list[str]:
    return git(cwd, "show", "--name-only", "--format=", rev).split()


def install(cwd: Path, *args: str) -> str:
    out = run_cli("hooks", "install", *args, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_commit_records_the_environment_once(repo):
    assert install(repo).splitlines() == [
        f"pre-commit: installed ({repo}/.git/hooks/pre-commit)",
        f"post-commit: installed ({repo}/.git/hooks/post-commit)",
        f"pre-push: installed ({repo}/.git/hooks/pre-push)",
    ]
    (repo / "requirements.txt").write_text("numpy==1.26.4\n")
    git(repo, "add", "requirements.txt")
    first = commit(repo, "-m", "add requirements")
    assert first.returncode == 0, first.stderr
    assert f"gittrack: environment changed: staged {LOCK}" in first.stderr
    assert sorted(files_in(repo)) == [LOCK, "requirements.txt"]
    locked = environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))
    here = environment.capture(repo)
    assert locked["python"] == here["python"]
    assert locked["distributions"] == here["distributions"]
    assert locked["files"] == here["files"]
    assert git(repo, "status", "--porcelain") == ""

    # an unchanged environment adds nothing to the next commit
    (repo / "train.py").write_text("print('training v2')\n")
    second = commit(repo, "-am", "tweak")
    assert second.returncode == 0, second.stderr
    assert files_in(repo) == ["train.py"]

    # a changed lock/requirements file updates the snapshot in the same commit
    (repo / "requirements.txt").write_text("numpy==2.0.0\n")
    third = commit(repo, "-am", "numpy 2")
    assert third.returncode == 0, third.stderr
    assert sorted(files_in(repo)) == [LOCK, "requirements.txt"]
    changes = environment.diff(
        environment.from_yaml(git(repo, "show", f"HEAD~2:{LOCK}")),
        environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}")),
    )
    assert [c.key for c in changes] == [
        "files/requirements.txt/sha256",
        "files/requirements.txt/size",
    ]


def test_no_verify_skips_the_snapshot_but_runs_still_record_theirs(repo):
    install(repo)
    (repo / "train.py").write_text("print('v2')\n")
    out = commit(repo, "--no-verify", "-am", "quick fix")
    assert out.returncode == 0, out.stderr
    assert files_in(repo) == ["train.py"]
    assert not (repo / LOCK).exists()
    code = "import gittrack\nwith gittrack.start_run() as r: pass\nprint(r.info.run_id)"
    run_id = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    shown = run_cli("env", "show", run_id, cwd=repo)
    assert shown.returncode == 0, shown.stderr
    assert "pyyaml:" in shown.stdout


def test_existing_hooks_run_first_and_uninstall_restores_them(repo):
    hooks = repo / ".git" / "hooks"
    shell_hook = b'#!/bin/sh\necho "shell hook ran" >> "$(git rev-parse --git-dir)/hook.log"\n'
    py_hook = (
        f"#!{sys.executable}\n"
        "import subprocess, pathlib\n"
        "d = subprocess.check_output(['git', 'rev-parse', '--git-dir'], text=True).strip()\n"
        "with open(pathlib.Path(d) / 'hook.log', 'a') as f:\n"
        "    f.write('python post-commit ran\\n')\n"
    ).encode()
    (hooks / "pre-commit").write_bytes(shell_hook)
    (hooks / "pre-commit").chmod(0o751)
    (hooks / "post-commit").write_bytes(py_hook)
    (hooks / "post-commit").chmod(0o700)
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}

    out = install(repo)
    assert "pre-commit: chained" in out and "post-commit: chained" in out
    assert "pre-push: installed" in out
    assert (repo / ".git" / "info" / "attributes").read_text().splitlines()[1:] == [
        f"/{LOCK} merge=gittrack-env"
    ]
    (repo / "train.py").write_text("print('v2')\n")
    done = commit(repo, "-am", "v2")
    assert done.returncode == 0, done.stderr
    assert (repo / ".git" / "hook.log").read_text() == "shell hook ran\npython post-commit ran\n"
    assert LOCK in files_in(repo)

    # installing again changes nothing and does not wrap the wrapper
    wrapper = (hooks / "pre-commit").read_bytes()
    again = install(repo)
    assert again.count("unchanged") == 3
    assert (hooks / "pre-commit").read_bytes() == wrapper
    assert (hooks / "pre-commit.gittrack-orig").read_bytes() == shell_hook

    status = run_cli("hooks", "status", "--format", "csv", cwd=repo)
    assert status.stdout.splitlines()[1:] == [
        f"pre-commit,chained,{hooks}/pre-commit",
        f"post-commit,chained,{hooks}/post-commit",
        f"pre-push,installed,{hooks}/pre-push",
    ]

    out = run_cli("hooks", "uninstall", cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"pre-commit: restored ({hooks}/pre-commit)",
        f"post-commit: restored ({hooks}/post-commit)",
        f"pre-push: removed ({hooks}/pre-push)",
    ]
    after = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}
    assert after == before
    # the merge driver for the lock file goes too
    assert not (repo / ".git" / "info" / "attributes").exists()
    assert git(repo, "config", "--get-regexp", "^merge\\.", check=False) == ""


def test_a_failing_existing_hook_still_stops_the_commit(repo):
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 3\n")
    hook.chmod(0o755)
    install(repo, "--hook", "pre-commit")
    (repo / "train.py").write_text("print('v2')\n")
    out = commit(repo, "-am", "v2")
    assert out.returncode != 0
    assert "lint failed" in out.stderr
    assert git(repo, "log", "--format=%s") == "initial\n"


def test_core_hooks_path_is_respected(repo):
    git(repo, "config", "core.hooksPath", "team-hooks")
    out = install(repo, "--hook", "pre-commit,post-commit")
    assert out.splitlines() == [
        f"pre-commit: installed ({repo}/team-hooks/pre-commit)",
        f"post-commit: installed ({repo}/team-hooks/post-commit)",
    ]
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    git(repo, "add", "team-hooks")
    done = commit(repo, "-m", "share hooks")
    assert done.returncode == 0, done.stderr
    assert LOCK in files_in(repo)


def test_the_hooks_folder_works_as_core_hooks_path(repo):
    """`git config core.hooksPath <checkout>/hooks` uses the scripts in hooks/ directly."""
    git(repo, "config", "core.hooksPath", str(ROOT / "hooks"))
    (repo / "train.py").write_text("print('v2')\n")
    done = commit(repo, "-am", "v2", env={"GITTRACK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert sorted(files_in(repo)) == [LOCK, "train.py"]


def test_read_only_hooks_dir_is_a_clear_error(repo):
    hooks = repo / ".git" / "hooks"
    before = sorted(p.name for p in hooks.iterdir())
    hooks.chmod(0o555)
    try:
        out = run_cli("hooks", "install", cwd=repo)
    finally:
        hooks.chmod(0o755)
    assert out.returncode == 1
    assert f"Error: The hooks directory {hooks} is read-only (mode 0555)" in out.stderr
    assert "Nothing was changed" in out.stderr
    assert sorted(p.name for p in hooks.iterdir()) == before


def test_unknown_hook_name_and_conflicting_backup(repo):
    out = run_cli("hooks", "install", "--hook", "pre-comit", cwd=repo)
    assert out.returncode == 1
    assert "Unknown hook 'pre-comit': gittrack provides pre-commit, post-commit, pre-push" in (
        out.stderr
    )
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit.gittrack-orig").write_text("#!/bin/sh\necho older\n")
    out = run_cli("hooks", "install", "--hook", "pre-commit", cwd=repo)
    assert out.returncode == 1
    assert "pre-commit.gittrack-orig already exists" in out.stderr
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    assert (hooks / "pre-commit.gittrack-orig").read_text() == "#!/bin/sh\necho older\n"


def test_malformed_distribution_does_not_stop_the_commit(repo, tmp_path):
    site = tmp_path / "site"
    bad = site / "halfinstalled-1.0.dist-info"
    bad.mkdir(parents=True)
    (bad / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: halfinstalled\n\n")
    install(repo)
    (repo / "train.py").write_text("print('v2')\n")
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ['PYTHONPATH']}"}
    done = commit(repo, "-am", "v2", env=env)
    assert done.returncode == 0, done.stderr
    assert (
        "gittrack: warning: skipped distribution halfinstalled-1.0.dist-info: "
        "metadata has no valid Version (got '')"
    ) in done.stderr
    locked = environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))
    assert "halfinstalled" not in locked["distributions"]
    assert locked["problems"] == [
        "skipped distribution halfinstalled-1.0.dist-info: metadata has no valid Version (got '')"
    ]


def test_configured_lock_path(repo):
    git(repo, "config", "gittrack.env-lock-path", "env/lock.yaml")
    install(repo)
    (repo / "train.py").write_text("print('v2')\n")
    assert commit(repo, "-am", "v2").returncode == 0
    assert sorted(files_in(repo)) == ["env/lock.yaml", "train.py"]
    git(repo, "config", "gittrack.env-lock-path", "../outside.yaml")
    (repo / "train.py").write_text("print('v3')\n")
    out = commit(repo, "-am", "v3")
    assert out.returncode == 0  # the hooks never block a commit ...
    assert (
        "gittrack.env-lock-path='../outside.yaml' must be a path inside" in out.stderr
    )  # ... but say why
    assert files_in(repo) == ["train.py"]


def _feature_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    for i in range(3):
        (repo / f"f{i}.py").write_text(f"x = {i}\n")
        git(repo, "add", f"f{i}.py")
        out = commit(repo, "-m", f"feature {i}")
        assert out.returncode == 0, out.stderr
    git(repo, "checkout", "-q", "main")
    (repo / "requirements.txt").write_text("numpy\n")
    git(repo, "add", "requirements.txt")
    assert commit(repo, "-m", "main moves on").returncode == 0
    git(repo, "checkout", "-q", "feature")


def test_rebase_with_detached_head_goes_through(repo):
    install(repo)
    _feature_branch(repo)
    env = {**os.environ, **GIT_ENV, "GIT_SEQUENCE_EDITOR": "sed -i 's/^pick/edit/'"}
    out = subprocess.run(
        ["git", "rebase", "-i", "main"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    steps = 0
    while (repo / ".git" / "rebase-merge").exists():
        assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"  # detached
        (repo / "train.py").write_text(f"print('amended {steps}')\n")
        amend = commit(repo, "-a", "--amend", "--no-edit")
        assert amend.returncode == 0, amend.stderr
        assert LOCK not in files_in(repo) or steps == 0
        cont = subprocess.run(
            ["git", "rebase", "--continue"], cwd=repo, env=env, capture_output=True, text=True
        )
        assert cont.returncode == 0, cont.stderr
        steps += 1
    assert steps == 3
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "feature"
    assert git(repo, "status", "--porcelain") == ""
    subjects = git(repo, "log", "--format=%s", "main..feature").split("\n")
    assert subjects[:3] == ["feature 2", "feature 1", "feature 0"]
    # the lock file both sides added merged to the current (upstream) side, no conflict
    assert git(repo, "show", f"feature:{LOCK}") == git(repo, "show", f"main:{LOCK}")
    for rev in ("feature", "feature~1"):
        assert LOCK not in files_in(repo, rev)


def _in_a_live_run(repo, *steps: str) -> subprocess.CompletedProcess:
    """Run ``steps`` (Python lines) in a fresh interpreter inside ``gittrack.start_run()``
    in ``repo``; it prints the run id."""
    body = "".join(f"    {step}\n" for step in steps)
    code = f"import subprocess, gittrack\nwith gittrack.start_run() as run:\n{body}print(run.info.run_id)\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
    )


def test_post_commit_notes_the_commit_in_the_run(repo):
    install(repo)
    out = _in_a_live_run(
        repo,
        "open('result.txt', 'w').write('42')",
        "subprocess.run(['git', 'add', 'result.txt'], check=True)",
        "subprocess.run(['git', 'commit', '-q', '-m', 'result'], check=True)",
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    head = git(repo, "rev-parse", "HEAD").strip()
    from gittrack.hooks.runnotes import commits_tag, read_commits

    state = repo / ".git" / "gittrack"
    notes = read_commits(state, run_id)
    assert [(n["commit"], n["branch"]) for n in notes] == [(head, "main")]
    assert commits_tag(state, run_id) == head

    # GITTRACK_RUN_ID names the run explicitly (what `gittrack run -- CMD` sets)
    (repo / "train.py").write_text("print('v2')\n")
    assert commit(repo, "-am", "v2", env={"GITTRACK_RUN_ID": run_id}).returncode == 0
    second = git(repo, "rev-parse", "HEAD").strip()
    assert commits_tag(state, run_id) == f"{head} {second}"


def test_pre_push_pushes_runs_with_branches_when_enabled(repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    install(repo)
    code = "import gittrack\nwith gittrack.start_run() as r: pass\nprint(r.info.run_id)"
    run_id = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    git(repo, "push", "-q", "origin", "main")
    assert git(remote, "for-each-ref", "refs/gittrack/") == ""  # opt-in: off by default

    git(repo, "config", "gittrack.push-runs-with-branches", "true")
    (repo / "train.py").write_text("print('v2')\n")
    assert commit(repo, "-am", "v2").returncode == 0
    out = subprocess.run(
        ["git", "push", "origin", "main"],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "gittrack: pushing runs to origin" in out.stderr
    pushed = git(remote, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/")
    assert pushed.split() == [f"refs/gittrack/runs/{run_id}"]
    assert git(remote, "rev-parse", "main") == git(repo, "rev-parse", "main")


def test_pre_push_chains_an_existing_hook_with_its_stdin(repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(
        '#!/bin/sh\necho "$1 $2" > "$GIT_DIR/../pushed.txt"\ncat >> "$GIT_DIR/../pushed.txt"\n'
    )
    hook.chmod(0o755)
    install(repo, "--hook", "pre-push")
    git(repo, "config", "gittrack.push-runs-with-branches", "true")
    code = "import gittrack\nwith gittrack.start_run() as r: pass\nprint(r.info.run_id)"
    run_id = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    out = subprocess.run(
        ["git", "push", "origin", "main"],
        cwd=repo,
        env={**os.environ, **GIT_ENV, "GIT_DIR": str(repo / ".git")},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    head = git(repo, "rev-parse", "main").strip()
    assert (repo / "pushed.txt").read_text().splitlines() == [
        f"origin {remote}",
        f"refs/heads/main {head} refs/heads/main {'0' * 40}",
    ]
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split() == [
        f"refs/gittrack/runs/{run_id}"
    ]


@pytest.mark.parametrize("hook", ["pre-commit", "post-commit", "pre-push"])
def test_wrappers_are_executable_posix_shell(repo, hook):
    install(repo, "--hook", hook)
    path = repo / ".git" / "hooks" / hook
    assert path.stat().st_mode & stat.S_IXUSR
    out = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_partial_commit_leaves_the_snapshot_for_the_next_commit(repo):
    install(repo, "--hook", "pre-commit")
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "other.py").write_text("x = 1\n")
    git(repo, "add", "other.py")
    out = commit(repo, "-m", "only train.py", "train.py")
    assert out.returncode == 0, out.stderr
    assert "partial commit (git commit PATHS)" in out.stderr
    assert files_in(repo) == ["train.py"]
    assert git(repo, "status", "--porcelain") == "A  other.py\n"
    out = commit(repo, "-m", "the rest")
    assert out.returncode == 0, out.stderr
    assert sorted(files_in(repo)) == [LOCK, "other.py"]
    assert git(repo, "status", "--porcelain") == ""


def test_install_with_another_python(repo, tmp_path):
    out = run_cli("hooks", "install", "--python", str(tmp_path / "nope" / "python"), cwd=repo)
    assert out.returncode == 1
    assert f"Python interpreter '{tmp_path}/nope/python' not found" in out.stderr
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    bare = tmp_path / "bare-venv"
    import venv

    venv.create(bare, with_pip=False, symlinks=True)
    out = run_cli("hooks", "install", "--python", str(bare / "bin" / "python"), cwd=repo)
    assert out.returncode == 1
    assert f"{bare}/bin/python cannot run gittrack's hooks (ModuleNotFoundError: No module" in (
        out.stderr
    )
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    out = run_cli("hooks", "install", "--python", sys.executable, cwd=repo)
    assert out.returncode == 0, out.stderr
    wrapper = (repo / ".git" / "hooks" / "pre-commit").read_text()
    assert f"python='{sys.executable}'" in wrapper


def test_symlinked_and_non_executable_hooks_are_kept_as_they_are(repo, tmp_path):
    shared = tmp_path / "shared-pre-commit"
    shared.write_text('#!/bin/sh\necho shared >> "$(git rev-parse --git-dir)/hook.log"\n')
    shared.chmod(0o755)
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").symlink_to(shared)
    (hooks / "post-commit").write_text('#!/bin/sh\necho "should not run" >&2\nexit 1\n')
    (hooks / "post-commit").chmod(0o644)  # git ignores a hook that is not executable
    install(repo)
    assert (hooks / "pre-commit.gittrack-orig").is_symlink()
    (repo / "train.py").write_text("print('v2')\n")
    out = commit(repo, "-am", "v2")
    assert out.returncode == 0, out.stderr
    assert "should not run" not in out.stderr
    assert (repo / ".git" / "hook.log").read_text() == "shared\n"
    assert LOCK in files_in(repo)
    run_cli("hooks", "uninstall", cwd=repo)
    assert os.readlink(hooks / "pre-commit") == str(shared)
    assert stat.S_IMODE((hooks / "post-commit").stat().st_mode) == 0o644
    assert not (hooks / "pre-push").exists()


def test_commit_made_during_a_run_is_tagged_on_the_run(repo):
    """post-commit notes the commit; the run's next checkpoint tags it."""
    import subprocess
    import sys

    import gittrack

    out = subprocess.run(
        [sys.executable, "-m", "gittrack", "hooks", "install", "--hook", "post-commit"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    with gittrack.start_run() as run:
        (repo / "model.py").write_text("W = 1\n")
        git(repo, "add", "model.py")
        git(
            repo,
            "commit",
            "-q",
            "-m",
            "tweak during training",
            env={"GITTRACK_RUN_ID": run.info.run_id},
        )
        sha = git(repo, "rev-parse", "HEAD").strip()
    tags = gittrack.get_run(run.info.run_id).data.tags
    assert sha in tags["gittrack.commits"].split()


def test_post_commit_starts_no_python_without_a_live_run(repo, tmp_path):
    # a "python" that logs which hook started it, then runs the real interpreter
    log = tmp_path / "started.log"
    spy = tmp_path / "spy-python"
    spy.write_text(f'#!/bin/sh\n[ "$1" = -m ] && echo "$3" >>{log}\nexec {sys.executable} "$@"\n')
    spy.chmod(0o755)
    install(repo, "--python", str(spy))
    log.unlink(missing_ok=True)
    (repo / "train.py").write_text("print('v2')\n")
    assert commit(repo, "-am", "v2").returncode == 0
    assert log.read_text().split() == ["pre-commit"]

    # a live run in an ancestor of `git commit`: post-commit starts Python and notes it
    log.unlink()
    out = _in_a_live_run(
        repo,
        "open('train.py', 'w').write('v3')",
        "subprocess.run(['git', 'commit', '-q', '-am', 'v3'], check=True)",
    )
    assert out.returncode == 0, out.stderr
    assert log.read_text().split() == ["pre-commit", "post-commit"]
    from gittrack.hooks.runnotes import commits_tag

    head = git(repo, "rev-parse", "HEAD").strip()
    assert commits_tag(repo / ".git" / "gittrack", out.stdout.strip()) == head


def test_snapshot_cache_sees_a_package_installed_between_commits(repo, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ['PYTHONPATH']}"}
    install(repo, "--hook", "pre-commit")
    (repo / "train.py").write_text("print('v2')\n")
    assert commit(repo, "-am", "v2", env=env).returncode == 0
    assert (repo / ".git" / "gittrack" / "cache" / "environment.json").is_file()
    assert (
        "freshly-installed"
        not in environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))["distributions"]
    )
    # an unchanged environment: served from the cache, nothing staged
    (repo / "train.py").write_text("print('v3')\n")
    assert commit(repo, "-am", "v3", env=env).returncode == 0
    assert files_in(repo) == ["train.py"]

    dist = site / "freshly_installed-2.5.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: freshly-installed\nVersion: 2.5\n")
    (repo / "train.py").write_text("print('v4')\n")
    done = commit(repo, "-am", "v4", env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(files_in(repo)) == [LOCK, "train.py"]
    locked = environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))
    assert locked["distributions"]["freshly-installed"] == "2.5"


def test_only_run_locks_name_live_runs(tmp_path):
    """A commit made under a process that holds experiment, import, logged-model or
    registry locks is noted in no run: only run locks name live runs."""
    from gittrack import layout
    from gittrack.core.locks import FileLock

    state = tmp_path / "state"
    run_id = "0123456789abcdef0123456789abcdef"
    paths = [
        layout.lock_path(state, run_id),
        layout.lock_path(state, layout.EXPERIMENTS_LOCK),
        layout.lock_path(state, layout.IMPORT_LOCK),
        layout.model_lock_path(state, "m-" + "a" * 32),
        layout.registry_lock_path(state, "churn model"),
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    locks = [FileLock(path) for path in paths]
    for lock in locks:
        assert lock.acquire()
    try:
        code = (
            "import sys; from gittrack.hooks.runnotes import live_ancestor_runs; "
            "print(live_ancestor_runs(state_dir=sys.argv[1]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(state)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    finally:
        for lock in locks:
            lock.release()
    assert out.stdout.strip() == repr([run_id])
    assert [layout.run_lock_id(p) for p in paths] == [run_id, None, None, None, None]


def test_unchanged_environment_is_decided_without_python(repo, tmp_path):
    """Once Python found the snapshot current, the pre-commit wrapper alone (a stamp of
    the watched files) lets the next commits through; a changed requirements file, an
    edited lock file or a newly installed package starts Python again, which records it."""
    if not Path("/proc/sys/kernel/osrelease").exists():
        pytest.skip("the shell-only check reads /proc (Linux)")
    site = tmp_path / "site"
    site.mkdir()
    starts = tmp_path / "starts.log"
    (site / "sitecustomize.py").write_text(
        f"with open({str(starts)!r}, 'a') as fh:\n    fh.write('python\\n')\n"
    )
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ['PYTHONPATH']}"}
    install(repo, "--hook", "pre-commit")

    def commit_counting(i: int) -> int:
        (repo / "train.py").write_text(f"print({i})\n")
        before = len(starts.read_text().splitlines()) if starts.exists() else 0
        done = commit(repo, "-am", f"c{i}", env=env)
        assert done.returncode == 0 and "failed" not in done.stderr, done.stderr
        return len(starts.read_text().splitlines()) - before

    started = [commit_counting(i) for i in range(4)]
    assert started[0] == 1 and started[-1] == 0, started  # the last: no Python at all
    assert files_in(repo) == ["train.py"]
    recorded = git(repo, "show", f"HEAD:{LOCK}")

    (repo / "requirements.txt").write_text("numpy==1.26.4\n")
    git(repo, "add", "requirements.txt")
    assert commit_counting(4) == 1
    assert sorted(files_in(repo)) == [LOCK, "requirements.txt", "train.py"]
    assert "requirements.txt" in environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))["files"]

    started = [commit_counting(i) for i in range(5, 8)]
    assert started[-1] == 0, started
    (repo / LOCK).write_text("edited by hand\n")
    assert commit_counting(8) == 1
    assert git(repo, "show", f"HEAD:{LOCK}") != "edited by hand\n"
    assert (repo / LOCK).read_text() == git(repo, "show", f"HEAD:{LOCK}")

    started = [commit_counting(i) for i in range(9, 12)]
    assert started[-1] == 0, started
    dist = site / "freshly_installed-2.5.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: freshly-installed\nVersion: 2.5\n")
    assert commit_counting(12) == 1
    locked = environment.from_yaml(git(repo, "show", f"HEAD:{LOCK}"))
    assert locked["distributions"]["freshly-installed"] == "2.5"
    assert recorded != git(repo, "show", f"HEAD:{LOCK}")
