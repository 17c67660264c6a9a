"""Bad input gets a clear error naming the bad thing, and nothing stored is lost."""

from __future__ import annotations

import pytest

import gittrack
from gittrack.errors import (
    AmbiguousRunId,
    CorruptRecord,
    InvalidParameter,
    NoRepository,
    RunNotFound,
)
from tests.conftest import git


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("a" * 251, "over the limit of 250"),
        ("a/../b", "normalized"),
        ("../x", "normalized"),
        ("/abs", "normalized"),
        ("semi;colon", "found ';'"),
        ("quote'", 'found "\'"'),
    ],
)
def test_bad_keys(repo, key, message):
    with gittrack.start_run() as run:
        for fn in (
            lambda: gittrack.log_metric(key, 1.0),
            lambda: gittrack.log_param(key, 1),
            lambda: gittrack.set_tag(key, "v"),
        ):
            with pytest.raises(InvalidParameter, match=message):
                fn()
        gittrack.log_metric("good", 1.0)
    assert gittrack.get_run(run.info.run_id).data.metrics == {"good": 1.0}


def test_value_limits(repo):
    with gittrack.start_run():
        with pytest.raises(InvalidParameter, match="6000"):
            gittrack.log_param("p", "x" * 6001)
        gittrack.log_param("ok", "x" * 6000)
        with pytest.raises(InvalidParameter, match="8000"):
            gittrack.set_tag("t", "x" * 8001)


@pytest.mark.parametrize("value", ["0.5", True, None, [1.0]])
def test_metric_values_must_be_numbers(repo, value):
    with gittrack.start_run():
        with pytest.raises(InvalidParameter, match="not a number|bool"):
            gittrack.log_metric("m", value)


def test_steps_and_timestamps(repo):
    with gittrack.start_run():
        with pytest.raises(InvalidParameter, match="step 1.5"):
            gittrack.log_metric("m", 1.0, step=1.5)
        with pytest.raises(InvalidParameter, match="negative"):
            gittrack.log_metric("m", 1.0, timestamp=-5)
        with pytest.raises(InvalidParameter, match="not an integer"):
            gittrack.log_metric("m", 1.0, step="3")


def test_unknown_and_ambiguous_run_ids(repo):
    client = gittrack.Client()
    runs = [client.create_run("0", run_id=f"ab{i}{'0' * 29}") for i in range(2)]
    with pytest.raises(RunNotFound, match="'ffff' not found"):
        gittrack.get_run("ffff")
    with pytest.raises(AmbiguousRunId, match="matches 2 runs"):
        gittrack.get_run("ab")
    assert gittrack.get_run("ab1").info.run_id == runs[1].info.run_id
    for r in runs:
        client.set_terminated(r.info.run_id)


def _plant(repo, run_id, name, content):
    """Replace one record file of a run by hand, as a bad actor or a bad merge would."""
    import pygit2

    from gittrack.core.gittree import apply_changes

    g = pygit2.Repository(str(repo))
    ref = g.references[f"refs/gittrack/runs/{run_id}"]
    commit = g[ref.target]
    blob = g.create_blob(content)
    tree = apply_changes(g, commit.tree_id, {f".gittrack/{name}": (blob, pygit2.GIT_FILEMODE_BLOB)})
    sig = pygit2.Signature("x", "x@example.com")
    new = g.create_commit(None, sig, sig, "tamper", tree, [commit.id])
    ref.set_target(new)


def test_unsafe_yaml_never_executes(repo, tmp_path):
    marker = tmp_path / "pwned"
    with gittrack.start_run() as bad:
        pass
    with gittrack.start_run() as good:
        gittrack.log_metric("m", 1)
    payload = (f"!!python/object/apply:os.system\n- touch {marker}\n").encode()
    _plant(repo, bad.info.run_id, "params.yaml", payload)
    with pytest.raises(CorruptRecord, match="params.yaml"):
        gittrack.get_run(bad.info.run_id)
    assert not marker.exists()
    listed = [r.info.run_id for r in gittrack.Client().list_runs()]
    assert listed == [good.info.run_id]  # the other run still lists


def test_corrupt_record_names_the_run_and_file(repo):
    with gittrack.start_run() as run:
        pass
    _plant(repo, run.info.run_id, "run.yaml", b"status: [unclosed\n")
    with pytest.raises(CorruptRecord, match=f"Run {run.info.run_id}.*run.yaml"):
        gittrack.get_run(run.info.run_id)


def test_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoRepository, match="git init"):
        gittrack.start_run()


def test_repository_without_commits(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "train.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    with gittrack.start_run() as run:
        gittrack.log_metric("m", 1)
    got = gittrack.get_run(run.info.run_id)
    assert got.record["source"]["commit"] is None and got.record["source"]["branch"] == "main"
    files = git(tmp_path, "ls-tree", "-r", "--name-only", f"refs/gittrack/runs/{run.info.run_id}")
    assert "train.py" in files.split()


def test_detached_head(repo):
    git(repo, "checkout", "-q", "--detach", "HEAD")
    with gittrack.start_run() as run:
        pass
    tags = gittrack.get_run(run.info.run_id).data.tags
    assert "mlflow.source.git.branch" not in tags
    assert tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_bare_repository(tmp_path, monkeypatch):
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    monkeypatch.chdir(bare)
    with gittrack.start_run() as run:
        gittrack.log_metric("m", 2)
    got = gittrack.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 2.0}
    assert got.record["source"]["commit"] is None


def test_shallow_clone_worktree_and_submodule(repo, tmp_path, monkeypatch):
    (repo / "more.py").write_text("y = 2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "second")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    monkeypatch.chdir(shallow)
    with gittrack.start_run() as r1:
        gittrack.log_metric("m", 1)
    assert gittrack.get_run(r1.info.run_id).data.metrics == {"m": 1.0}
    gittrack.api.fluent._reset_for_tests()

    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "feature")
    monkeypatch.chdir(wt)
    with gittrack.start_run() as r2:
        pass
    assert gittrack.get_run(r2.info.run_id).data.tags["mlflow.source.git.branch"] == "feature"
    # the run ref is shared with the main checkout
    assert f"refs/gittrack/runs/{r2.info.run_id}" in git(repo, "for-each-ref")
    gittrack.api.fluent._reset_for_tests()

    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(repo), "sub")
    git(outer, "commit", "-q", "-m", "add sub")
    monkeypatch.chdir(outer / "sub")
    with gittrack.start_run() as r3:
        pass
    # a run inside a submodule is recorded in the submodule's own repository
    assert gittrack.get_run(r3.info.run_id).info.status == "FINISHED"
    monkeypatch.chdir(outer)
    (outer / "sub" / "train.py").write_text("changed\n")
    gittrack.api.fluent._reset_for_tests()
    with gittrack.start_run() as r4:  # the outer repo with a dirty submodule
        pass
    assert gittrack.get_run(r4.info.run_id).info.status == "FINISHED"


def test_metric_summary_without_a_number_is_a_corrupt_record(repo):
    with gittrack.start_run() as bad:
        gittrack.log_metric("m", 1)
    with gittrack.start_run() as good:
        pass
    _plant(repo, bad.info.run_id, "metrics.yaml", b"m: {value: null, step: 0}\n")
    with pytest.raises(CorruptRecord, match="'m' has no numeric value"):
        gittrack.get_run(bad.info.run_id)
    assert [r.info.run_id for r in gittrack.Client().list_runs()] == [good.info.run_id]


def test_experiment_order_by_is_checked(repo):
    with pytest.raises(InvalidParameter, match="Invalid order_by clause ''"):
        gittrack.Client().search_experiments(order_by=[""])
    names = [e.name for e in gittrack.Client().search_experiments(order_by=["name DESC"])]
    assert names == ["Default"]


@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_metric_too_large_for_a_float_names_the_key(repo, value):
    with gittrack.start_run() as run:
        with pytest.raises(
            InvalidParameter, match=r"Metric 'huge': value -?1000.*\(40[12] digits\) is too large"
        ):
            gittrack.log_metric("huge", value)
        gittrack.log_metric("ok", 1.0)
    assert gittrack.get_run(run.info.run_id).data.metrics == {"ok": 1.0}


def test_rest_metric_too_large_for_a_float_is_a_400(repo):
    from tests.server_helpers import ServerProcess, http

    with ServerProcess(repo) as srv:
        api = srv.url + "/api/2.0/mlflow"
        _, body = http("POST", api + "/runs/create", {"experiment_id": "0"})
        run_id = body["run"]["info"]["run_id"]
        status, err = http(
            "POST",
            api + "/runs/log-metric",
            raw=b'{"run_id": "%s", "key": "huge", "value": 1%s, "timestamp": 1, "step": 0}'
            % (run_id.encode(), b"0" * 400),
        )
        assert status == 400, err
        assert err["error_code"] == "INVALID_PARAMETER_VALUE"
        assert (
            "for parameter 'value' supplied: expected a number within the 64-bit float range"
            in (err["message"])
        )
