"""`gittrack search` as a user types it."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

import gittrack
from gittrack.cli import COMMANDS, cli
from tests.conftest import git, run_cli


def _runs(repo):
    ids = []
    for i, (acc, lr) in enumerate([(0.5, 0.1), (0.9, 0.01), (0.7, 0.01)]):
        with gittrack.start_run(run_name=f"r{i}") as run:
            gittrack.log_metric("acc", acc)
            gittrack.log_param("lr", lr)
        ids.append(run.info.run_id)
    return ids


def test_search_is_registered_and_documented():
    assert COMMANDS["search"] == "gittrack.cli.search:search_cmd"
    out = CliRunner().invoke(cli, ["search", "--help"])
    assert out.exit_code == 0
    for opt in ("--order-by", "--branch", "--columns", "--max-results", "--format"):
        assert opt in out.output


def test_search_filters_orders_and_formats(repo):
    a, b, c = _runs(repo)
    r = CliRunner().invoke(
        cli, ["search", "metrics.acc > 0.6", "--order-by", "metrics.acc DESC", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["run_id"] for row in rows] == [b, c]
    assert rows[0]["metrics.acc"] == 0.9 and rows[0]["params.lr"] == "0.01"
    r = CliRunner().invoke(
        cli, ["search", "params.lr = '0.01'", "--columns", "run_id,metrics.acc", "--format", "csv"]
    )
    assert list(csv.reader(io.StringIO(r.output))) == [
        ["run_id", "metrics.acc"], [c, "0.7"], [b, "0.9"]
    ]  # fmt: skip
    r = CliRunner().invoke(cli, ["search", "--max-results", "1", "--order-by", "metrics.acc"])
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN_ID", "RUN_NAME", "STATUS"]
    assert lines[1].startswith(a) and "0.5" in lines[1] and len(lines) == 2
    assert "more runs match" in r.stderr


def test_search_by_branch_in_a_separate_process(repo):
    a, _, _ = _runs(repo)
    git(repo, "checkout", "-q", "-b", "exp")
    (repo / "train.py").write_text("print(2)\n")
    git(repo, "commit", "-qam", "two")
    with gittrack.start_run(run_name="on-exp") as run:
        gittrack.log_metric("acc", 0.1)
    git(repo, "checkout", "-q", "main")
    out = run_cli("search", "--branch", "main", "--format", "json", cwd=repo)
    assert out.returncode == 0, out.stderr
    assert run.info.run_id not in out.stdout and a in out.stdout
    out = run_cli("search", "--branch", "exp", "--columns", "run_name,source.branches", cwd=repo)
    assert "on-exp" in out.stdout and "r0" in out.stdout


def test_search_errors_are_one_clear_line_and_exit_1(repo):
    _runs(repo)
    for args, words in [
        (["metrics.acc > 1 OR metrics.acc < 0"], "OR is not supported"),
        (["params.lr = 'x"], "unterminated"),
        (["--branch", "ghost"], "Unknown branch 'ghost'"),
        (["--max-results", "0"], "positive integer"),
        (["--columns", "run_id,colour"], "Unknown column 'colour'"),
        (["--order-by", "metrics.acc sideways"], "ASC, DESC"),
    ]:
        r = CliRunner().invoke(cli, ["search", *args])
        assert r.exit_code == 1, (args, r.output)
        assert r.output.startswith("Error: ") and words in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_search_with_no_runs(repo):
    r = CliRunner().invoke(cli, ["search"])
    assert r.exit_code == 0 and "No runs match." in r.output
    r = CliRunner().invoke(cli, ["search", "--format", "json"])
    assert json.loads(r.output) == []
