"""Argument handling and exit statuses of every command group, in process through CliRunner.

Exit statuses (``gittrack --help``): 0 success, 1 an error with ``Error: ...``
on stderr, 2 a usage error. The subprocess tests beside these check the same
through a real ``python -m gittrack``.
"""

from __future__ import annotations

from pathlib import Path

import click
import pygit2
import pytest
from click.testing import CliRunner

import gittrack
from gittrack.cli import COMMANDS, cli
from gittrack.cli._common import EXIT_ERROR, EXIT_OK, EXIT_USAGE


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="gittrack")


def error(args: list[str], words: str) -> None:
    """``gittrack ARGS`` fails with exit status 1 and ``Error: ...WORDS...`` on stderr."""
    r = invoke(*args)
    assert r.exit_code == EXIT_ERROR, (args, r.output)
    assert r.stderr.startswith("Error: ") and words in r.stderr, (args, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.output


def usage(args: list[str], words: str) -> None:
    """``gittrack ARGS`` is a usage error: exit status 2 and WORDS on stderr, nothing on stdout."""
    r = invoke(*args)
    assert r.exit_code == EXIT_USAGE, (args, r.output)
    assert words in r.stderr and r.stdout == "", (args, r.output)


@pytest.fixture
def run_id(repo) -> str:
    with gittrack.start_run(run_name="one") as run:
        gittrack.log_metric("acc", 0.5)
    gittrack.api.fluent._reset_for_tests()
    return run.info.run_id


def _all_commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(name: str, cmd: click.Command) -> None:
        found.append((name, cmd))
        if isinstance(cmd, click.Group):
            for sub, subcmd in cmd.commands.items():
                walk(f"{name} {sub}", subcmd)

    for name in COMMANDS:
        walk(name, cli.get_command(click.Context(cli), name))
    return found


def test_every_command_is_under_the_one_error_decorator():
    commands = _all_commands()
    assert len(commands) > len(COMMANDS)  # the groups' subcommands are in
    missing = [n for n, c in commands if not getattr(c.callback, "handles_errors", False)]
    assert missing == []


def test_help_documents_the_exit_statuses():
    r = invoke("--help")
    assert r.exit_code == EXIT_OK
    text = " ".join(r.output.split())
    assert "Exit status: 0 success 1 an error" in text
    assert "2 a usage error" in text
    assert "`gittrack run` exits with the status of the command it ran" in text


def test_unknown_commands_and_options_are_usage_errors(repo):
    usage(["frobnicate"], "No such command 'frobnicate'")
    usage(["log", "--colour"], "No such option '--colour'")
    usage(["--no-such-flag"], "No such option '--no-such-flag'")


def test_outside_a_repository_every_reading_command_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (
        ["log"],
        ["show", "abc"],
        ["search"],
        ["experiments"],
        ["push"],
        ["hooks", "status"],
    ):
        error(args, "Not inside a git repository")
        assert "git init" in invoke(*args).stderr


def test_log(run_id):
    r = invoke("log", "-n", "1", "--format", "csv")
    assert r.exit_code == EXIT_OK and run_id in r.stdout
    usage(["log", "-n", "many"], "'many' is not a valid integer")
    usage(["log", "--format", "xml"], "'xml' is not one of 'table', 'json', 'csv'")
    error(["log", "--experiment", "nope"], "Experiment named or with id 'nope' not found")


def test_show_diff_checkout_delete_restore(run_id):
    assert invoke("show", run_id[:8]).exit_code == EXIT_OK
    usage(["show"], "Missing argument 'RUN_ID'")
    usage(["show", run_id, "--format", "yaml"], "'yaml' is not one of 'text', 'json'")
    error(["show", "zzzz"], "Run 'zzzz' not found")
    usage(["diff", run_id], "Missing argument 'RUN_B'")
    error(["diff", run_id, "ffff"], "Run 'ffff' not found")
    error(["checkout", "ffff"], "Run 'ffff' not found")
    usage(["delete"], "Missing argument 'RUN_IDS...'")
    error(["delete", "ffff"], "Run 'ffff' not found")
    error(["restore", "ffff"], "Run 'ffff' not found")
    r = invoke("delete", run_id[:8])
    assert (r.exit_code, r.stdout) == (EXIT_OK, f"deleted {run_id}\n")
    r = invoke("restore", run_id[:8])
    assert (r.exit_code, r.stdout) == (EXIT_OK, f"restored {run_id}\n")


def test_run(repo):
    usage(["run"], "Missing argument 'COMMAND...'")
    usage(["run", "--tag", "novalue", "--", "true"], "'novalue' is not KEY=VALUE")


def test_search(run_id):
    r = invoke("search", "metrics.acc = 0.5", "--format", "json")
    assert r.exit_code == EXIT_OK and run_id in r.stdout
    usage(["search", "--max-results", "lots"], "'lots' is not a valid integer")
    error(["search", "metrics.acc >"], "expected a number for metric 'acc'")
    error(["search", "--experiment", "ghost"], "Experiment named or with id 'ghost' not found")


def test_experiments(repo):
    r = invoke("experiments", "create", "nlp")
    assert r.exit_code == EXIT_OK and r.stdout.strip().isdigit()
    usage(["experiments", "create"], "Missing argument 'NAME'")
    usage(["experiments", "rename", "1"], "Missing argument 'NEW_NAME'")
    usage(["experiments", "--format", "yaml"], "'yaml' is not one of")
    error(["experiments", "create", "nlp"], "already exists")
    error(["experiments", "delete", "999"], "Experiment with id '999' not found")
    error(["experiments", "restore", "999"], "Experiment with id '999' not found")


def test_artifacts_gc_fsck(run_id):
    usage(["artifacts", "ls"], "Missing argument 'RUN'")
    usage(["artifacts", "frob"], "No such command 'frob'")
    error(["artifacts", "ls", "ffff"], "Run 'ffff' not found")
    error(["artifacts", "get", run_id, "../etc/passwd"], "'..'")
    usage(["gc", "--grace", "soon"], "'soon' is not a valid float")
    r = invoke("fsck")
    assert r.exit_code == EXIT_OK and "ok" in r.stdout


def test_push_pull_fetch_remote_argument_errors(run_id):
    error(["push", "nosuch"], "No such remote 'nosuch' (configured remotes: none)")
    error(["push", "--all-remotes"], "This repository has no remotes")
    error(["pull"], "This repository has no remotes")
    error(["fetch", "--all-remotes"], "This repository has no remotes")
    error(["remote", "setup", "nosuch"], "No such remote 'nosuch'")
    usage(["push", "--frobnicate"], "No such option '--frobnicate'")
    usage(["pull", "--delete", "x"], "No such option '--delete'")
    usage(["push", "--delete"], "Option '--delete' requires an argument")


def test_sync_bad_urls(repo, tmp_path):
    usage(["sync"], "Missing argument 'URL'")
    usage(["sync", "--watch", "0", "sqlite:///x.db"], "0.0 is not in the range x>=0.1")
    error(["sync", "runs.db"], "Not a database URL: 'runs.db'")
    error(["sync", f"sqlite:///{tmp_path}/nowhere/runs.db"], "does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_server_and_ui_bad_options(repo, tmp_path):
    usage(["server", "--workers", "0"], "0 is not in the range 1<=x<=64")
    usage(["server", "--port", "http"], "'http' is not a valid integer")
    error(["server", "--repo", str(tmp_path / "nowhere")], "Not inside a git repository")
    usage(["ui", "--port", "70000"], "70000 is not in the range 0<=x<=65535")
    (tmp_path / "afile").write_text("x")
    usage(["ui", "--repo", str(tmp_path / "afile")], "is a file")


def test_hooks(repo):
    usage(["hooks"], "Commands:")
    usage(["hooks", "status", "--format", "xml"], "'xml' is not one of")
    error(["hooks", "install", "--hook", "nosuch"], "Unknown hook 'nosuch'")
    r = invoke("hooks", "status", "--format", "csv")
    assert r.exit_code == EXIT_OK and r.stdout.startswith("hook,state,path\n")


def test_env(run_id):
    usage(["env", "--format", "toml"], "'toml' is not one of 'yaml', 'json'")
    usage(["env", "show"], "Missing argument 'RUN_ID'")
    error(["env", "show", "ffff"], "Run 'ffff' not found")
    error(["env", "diff", "ffff"], "Run 'ffff' not found")
    usage(["env", "diff", run_id, run_id, "--source"], "--source compares one run")
    r = invoke("env", "diff", run_id, run_id)
    assert r.exit_code == EXIT_OK and "No differences" in r.stdout


def test_foreign_errors_become_clear_messages(run_id, tmp_path):
    """OSError and pygit2 errors are converted where they are caught: no traceback."""
    (tmp_path / "afile").write_text("x")
    error(["checkout", run_id, "--path", str(tmp_path / "afile" / "code")], "Cannot write the code")
    error(["artifacts", "get", run_id, "-o", str(tmp_path / "afile")], "Cannot download into")
    # a run ref that names a blob, not a commit
    git = pygit2.Repository(".")
    blob = str(git.create_blob(b"not a run\n"))
    bad = "beef" * 8
    git.references.create(f"refs/gittrack/runs/{bad}", blob)
    words = f"Run {bad}: record is unreadable: its ref names {blob[:12]}, not a commit"
    error(["artifacts", "ls", bad], words)
    error(["gc", "--dry-run"], words)
    r = invoke("fsck")
    assert r.exit_code == EXIT_ERROR and words in r.stderr and "1 problem(s)" in r.stdout


def test_docs_list_the_same_exit_statuses():
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for status in (EXIT_OK, EXIT_ERROR, EXIT_USAGE):
        assert f"\n| {status} | " in text
    assert "127" in text and "`gittrack run -- CMD` exits with CMD's exit status" in text
