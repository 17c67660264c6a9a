"""The run commands as a user types them."""

from __future__ import annotations

import csv
import io
import json
import sys

from click.testing import CliRunner

import gittrack
from gittrack.cli import COMMANDS, cli
from tests.conftest import git, run_cli


def _log_two_runs(repo):
    with gittrack.start_run(run_name="alpha") as a:
        gittrack.log_param("lr", 0.1)
        gittrack.log_metric("acc", 0.7)
    (repo / "train.py").write_text("print('v2')\n")
    with gittrack.start_run(run_name="beta") as b:
        gittrack.log_param("lr", 0.2)
        gittrack.log_metric("acc", 0.9)
    gittrack.api.fluent._reset_for_tests()
    return a.info.run_id, b.info.run_id


def test_log_lists_newest_first_in_every_format(repo):
    a, b = _log_two_runs(repo)
    r = CliRunner().invoke(cli, ["log"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:3] == ["RUN", "NAME", "STATUS"]
    assert lines[1].startswith(b[:8]) and "beta" in lines[1] and "acc=0.9" in lines[1]
    assert lines[2].startswith(a[:8]) and "main" in lines[2]
    head = git(repo, "rev-parse", "HEAD")[:8]
    assert f"{head}*" in lines[1] and f"{head} " in lines[2]  # dirty mark on beta only
    data = json.loads(CliRunner().invoke(cli, ["log", "--format", "json"]).output)
    assert [d["run_id"] for d in data] == [b, a]
    rows = list(
        csv.DictReader(
            io.StringIO(CliRunner().invoke(cli, ["log", "--format", "csv", "-n", "1"]).output)
        )
    )
    assert len(rows) == 1 and rows[0]["name"] == "beta"
    out = CliRunner().invoke(cli, ["log", "--status", "failed"]).output
    assert "No runs" in out


def test_show_and_diff(repo):
    a, b = _log_two_runs(repo)
    r = CliRunner().invoke(cli, ["show", b[:6]])
    assert r.exit_code == 0, r.output
    assert f"run       {b}" in r.output and "lr = 0.2" in r.output and "(dirty)" in r.output
    d = CliRunner().invoke(cli, ["diff", a, b, "--code"])
    assert d.exit_code == 0, d.output
    assert "lr" in d.output and "0.1" in d.output and "0.2" in d.output
    assert "-print('training')" in d.output and "+print('v2')" in d.output
    bad = CliRunner().invoke(cli, ["show", "zzzz"])
    assert bad.exit_code == 1 and "Run 'zzzz' not found" in bad.output


def test_checkout_restores_the_code(repo, tmp_path):
    a, b = _log_two_runs(repo)
    dest = tmp_path / "code"
    r = CliRunner().invoke(cli, ["checkout", b, "--path", str(dest)])
    assert r.exit_code == 0, r.output
    assert (dest / "train.py").read_text() == "print('v2')\n"
    assert not (dest / ".gittrack").exists()
    # in place: refuses a dirty tree, works on a clean one
    r = CliRunner().invoke(cli, ["checkout", b])
    assert r.exit_code == 1 and "uncommitted changes" in r.output
    git(repo, "checkout", "--", "train.py")
    r = CliRunner().invoke(cli, ["checkout", b])
    assert r.exit_code == 0, r.output
    assert (repo / "train.py").read_text() == "print('v2')\n"
    assert "HEAD detached" in r.output


def test_delete_restore_and_experiments(repo):
    a, b = _log_two_runs(repo)
    runner = CliRunner()
    assert runner.invoke(cli, ["delete", a[:8]]).exit_code == 0
    assert a[:8] not in runner.invoke(cli, ["log"]).output
    assert a[:8] in runner.invoke(cli, ["log", "--all"]).output
    assert runner.invoke(cli, ["restore", a[:8]]).exit_code == 0
    assert a[:8] in runner.invoke(cli, ["log"]).output
    r = runner.invoke(cli, ["experiments", "create", "nlp"])
    assert r.exit_code == 0 and r.output.strip().isdigit()
    listing = runner.invoke(cli, ["experiments"]).output
    assert "Default" in listing and "nlp" in listing
    dup = runner.invoke(cli, ["experiments", "create", "nlp"])
    assert dup.exit_code == 1 and "already exists" in dup.output


def test_gittrack_run_records_command_output_and_status(repo):
    script = repo / "job.py"
    script.write_text(
        "import sys, gittrack\n"
        "gittrack.log_metric('acc', 0.5)\n"
        "print('hello from the job')\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    ok = run_cli("run", "--name", "good", "--", sys.executable, "job.py", "0", cwd=repo)
    assert ok.returncode == 0, ok.stderr
    assert "hello from the job" in ok.stdout
    bad = run_cli("run", "--name", "bad", "--", sys.executable, "job.py", "3", cwd=repo)
    assert bad.returncode == 3
    runs = {r.info.run_name: r for r in gittrack.Client().list_runs()}
    assert runs["good"].info.status == "FINISHED" and runs["bad"].info.status == "FAILED"
    assert runs["good"].data.metrics == {"acc": 0.5}  # the child logged into the same run
    assert "job.py 0" in runs["good"].record["command"]
    out = git(
        repo, "show", f"refs/gittrack/runs/{runs['good'].info.run_id}:.gittrack/logs/stdout.txt"
    )
    assert out == "hello from the job\n"
    missing = run_cli("run", "--", "no-such-program-xyz", cwd=repo)
    assert missing.returncode == 127 and "cannot start" in missing.stdout


def test_outside_a_repository_the_cli_says_how_to_fix_it(tmp_path):
    r = run_cli("log", cwd=tmp_path)
    assert (
        r.returncode == 1 and "Not inside a git repository" in r.stderr and "git init" in r.stderr
    )


def test_every_command_has_help():
    runner = CliRunner()
    for name in COMMANDS:
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert len(r.output.splitlines()) > 3


def test_show_and_diff_report_environments(repo):
    import yaml

    from gittrack.env import environment

    a, b = _log_two_runs(repo)
    env = environment.run_environment(gittrack.Client().repo, a)
    assert env is not None and env["python"]
    changed = yaml.safe_load(environment.to_yaml(env))
    changed["distributions"]["numpy"] = "0.0.1-fake"
    client = gittrack.Client()
    w = client.writer(b)
    w.put_record_file("environment.yaml", environment.to_yaml(changed))
    w.checkpoint()
    w.close()
    shown = CliRunner().invoke(cli, ["show", a]).output
    assert "Environment:" in shown and "CPython" in shown
    d = CliRunner().invoke(cli, ["diff", a, b]).output
    assert "Environment:" in d and "numpy" in d and "0.0.1-fake" in d


def test_log_refuses_an_unknown_status(repo):
    _log_two_runs(repo)
    r = run_cli("log", "--status", "BOGUS", cwd=repo)
    assert r.returncode == 2 and r.stdout == ""
    assert "Invalid value for '--status': 'BOGUS' is not a run status" in r.stderr
    assert "RUNNING, SCHEDULED, FINISHED, FAILED, KILLED, CRASHED" in r.stderr
    ok = CliRunner().invoke(cli, ["log", "--status", "killed"])
    assert ok.exit_code == 0 and "No runs match these filters." in ok.output


def test_log_all_marks_deleted_runs(repo):
    a, b = _log_two_runs(repo)
    CliRunner().invoke(cli, ["delete", a])
    lines = CliRunner().invoke(cli, ["log", "--all"]).output.splitlines()
    row_a = next(ln for ln in lines if ln.startswith(a[:8]))
    row_b = next(ln for ln in lines if ln.startswith(b[:8]))
    assert "FINISHED (deleted)" in row_a and "deleted" not in row_b
    data = json.loads(CliRunner().invoke(cli, ["log", "--all", "--format", "json"]).output)
    stages = {d["run_id"]: (d["status"], d["lifecycle_stage"]) for d in data}
    assert stages == {a: ("FINISHED", "deleted"), b: ("FINISHED", "active")}


def test_restore_of_a_run_that_is_not_deleted_changes_nothing(repo):
    # MLflow's rule (tests/test_restore_rule.py): restoring an active run is accepted
    a, _ = _log_two_runs(repo)
    r = CliRunner().invoke(cli, ["restore", a[:8]])
    assert r.exit_code == 0 and r.output == f"restored {a}\n"
    assert gittrack.Client().get_run(a).info.lifecycle_stage == "active"
    assert CliRunner().invoke(cli, ["delete", a]).exit_code == 0
    again = CliRunner().invoke(cli, ["restore", a[:8]])
    assert again.exit_code == 0 and again.output == f"restored {a}\n"
