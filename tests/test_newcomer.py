"""Papercuts a newcomer hit following the README, each as the user saw it."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import gittrack
from gittrack.cli import cli
from tests.conftest import ROOT, git, run_cli


def test_log_shows_the_newest_50_runs_and_says_how_many_more(repo):
    ids = []
    for i in range(53):
        with gittrack.start_run(run_name=f"r{i}") as run:
            ids.append(run.info.run_id)
    runner = CliRunner()
    out = runner.invoke(cli, ["log"]).output.splitlines()
    assert out[0].split()[:2] == ["RUN", "NAME"]
    assert [ln.split()[0] for ln in out[1:51]] == [r[:8] for r in reversed(ids[3:])]
    assert out[51:] == ["... 3 more run(s) not shown: use -n N to see more, -n 0 for all"]
    every = runner.invoke(cli, ["log", "-n", "0"]).output.splitlines()
    assert len(every) == 54 and "more run(s)" not in every[-1]
    few = runner.invoke(cli, ["log", "-n", "2"]).output.splitlines()
    assert len(few) == 3  # what was asked for: no footer
    rows = list(csv.DictReader(io.StringIO(runner.invoke(cli, ["log", "--format", "csv"]).output)))
    assert len(rows) == 53  # machine formats list every run unless -n says otherwise


def test_show_names_the_experiment(repo):
    gittrack.set_experiment("resnet")
    with gittrack.start_run() as run:
        pass
    exp_id = run.info.experiment_id
    out = CliRunner().invoke(cli, ["show", run.info.run_id[:8]]).output
    assert f"experiment resnet ({exp_id})" in out.splitlines()


def test_artifacts_ls_says_when_a_run_has_none(repo):
    with gittrack.start_run() as run:
        pass
    rid = run.info.run_id
    out = CliRunner().invoke(cli, ["artifacts", "ls", rid[:8]])
    assert out.exit_code == 0
    assert out.output == f"run {rid[:8]} has no artifacts\n"
    deep = CliRunner().invoke(cli, ["artifacts", "ls", "-r", rid[:8]])
    assert deep.output == f"run {rid[:8]} has no artifacts\n"
    as_json = CliRunner().invoke(cli, ["artifacts", "ls", rid[:8], "--format", "json"])
    assert as_json.output.strip() == "[]"


def test_gc_and_fsck_work_under_artifacts_too(repo, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    with gittrack.start_run():
        gittrack.log_artifact(big)
    for words in (["fsck"], ["artifacts", "fsck"]):
        r = run_cli(*words, cwd=repo)
        assert r.returncode == 0, r.stderr
        assert "checked 1 run(s), 1 artifact(s), 1 store object(s): ok" in r.stdout
    for words in (["gc", "-n"], ["artifacts", "gc", "-n"]):
        r = run_cli(*words, cwd=repo)
        assert r.returncode == 0, r.stderr
        assert "would remove 0 unreferenced object(s)" in r.stdout


def test_gittrack_run_records_the_script_as_source_name(repo):
    (repo / "job.py").write_text("print('hi')\n")
    r = run_cli("run", "--name", "job", "--", sys.executable, "-u", "job.py", "--lr", "1", cwd=repo)
    assert r.returncode == 0, r.stderr
    run = gittrack.Client().search_runs(["0"])[0]
    assert run.data.tags["mlflow.source.name"] == str(repo / "job.py")
    from gittrack.api.runner import command_source_name

    assert command_source_name(["python3", "-m", "pkg.train", "--x"]) == "pkg.train"
    assert command_source_name(["python", "-c", "print(1)"]) == "<interactive>"
    assert command_source_name(["no-such-tool", "job.py"]) == "no-such-tool"


def test_sync_into_the_working_tree_leaves_the_next_run_clean(repo):
    pytest.importorskip("sqlalchemy")
    with gittrack.start_run():
        pass
    r = run_cli("sync", "sqlite:///runs.db", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "runs.db is inside the working tree: added it to .git/info/exclude" in r.stderr
    assert (repo / "runs.db").exists()
    assert git(repo, "status", "--porcelain") == ""
    with gittrack.start_run() as run:
        pass
    source = gittrack.Client().get_run(run.info.run_id).record["source"]
    assert source["dirty"] is False and source["commit"] == git(repo, "rev-parse", "HEAD").strip()
    again = run_cli("sync", "sqlite:///runs.db", cwd=repo)
    assert again.returncode == 0 and "note:" not in again.stderr  # said once
    assert (repo / ".git" / "info" / "exclude").read_text().count("/runs.db\n") == 1


def test_log_model_without_cloudpickle_names_the_extra_and_fails_no_run(repo):
    code = (
        "import sys\n"
        "sys.modules['cloudpickle'] = None  # as if it were not installed\n"
        "import gittrack\n"
        "class Model:\n"
        "    def predict(self, x):\n"
        "        return x\n"
        "try:\n"
        "    gittrack.log_model(Model(), 'model')\n"
        "except gittrack.GittrackError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "saving a model with flavor 'python_function' needs the package 'cloudpickle', "
        "which is not installed: pip install 'gittrack[models]'"
    )
    assert gittrack.Client().search_runs(["0"]) == []  # no run was started, so none FAILED


def test_mlflow_telemetry_is_off_for_the_suite_and_its_servers():
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "true"
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"],
        capture_output=True,
        text=True,
    )
    assert child.stdout == "true\n"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_installs_into_a_project_venv(tmp_path):
    venv = tmp_path / "venv"
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "install-test", "test", "demo", f"VENV={venv}"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"python3 -m venv {venv}" in lines
    pips = [ln for ln in lines if " pip install" in ln]
    assert pips and all(ln.startswith(f"{venv}/bin/python -m pip install") for ln in pips)
    assert f"{venv}/bin/python -m pytest -n 2 -q" in lines
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert ".venv/" in gitignore and "/.cache/" in gitignore


def test_search_branch_head_is_the_branch_checked_out(repo):
    git(repo, "checkout", "-q", "-b", "trunk")
    with gittrack.start_run() as run:
        pass
    r = run_cli("search", "attributes.status = 'FINISHED'", "--branch", "HEAD", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert run.info.run_id in r.stdout and "trunk" in r.stdout
    git(repo, "checkout", "-q", "--detach")
    detached = run_cli("search", "", "--branch", "HEAD", cwd=repo)
    assert detached.returncode == 1
    assert "HEAD is not on a branch with commits (detached, or no commit yet)" in detached.stderr
    assert "(branches: main, trunk)" in detached.stderr
