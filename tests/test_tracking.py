"""The fluent API as a training script uses it, checked through git and the Client."""

from __future__ import annotations

import math
import threading

import pytest

import gittrack
from gittrack.errors import GittrackError, ParamChanged, RunNotWritable
from tests.conftest import git


def test_run_is_a_commit_on_its_own_ref(repo):
    with gittrack.start_run(run_name="baseline") as run:
        gittrack.log_param("lr", 0.01)
        gittrack.log_metric("loss", 0.5, step=1)
        gittrack.set_tag("team", "vision")
    run_id = run.info.run_id
    assert len(run_id) == 32
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/")
    assert f"refs/gittrack/runs/{run_id}" in refs.split()
    params = git(repo, "show", f"refs/gittrack/runs/{run_id}:.gittrack/params.yaml")
    assert params == "lr: 0.01\n"
    history = git(repo, "show", f"refs/gittrack/runs/{run_id}:.gittrack/metrics/loss/000000.tsv")
    step, value, ts = history.strip().split("\t")
    assert (step, value) == ("1", "0.5") and int(ts) > 0
    # first parent of the run's first commit is the source commit
    run_commits = git(repo, "rev-list", "--reverse", f"HEAD..refs/gittrack/runs/{run_id}").split()
    assert len(run_commits) >= 1  # a run shorter than one checkpoint interval: one commit
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", f"{run_commits[0]}^").strip() == head
    assert git(repo, "fsck", "--no-dangling").strip() == ""


def test_get_run_matches_what_was_logged(repo):
    with gittrack.start_run(run_name="r1", tags={"k": "v"}, description="a note") as run:
        gittrack.log_params({"epochs": 3, "optimizer": {"name": "adam", "lr": 1e-3}})
        gittrack.log_metrics({"acc": 0.8, "loss": 0.3}, step=2)
        gittrack.log_metric("acc", 0.9, step=3)
    got = gittrack.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "r1"
    assert got.info.end_time >= got.info.start_time
    assert got.data.params == {"epochs": "3", "optimizer.name": "adam", "optimizer.lr": "0.001"}
    assert got.data.metrics == {"acc": 0.9, "loss": 0.3}
    tags = got.data.tags
    assert tags["k"] == "v"
    assert tags["mlflow.runName"] == "r1"
    assert tags["mlflow.note.content"] == "a note"
    assert tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["gittrack.source.dirty"] == "false"
    # the config tree stays readable in params.yaml
    text = git(repo, "show", f"refs/gittrack/runs/{run.info.run_id}:.gittrack/params.yaml")
    assert "optimizer:\n  name: adam\n" in text


def test_history_keeps_every_point_nan_and_inf(repo):
    with gittrack.start_run() as run:
        for i, v in enumerate([1.0, float("nan"), float("inf"), float("-inf"), 2]):
            gittrack.log_metric("m", v, step=i, timestamp=1000 + i)
    hist = gittrack.get_metric_history(run.info.run_id, "m")
    assert [h.step for h in hist] == [0, 1, 2, 3, 4]
    assert [h.timestamp for h in hist] == [1000, 1001, 1002, 1003, 1004]
    assert hist[0].value == 1.0 and math.isnan(hist[1].value)
    assert hist[2].value == math.inf and hist[3].value == -math.inf and hist[4].value == 2.0
    summary = gittrack.Client().store.read_record(gittrack.get_run(run.info.run_id).commit)[
        "metrics"
    ]
    assert summary["m"]["count"] == 5 and summary["m"]["min"] == -math.inf
    assert summary["m"]["max"] == math.inf and summary["m"]["value"] == 2.0


def test_history_spans_chunks(repo):
    with gittrack.start_run() as run:
        for i in range(25_001):
            gittrack.log_metric("loss", i / 10, step=i)
    hist = gittrack.get_metric_history(run.info.run_id, "loss")
    assert len(hist) == 25_001 and hist[-1].value == 2500.0 and hist[12_345].step == 12_345
    names = git(
        repo,
        "ls-tree",
        "--name-only",
        f"refs/gittrack/runs/{run.info.run_id}:.gittrack/metrics/loss",
    ).split()
    assert names == ["000000.tsv", "000001.tsv", "000002.tsv"]


def test_params_are_write_once(repo):
    with gittrack.start_run() as run:
        gittrack.log_param("lr", 0.1)
        gittrack.log_param("lr", 0.1)  # same value again is fine
        with pytest.raises(ParamChanged, match="Changing param values is not allowed"):
            gittrack.log_param("lr", 0.2)
    assert gittrack.get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_context_manager_statuses(repo):
    with pytest.raises(ZeroDivisionError):
        with gittrack.start_run() as failed:
            1 / 0  # noqa: B018
    with pytest.raises(KeyboardInterrupt):
        with gittrack.start_run() as killed:
            raise KeyboardInterrupt
    assert gittrack.get_run(failed.info.run_id).info.status == "FAILED"
    assert gittrack.get_run(killed.info.run_id).info.status == "KILLED"


def test_log_metric_without_run_starts_one(repo):
    gittrack.log_metric("x", 1.0)
    active = gittrack.active_run()
    assert active is not None
    gittrack.end_run()
    assert gittrack.active_run() is None
    assert gittrack.last_active_run().info.run_id == active.info.run_id
    assert gittrack.get_run(active.info.run_id).data.metrics == {"x": 1.0}


def test_second_start_run_needs_nested(repo):
    with gittrack.start_run() as parent:
        with pytest.raises(GittrackError, match="already active"):
            gittrack.start_run()
        with gittrack.start_run(nested=True) as child:
            gittrack.log_metric("c", 1)
        assert gittrack.active_run().info.run_id == parent.info.run_id
    got = gittrack.get_run(child.info.run_id)
    assert got.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert gittrack.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id


def test_resume_by_id_and_env(repo, monkeypatch):
    with gittrack.start_run() as run:
        gittrack.log_metric("m", 1, step=0)
    with gittrack.start_run(run_id=run.info.run_id[:10]):
        gittrack.log_metric("m", 2, step=1)
    monkeypatch.setenv("GITTRACK_RUN_ID", run.info.run_id)
    with gittrack.start_run():
        gittrack.log_metric("m", 3, step=2)
    hist = gittrack.get_metric_history(run.info.run_id, "m")
    assert [h.value for h in hist] == [1, 2, 3]
    assert gittrack.get_run(run.info.run_id).info.status == "FINISHED"


def test_logging_to_finished_run_is_refused(repo):
    with gittrack.start_run() as run:
        pass
    client = gittrack.Client()
    with pytest.raises(RunNotWritable, match="FINISHED"):
        client.log_metric(run.info.run_id, "late", 1.0)
    with pytest.raises(RunNotWritable):
        client.log_param(run.info.run_id, "late", 1)
    client.set_tag(run.info.run_id, "reviewed", "yes")  # tags may still be set, as in MLflow
    assert client.get_run(run.info.run_id).data.tags["reviewed"] == "yes"


def test_threads_have_their_own_active_runs(repo):
    ids = {}

    def work(name):
        with gittrack.start_run(run_name=name) as r:
            for i in range(100):
                gittrack.log_metric("v", i, step=i)
            ids[name] = r.info.run_id

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids.values())) == 4
    for name, run_id in ids.items():
        run = gittrack.get_run(run_id)
        assert run.info.run_name == name and run.data.metrics == {"v": 99.0}


def test_experiments(repo):
    exp = gittrack.set_experiment("vision")
    assert gittrack.get_experiment_by_name("vision").experiment_id == exp.experiment_id
    with gittrack.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    names = [e.name for e in gittrack.search_experiments()]
    assert set(names) == {"Default", "vision"}
    assert gittrack.get_experiment("0").name == "Default"
    with pytest.raises(GittrackError, match="already exists"):
        gittrack.create_experiment("vision")


def test_delete_and_restore_keep_data(repo):
    with gittrack.start_run() as run:
        gittrack.log_metric("m", 1)
    client = gittrack.Client()
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs(["0"])] == []
    client.restore_run(run.info.run_id)
    got = client.get_run(run.info.run_id)
    assert got.info.lifecycle_stage == "active" and got.data.metrics == {"m": 1.0}


def test_uncommitted_change_is_in_the_snapshot(repo):
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "new_module.py").write_text("X = 1\n")
    (repo / "weights.ckpt").write_text("ignored")
    with gittrack.start_run() as run:
        pass
    ref = f"refs/gittrack/runs/{run.info.run_id}"
    diff = git(repo, "diff", "HEAD", ref, "--", ":!.gittrack")
    assert "+print('changed')" in diff and "new_module.py" in diff
    assert "weights.ckpt" not in diff
    assert gittrack.get_run(run.info.run_id).data.tags["gittrack.source.dirty"] == "true"


def test_untracked_file_over_the_cap_is_skipped_and_listed(repo):
    git(repo, "config", "gittrack.snapshot-max-file-bytes", "100")
    (repo / "big.bin").write_bytes(b"x" * 1000)
    with gittrack.start_run() as run:
        pass
    rec = gittrack.get_run(run.info.run_id).record
    assert rec["source"]["skipped_files"] == ["big.bin (1000 bytes)"]
    files = git(repo, "ls-tree", "-r", "--name-only", f"refs/gittrack/runs/{run.info.run_id}")
    assert "big.bin" not in files.split()


def test_exported_members_are_the_public_api():
    assert gittrack.__all__ == sorted(gittrack.__all__)
    for name in gittrack.__all__:
        assert getattr(gittrack, name) is not None
    with pytest.raises(AttributeError):
        gittrack.no_such_function  # noqa: B018


def test_new_branch_on_the_same_commit_is_recorded(repo):
    with gittrack.start_run() as a:
        pass
    git(repo, "checkout", "-q", "-b", "feature")
    with gittrack.start_run() as b:
        pass
    assert gittrack.get_run(a.info.run_id).data.tags["mlflow.source.git.branch"] == "main"
    assert gittrack.get_run(b.info.run_id).data.tags["mlflow.source.git.branch"] == "feature"
