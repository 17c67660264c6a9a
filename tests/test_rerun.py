"""gittrack rerun: real repositories, real `gittrack` processes, real training scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, commit_text, git, run_cli
from tests.remote_helpers import make_bare

RUNS = "refs/gittrack/runs/"

# Deterministic "training": the loss depends on --lr, --epochs, a seeded RNG, and
# the factor in data.txt (an untracked file: the snapshot carries it).
TRAIN = """\
import argparse, os, random, time
import gittrack

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--epochs", type=int, default=5)
a = p.parse_args()
factor = float(open("data.txt").read()) if os.path.exists("data.txt") else 1.0
rng = random.Random(42)
with gittrack.start_run():
    gittrack.log_params({"lr": a.lr, "epochs": a.epochs})
    w = 1.0
    for step in range(a.epochs):
        w -= a.lr * w * rng.random() * factor
        gittrack.log_metric("loss", w, step=step)
    gittrack.log_metric("acc", 1 - w)
    with open("model.txt", "w") as fh:
        fh.write(f"{w:.12f}\\n")
    gittrack.log_artifact("model.txt")
    if os.environ.get("RERUN_TEST_MARKER"):
        with open(os.environ["RERUN_TEST_MARKER"], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(60)
print(f"final loss {w:.6f}")
"""

# Nondeterministic: an unseeded RNG.
NOISY = """\
import random
import gittrack

with gittrack.start_run():
    for step in range(3):
        gittrack.log_metric("score", 0.5 + random.random(), step=step)
"""


def ids_in(path: Path) -> set[str]:
    out = git(path, "for-each-ref", "--format=%(refname)", RUNS)
    return {line[len(RUNS) :] for line in out.split()}


def ref_sha(path: Path, run_id: str) -> str:
    return git(path, "rev-parse", RUNS + run_id).strip()


def worktrees(path: Path) -> list[str]:
    out = git(path, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def record_run(path: Path, *command: str, cwd: Path | None = None, env: dict | None = None) -> str:
    """`gittrack run -- COMMAND` (or, with ``command[0] == "-"``, the bare command); the new run id."""
    before = ids_in(path)
    args = ["run", "--", *command] if command[0] != "-" else None
    if args is not None:
        res = run_cli(*args, cwd=cwd or path, env=env)
    else:
        res = subprocess.run(
            list(command[1:]),
            cwd=cwd or path,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert res.returncode == 0, res.stdout + res.stderr
    (new,) = ids_in(path) - before
    return new


def client(path: Path):
    from gittrack.api.client import Client

    return Client(str(path))


@pytest.fixture
def project(repo: Path) -> Path:
    """The conftest repository with the training scripts committed."""
    (repo / "train.py").write_text(TRAIN)
    (repo / "noisy.py").write_text(NOISY)
    (repo / ".gitignore").write_text("model.txt\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "training scripts")
    return repo


@pytest.fixture
def original(project: Path) -> str:
    """A run of train.py made from a dirty working tree: an uncommitted edit (5 -> 4
    epochs) and an untracked data file."""
    (project / "train.py").write_text(TRAIN.replace("default=5", "default=4"))
    (project / "data.txt").write_text("1.5\n")
    return record_run(project, "python", "train.py", "--lr", "0.1")


# -- done when ---------------------------------------------------------------------


def test_deterministic_run_reproduces_from_its_snapshot_not_the_working_tree(project, original):
    # the working tree moves on: the script changes, the data file is gone, an edit is staged
    edited = TRAIN.replace("w -= a.lr", "w += a.lr")
    (project / "train.py").write_text(edited)
    (project / "data.txt").unlink()
    (project / "noisy.py").write_text("raise SystemExit(3)\n")
    git(project, "add", "noisy.py")
    status = git(project, "status", "--porcelain")
    head = git(project, "rev-parse", "HEAD")
    sha = ref_sha(project, original)

    res = run_cli("rerun", original[:10], cwd=project)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    (new,) = ids_in(project) - {original}
    assert f"rerun {new[:8]} of {original[:8]}: REPRODUCED" in lines
    assert any(ln.split()[:2] == ["metric", "loss"] and "same" in ln.split() for ln in lines)
    assert "params: 2 compared, all the same" in lines
    assert "artifacts: 1 compared, all the same" in lines
    assert "environment: no differences" in lines

    c = client(project)
    a, b = c.get_run(original), c.get_run(new)
    assert b.info.status == "FINISHED"
    assert b.data.tags["gittrack.rerunOf"] == original
    assert b.data.params == a.data.params == {"lr": "0.1", "epochs": "4"}
    assert b.data.metrics == a.data.metrics
    assert [m.value for m in c.get_metric_history(new, "loss")] == [
        m.value for m in c.get_metric_history(original, "loss")
    ]
    assert len(c.get_metric_history(new, "loss")) == 4
    # the rerun ran the original's code: same source commit and same files
    assert b.record["source"]["commit"] == a.record["source"]["commit"]
    assert b.record["source"]["branch"] == "main"
    assert b.record["command"] == "python train.py --lr 0.1"
    for f in ("train.py", "data.txt", "noisy.py"):
        assert git(project, "rev-parse", f"{RUNS}{new}:{f}") == git(
            project, "rev-parse", f"{RUNS}{original}:{f}"
        )
    assert "final loss" in git(project, "show", f"{RUNS}{new}:.gittrack/logs/stdout.txt")

    # nothing of the user's changed: working tree, index, HEAD, the original run
    assert (project / "train.py").read_text() == edited
    assert not (project / "data.txt").exists()
    assert git(project, "status", "--porcelain") == status
    assert git(project, "rev-parse", "HEAD") == head
    assert ref_sha(project, original) == sha
    assert worktrees(project) == [str(project)]

    # linked both ways
    shown = run_cli("show", original, cwd=project).stdout
    assert f"rerun     {new}  {a.info.run_name}-rerun  FINISHED" in shown.splitlines()
    assert f"rerun of  {original}" in run_cli("show", new, cwd=project).stdout.splitlines()
    as_json = json.loads(run_cli("show", original, "--format", "json", cwd=project).stdout)
    assert [r["run_id"] for r in as_json["reruns"]] == [new]


def test_set_reports_the_intended_change_and_the_metric_difference(project, original):
    res = run_cli("rerun", original, "--set", "lr=0.5", cwd=project)
    assert res.returncode == 1, res.stdout + res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines()]
    (new,) = ids_in(project) - {original}
    assert f"rerun {new[:8]} of {original[:8]}: DIFFERS" in res.stdout.splitlines()
    assert ["param", "lr", "0.1", "0.5", "intended"] in rows
    loss = next(r for r in rows if r[:2] == ["metric", "loss"])
    assert "differs" in loss and "rel." in loss
    c = client(project)
    assert c.get_run(new).data.params == {"lr": "0.5", "epochs": "4"}
    assert c.get_run(new).record["command"] == "python train.py --lr 0.5"
    assert c.get_run(new).data.metrics["loss"] != c.get_run(original).data.metrics["loss"]

    # the same in JSON, for scripts
    res = run_cli("rerun", original, "--set", "lr=0.5", "--format", "json", cwd=project)
    out = json.loads(res.stdout)  # the command's own output went to stderr
    assert "final loss" in res.stderr
    assert res.returncode == 1
    assert out["verdict"] == "differs" and out["overrides"] == {"lr": "0.5"}
    by_key = {(d["kind"], d["key"]): d for d in out["differences"]}
    assert by_key[("param", "lr")]["verdict"] == "intended"
    assert by_key[("param", "epochs")]["verdict"] == "same"
    assert by_key[("metric", "loss")]["verdict"] == "differs"
    assert by_key[("artifact", "model.txt")]["verdict"] == "differs"


def test_nondeterministic_script_differs_beyond_the_tolerance(project):
    first = record_run(project, "python", "noisy.py")
    res = run_cli("rerun", first, cwd=project)
    assert res.returncode == 1, res.stdout + res.stderr
    assert any(ln.endswith(": DIFFERS") for ln in res.stdout.splitlines())
    score = next(ln.split() for ln in res.stdout.splitlines() if ln.startswith("metric"))
    assert score[1] == "score" and "differs" in score
    # within a tolerance wide enough for the noise it counts as reproduced
    import gittrack

    result = gittrack.rerun(first, repo=str(project), tolerance=1.0)
    assert result.verdict == "reproduced"
    (row,) = [d for d in result.differences if d.kind == "metric"]
    assert row.verdict == "within tolerance" and row.original != row.rerun
    assert not result.metrics_differ
    strict = gittrack.rerun(first, repo=str(project), tolerance=0.0)
    assert strict.metrics_differ and strict.verdict == "differs"


def test_failing_rerun_exits_with_the_commands_status(project):
    flaky = (
        "import os, sys\nimport gittrack\n"
        "with gittrack.start_run():\n    gittrack.log_metric('m', 1)\n"
        "sys.exit(int(os.environ.get('FLAKY_EXIT', '0')))\n"
    )
    commit_text(project, {"flaky.py": flaky}, "flaky")
    first = record_run(project, "python", "flaky.py")
    res = run_cli("rerun", first, cwd=project, env={"FLAKY_EXIT": "3"})
    assert res.returncode == 3, res.stdout + res.stderr
    (new,) = ids_in(project) - {first}
    assert (
        res.stdout.strip() == f"rerun {new[:8]} of {first[:8]}: FAILED (status FAILED, exit code 3)"
    )
    assert client(project).get_run(new).info.status == "FAILED"


# -- where runs come from ------------------------------------------------------------


def test_run_pulled_from_a_colleague_reruns_in_a_clone(project, original, tmp_path):
    bare = make_bare(tmp_path / "central.git")
    git(project, "remote", "add", "origin", str(bare))
    git(project, "push", "-q", "origin", "main")
    assert run_cli("push", cwd=project).returncode == 0
    clone = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    res = run_cli("pull", cwd=clone)
    assert res.returncode == 0, res.stderr

    res = run_cli("rerun", original[:8], cwd=clone)
    assert res.returncode == 0, res.stdout + res.stderr
    (new,) = ids_in(clone) - {original}
    assert f"rerun {new[:8]} of {original[:8]}: REPRODUCED" in res.stdout.splitlines()
    assert client(clone).get_run(new).data.metrics == client(project).get_run(original).data.metrics
    assert worktrees(clone) == [str(clone)]
    assert not (clone / "data.txt").exists()  # it was only in the snapshot


def test_gittrack_run_from_a_subdirectory_reruns_there(project):
    (project / "sub").mkdir()
    (project / "sub" / "data.txt").write_text("0.5\n")  # read relative to the directory
    run_id = record_run(project, "python", "../train.py", cwd=project / "sub")
    c = client(project)
    assert c.get_run(run_id).record["cwd"] == "sub"
    (project / "sub" / "data.txt").write_text("3\n")  # the working tree moves on
    res = run_cli("rerun", run_id, cwd=project)
    assert res.returncode == 0, res.stdout + res.stderr
    (new,) = ids_in(project) - {run_id}
    assert c.get_run(new).data.metrics == c.get_run(run_id).data.metrics
    assert c.get_run(new).record["cwd"] == "sub"


def test_run_of_a_fluent_script_reruns_with_python_and_the_script(project):
    fit = (
        "import sys\nimport gittrack as mlflow\n"
        "lr = float(sys.argv[sys.argv.index('--lr') + 1])\n"
        "with mlflow.start_run():\n"
        "    mlflow.log_param('lr', lr)\n"
        "    for i in range(3):\n"
        "        mlflow.log_metric('loss', 1 / (1 + lr * i), step=i)\n"
    )
    commit_text(project, {"src/fit.py": fit}, "fit")
    run_id = record_run(project, "-", sys.executable, "fit.py", "--lr", "0.2", cwd=project / "src")
    c = client(project)
    assert c.get_run(run_id).data.tags["mlflow.source.name"] == str(project / "src" / "fit.py")

    import gittrack

    result = gittrack.rerun(run_id, repo=str(project))
    assert result.verdict == "reproduced", result.to_dict()
    assert result.command == [sys.executable, "fit.py", "--lr", "0.2"]
    assert result.cwd == "src"
    assert c.get_run(result.run_id).data.metrics == c.get_run(run_id).data.metrics

    changed = gittrack.rerun(run_id, repo=str(project), overrides={"lr": 0.4})
    assert changed.verdict == "differs"
    assert changed.command[-1] == "0.4"
    assert [d.verdict for d in changed.differences if d.key == "lr"] == ["intended"]


def test_run_without_snapshot_reruns_the_commit_mlflow_tags_name(project):
    """A run an MLflow client logged through the server has no snapshot, only MLflow's
    source tags: the script and the commit it ran from."""
    reference = record_run(project, "python", "train.py")  # the committed code, as is
    c = client(project)
    ref = c.get_run(reference)
    head = git(project, "rev-parse", "HEAD").strip()
    logged = c.create_run(
        snapshot=False,
        tags={"mlflow.source.name": "train.py", "mlflow.source.git.commit": head},
    ).info.run_id
    for key, value in ref.data.params.items():
        c.log_param(logged, key, value)
    for key in ref.data.metrics:
        for m in c.get_metric_history(reference, key):
            c.log_metric(logged, key, m.value, step=m.step, timestamp=m.timestamp)
    c.log_artifact(logged, str(project / "model.txt"))
    c.set_terminated(logged)
    assert c.get_run(logged).record["source"]["commit"] is None

    import gittrack

    result = gittrack.rerun(logged[:8], repo=str(project))
    assert result.verdict == "reproduced", result.to_dict()
    assert result.command == [sys.executable, "train.py"]
    assert result.notes == [
        f"the run recorded no snapshot: its commit {head[:12]} (mlflow.source.git.commit) "
        "ran as committed"
    ]
    assert c.get_run(result.run_id).record["source"]["commit"] == head


# -- bad input ---------------------------------------------------------------------------


def test_unknown_and_ambiguous_run_ids(project):
    c = client(project)
    for rid in ("abcd" + "0" * 28, "abcd" + "1" * 28):
        c.create_run(run_id=rid)
        c.set_terminated(rid)
    res = run_cli("rerun", "deadbeef", cwd=project)
    assert res.returncode == 1
    assert "Error: Run 'deadbeef' not found" in res.stderr
    res = run_cli("rerun", "abcd", cwd=project)
    assert res.returncode == 1
    assert "Run id prefix 'abcd' is ambiguous: it matches 2 runs" in res.stderr
    assert worktrees(project) == [str(project)]


def test_source_commit_missing_in_a_shallow_clone(project, original, tmp_path):
    git(project, "commit", "-q", "--allow-empty", "-m", "later")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{project}", str(shallow))
    ref = RUNS + original
    git(shallow, "fetch", "-q", "--depth", "1", "origin", f"{ref}:{ref}")
    res = run_cli("rerun", original, cwd=shallow)
    assert res.returncode == 1
    src = client(project).get_run(original).record["source"]["commit"]
    assert (
        f"Error: The source commit {src[:12]} of run {original[:8]} is not in this repository "
        "(a shallow clone?): fetch it, e.g. `git fetch --unshallow`, then rerun"
    ) in res.stderr
    assert ids_in(shallow) == {original}
    assert worktrees(shallow) == [str(shallow)]


def test_command_not_found_on_this_machine(project, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "trainer-tool"
    tool.write_text(f'#!/bin/sh\nexec {sys.executable} train.py "$@"\n')
    tool.chmod(0o755)
    path_with = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    run_id = record_run(project, "trainer-tool", "--lr", "0.2", env={"PATH": path_with})
    before = ids_in(project)
    res = run_cli("rerun", run_id, cwd=project)
    assert res.returncode == 1
    assert (
        "Error: The recorded command 'trainer-tool' is not found on this machine (not on PATH); "
        "command: `trainer-tool --lr 0.2`"
    ) in res.stderr
    assert ids_in(project) == before  # no run was started
    assert worktrees(project) == [str(project)]
    # where it exists, the same run reruns
    res = run_cli("rerun", run_id, cwd=project, env={"PATH": path_with})
    assert res.returncode == 0, res.stdout + res.stderr


def test_set_of_a_key_the_run_never_had(project, original):
    before = ids_in(project)
    res = run_cli("rerun", original, "--set", "momentum=0.9", cwd=project)
    assert res.returncode == 1
    assert (
        f"Error: --set momentum: run {original[:8]} never had a param 'momentum' "
        "(its params: epochs, lr)"
    ) in res.stderr
    # epochs is a param, but the recorded command has no --epochs argument to change
    res = run_cli("rerun", original, "--set", "epochs=9", cwd=project)
    assert res.returncode == 1
    assert (
        "Error: --set epochs: the command `python train.py --lr 0.1` has no argument "
        "--epochs VALUE, --epochs=VALUE or epochs=VALUE, so gittrack cannot give 'epochs' "
        "a new value"
    ) in res.stderr
    res = run_cli("rerun", original, "--set", "lr", cwd=project)
    assert res.returncode == 2
    assert "'lr' is not KEY=VALUE" in res.stderr
    assert ids_in(project) == before


def test_runs_without_a_recorded_command_are_refused(project, tmp_path):
    interactive = record_run(
        project,
        "-",
        sys.executable,
        "-c",
        "import gittrack\nwith gittrack.start_run(): gittrack.log_metric('m', 1)",
    )
    res = run_cli("rerun", interactive, cwd=project)
    assert res.returncode == 1
    assert (
        f"Error: Run {interactive[:8]} has no recorded command to rerun: it was logged from "
        "an interactive session or `python -c`."
    ) in res.stderr
    # a program outside the repository that embeds gittrack
    app = tmp_path / "embedder.py"
    app.write_text("import gittrack\nwith gittrack.start_run(): gittrack.log_metric('m', 1)\n")
    embedded = record_run(project, "-", sys.executable, str(app))
    res = run_cli("rerun", embedded, cwd=project)
    assert res.returncode == 1
    assert (
        f"it was logged by '{app}', which is not a script in the run's snapshot "
        "(an embedding program)"
    ) in res.stderr
    assert "gittrack rerun needs a run started with `gittrack run -- CMD`" in res.stderr
    # a notebook's run records no command either
    c = client(project)
    nb = c.create_run()
    w = c.writer(nb.info.run_id)
    w.set_record(command="", source_name="<notebook>", source_type="NOTEBOOK")
    w.end()
    res = run_cli("rerun", nb.info.run_id, cwd=project)
    assert "has no recorded command to rerun: it was logged from a notebook" in res.stderr


def start_slow_rerun(project: Path, original: str, tmp_path: Path) -> tuple:
    """`gittrack rerun` whose command sleeps once it logged; returns (process, marker
    file holding the command's pid, the TMPDIR it uses)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "rerun", original],
        cwd=project,
        env={**os.environ, "RERUN_TEST_MARKER": str(marker), "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the rerun's command did not start"
        time.sleep(0.05)
    assert len(worktrees(project)) == 2  # the temporary worktree is there meanwhile
    return proc, marker, tmp


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_rerun_killed_midway(project, original, tmp_path, sig):
    sha = ref_sha(project, original)
    proc, marker, tmp = start_slow_rerun(project, original, tmp_path)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, out + err
    (new,) = ids_in(project) - {original}
    c = client(project)
    assert c.get_run(new).info.status == "KILLED"
    assert c.get_run(new).data.tags["gittrack.rerunOf"] == original
    assert (
        f"rerun {new[:8]} of {original[:8]}: FAILED (status KILLED, exit code {128 + sig})" in out
    )
    assert ref_sha(project, original) == sha  # the original is untouched
    assert worktrees(project) == [str(project)]
    assert list(tmp.iterdir()) == []  # the temporary directory is gone
    with pytest.raises(ProcessLookupError):  # and the command with it
        os.kill(int(marker.read_text()), 0)


def test_rerun_killed_hard_is_crashed_and_its_worktree_removed_next_time(
    project, original, tmp_path
):
    sha = ref_sha(project, original)
    proc, marker, tmp = start_slow_rerun(project, original, tmp_path)
    proc.kill()  # SIGKILL: gittrack cannot clean up
    proc.communicate(timeout=60)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the orphaned command too
    (new,) = ids_in(project) - {original}
    deadline = time.monotonic() + 30
    while client(project).get_run(new).info.status != "CRASHED":
        assert time.monotonic() < deadline, client(project).get_run(new).info.status
        time.sleep(0.1)
    assert ref_sha(project, original) == sha
    (left,) = [w for w in worktrees(project) if w != str(project)]
    assert Path(left).is_relative_to(tmp)
    # the next rerun removes what the dead one left behind
    res = run_cli("rerun", original, cwd=project, env={"TMPDIR": str(tmp)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert worktrees(project) == [str(project)]
    assert list(tmp.iterdir()) == []


def test_env_check_refuses_when_imported_packages_differ(project, tmp_path):
    def site(name: str, version: str, dep_version: str) -> Path:
        root = tmp_path / name
        for dist, module, ver, requires in (
            ("fakepkg-gt", "fakepkg_gt", version, "Requires-Dist: fakedep-gt\n"),
            ("fakedep-gt", "fakedep_gt", dep_version, ""),
        ):
            (root / module).mkdir(parents=True)
            (root / module / "__init__.py").write_text(f"VERSION = {ver!r}\n")
            info = root / f"{module}-{ver}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {dist}\nVersion: {ver}\n{requires}"
            )
            (info / "top_level.txt").write_text(module + "\n")
        return root

    old, new = site("site_old", "1.0", "2.0"), site("site_new", "1.1", "2.1")
    uses_pkg = (
        "import fakepkg_gt\nimport gittrack\n"
        "with gittrack.start_run():\n"
        "    gittrack.log_metric('v', float(fakepkg_gt.VERSION))\n"
    )
    commit_text(project, {"uses_pkg.py": uses_pkg}, "uses a package")

    def env_for(root: Path) -> dict:
        return {"PYTHONPATH": f"{root}{os.pathsep}{ROOT}"}

    run_id = record_run(project, "python", "uses_pkg.py", env=env_for(old))
    before = ids_in(project)
    res = run_cli("rerun", run_id, "--env", "check", cwd=project, env=env_for(new))
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"Error: Run {run_id[:8]} imported packages whose versions differ here:" in res.stderr
    assert "  fakepkg-gt: 1.0 when it ran, 1.1 now" in res.stderr
    assert "  fakedep-gt: 2.0 when it ran, 2.1 now" in res.stderr  # required by fakepkg-gt
    assert "-m pip install fakedep-gt==2.0 fakepkg-gt==1.0\n" in res.stderr
    assert ids_in(project) == before

    # in the recorded environment the check passes and the run reproduces
    res = run_cli("rerun", run_id, "--env", "check", cwd=project, env=env_for(old))
    assert res.returncode == 0, res.stdout + res.stderr
    # --env current runs anyway and reports the differences
    res = run_cli("rerun", run_id, "--env", "current", cwd=project, env=env_for(new))
    assert res.returncode == 1, res.stdout + res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines()]
    assert ["environment", "distributions/fakepkg-gt", "1.0", "1.1", "changed", "changed"] in rows
    assert next(r for r in rows if r[:2] == ["metric", "v"])[2:5] == ["1", "1.1", "differs"]


def test_workdir_is_kept_and_must_be_new_or_empty(project, original, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    res = run_cli("rerun", original, "--workdir", str(busy), cwd=project)
    assert res.returncode == 1
    assert f"Error: --workdir {busy} is not empty: give a new or empty directory" in res.stderr

    keep = tmp_path / "keep"
    res = run_cli("rerun", original, "--workdir", str(keep), cwd=project)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (keep / "data.txt").read_text() == "1.5\n"
    assert (keep / "model.txt").exists()  # what the command wrote stays for inspection
    assert str(keep) in worktrees(project)
    assert f"workdir {keep} kept (remove it with `git worktree remove {keep}`)" in res.stdout


def test_ui_run_page_shows_reruns(project, original):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    import gittrack
    from gittrack.ui import make_ui_app

    result = gittrack.rerun(original, repo=str(project))
    with TestClient(make_ui_app(str(project), preload=False)) as api:
        page = api.get(f"/ui/api/runs/{original}").json()
        assert page["reruns"] == [
            {"run_id": result.run_id, "run_name": page["run_name"] + "-rerun", "status": "FINISHED"}
        ]
        back = api.get(f"/ui/api/runs/{result.run_id}").json()
        assert back["tags"]["gittrack.rerunOf"] == original
        assert back["reruns"] == []


def test_ui_run_page_links_reruns_in_the_browser(project, original):
    from tests.test_ui_browser import CHROMIUM, launch_browser, start_ui

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing")
    playwright = pytest.importorskip("playwright.sync_api")
    import gittrack

    result = gittrack.rerun(original, repo=str(project))
    proc, base = start_ui(project)
    try:
        with playwright.sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page()
            page.goto(f"{base}/#/run/{original}")
            page.wait_for_selector(".run-header .reruns a")
            link = page.locator(".run-header .reruns a")
            assert link.inner_text().endswith("-rerun")
            link.click()
            page.wait_for_selector(".run-header .rerun-of")
            assert page.inner_text(".run-header .rerun-of") == original
            assert result.run_id in page.inner_text(".run-header")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
