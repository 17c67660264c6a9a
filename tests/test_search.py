"""search_runs over the index, on real repositories: DataFrame, Run objects, branches, paging,
bad input, broken records, a corrupt index, and several processes at once."""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import gittrack
from gittrack.api.client import Client
from gittrack.core.repo import Repo
from gittrack.errors import InvalidParameter
from gittrack.query.index import Index
from tests.conftest import forge_commit, git, run_cli
from tests.search_data import brute_force, make_repo, same_value


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    path = make_repo(tmp_path_factory.mktemp("s") / "project")
    return path, brute_force(path)


def _log(name, acc=None, lr=None, **tags):
    with gittrack.start_run(run_name=name) as run:
        if acc is not None:
            gittrack.log_metric("acc", acc)
        if lr is not None:
            gittrack.log_param("lr", lr)
        if tags:
            gittrack.set_tags(tags)
    return run.info.run_id


def test_dataframe_has_mlflow_columns_and_the_record_values(many, monkeypatch):
    path, truth = many
    monkeypatch.chdir(path)
    df = gittrack.search_runs(search_all_experiments=True, run_view_type="ALL")
    info = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    cols = list(df.columns)
    assert cols[:6] == info and cols[-3:] == ["source.commit", "source.branch", "source.dirty"]
    kinds = [c.split(".")[0] for c in cols[6:-3]]
    assert kinds == sorted(kinds, key=["metrics", "params", "tags"].index)
    assert {c for c in cols if c.startswith("metrics.")} == {
        "metrics.acc", "metrics.loss", "metrics.a b", "metrics.ünï"
    }  # fmt: skip
    assert (
        str(df["start_time"].dtype).startswith("datetime64")
        and str(df["start_time"].dt.tz) == "UTC"
    )
    assert len(df) == len(truth)
    by_id = {r["run_id"]: r for r in truth}
    for row in df.to_dict("records"):
        t = by_id[row["run_id"]]
        assert row["status"] == t["status"] and row["experiment_id"] == t["experiment_id"]
        assert row["start_time"] == pd.Timestamp(t["start_time"], unit="ms", tz="UTC")
        if t["end_time"] is None:
            assert pd.isna(row["end_time"])
        for key in ("acc", "loss", "a b", "ünï"):
            want = t["metrics"].get(key, math.nan)
            assert same_value(row[f"metrics.{key}"], want), key
        for key in ("lr", "opt", "x.y"):
            assert row[f"params.{key}"] == t["params"].get(key)
        assert row["tags.team"] == t["tags"].get("team")
        assert row["tags.mlflow.runName"] == t["tags"]["mlflow.runName"]
        assert row["source.commit"] == t["source_commit"]


def test_list_output_gives_the_runs_get_run_gives(many):
    path, truth = many
    c = Client(path)
    runs = c.search_runs(None, "metrics.acc >= 0", "ALL", 1000, ["metrics.acc DESC"])
    assert runs and all(r.data.metrics["acc"] >= 0 for r in runs)
    accs = [r.data.metrics["acc"] for r in runs]
    assert accs == sorted(accs, reverse=True)
    for run in runs:
        assert _nan_safe(run.to_dict()) == _nan_safe(c.get_run(run.info.run_id).to_dict())
        assert run.record == c.get_run(run.info.run_id).record


def _nan_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return "NaN"
    if isinstance(obj, float) and obj == 0:
        return repr(obj)  # tells -0.0 from 0.0
    if isinstance(obj, dict):
        return {k: _nan_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_safe(v) for v in obj]
    return obj


def test_default_experiment_filtering_and_names(repo):
    a = _log("a", acc=0.5)
    exp = gittrack.create_experiment("other")
    with gittrack.start_run(experiment_id=exp, run_name="b"):
        gittrack.log_metric("acc", 0.7)
    assert list(gittrack.search_runs()["run_id"]) == [a]  # the current experiment only
    assert len(gittrack.search_runs(search_all_experiments=True)) == 2
    assert list(gittrack.search_runs(experiment_names=["other"])["metrics.acc"]) == [0.7]
    assert gittrack.search_runs(experiment_names=["nope"]).empty
    with pytest.raises(InvalidParameter, match="not both"):
        gittrack.search_runs(experiment_ids=["0"], experiment_names=["other"])
    runs = gittrack.search_runs(experiment_ids=[exp], output_format="list")
    assert [r.info.run_name for r in runs] == ["b"]
    with pytest.raises(InvalidParameter, match="output format"):
        gittrack.search_runs(output_format="arrow")


def test_filter_and_order_on_a_fresh_repo(repo):
    ids = [
        _log(f"r{i}", acc=i / 10, lr=[0.1, 0.01][i % 2], team="x" if i < 3 else "y")
        for i in range(6)
    ]
    df = gittrack.search_runs(
        filter_string="metrics.acc > 0.15 and params.lr = '0.01'", order_by=["metrics.acc DESC"]
    )
    assert list(df["run_id"]) == [ids[5], ids[3]]
    df = gittrack.search_runs(order_by=["tags.team ASC", "metrics.acc DESC"])
    assert list(df["run_id"]) == [ids[2], ids[1], ids[0], ids[5], ids[4], ids[3]]
    # a key no run has: every run, in the default order (newest first)
    df = gittrack.search_runs(order_by=["metrics.nobody DESC"])
    assert list(df["run_id"]) == ids[::-1]
    assert gittrack.search_runs(filter_string="metrics.nobody > 0").empty


def test_missing_and_nan_sort_last_both_ways(repo):
    a, b, c, d = _log("a", acc=0.2), _log("b", acc=float("nan")), _log("c"), _log("d", acc=0.9)
    asc = list(gittrack.search_runs(order_by=["metrics.acc"])["run_id"])
    desc = list(gittrack.search_runs(order_by=["metrics.acc DESC"])["run_id"])
    assert asc == [a, d, b, c] and desc == [d, a, b, c]


@pytest.mark.parametrize(
    "bad",
    [
        "params.x = 'a'; DROP TABLE runs; --'",
        "params.`x'; DROP TABLE runs; --` = 'a'",
        "params.x = 'a'' OR ''1''=''1'",
        "tags.`mlflow.user` = 'x\" OR 1=1 --'",
    ],
)
def test_injection_attempts_are_values_or_errors_never_sql(repo, bad):
    _log("a", lr="a")
    try:
        df = gittrack.search_runs(filter_string=bad)
    except InvalidParameter as exc:
        assert "position" in exc.message
    else:
        assert df.empty
    assert len(gittrack.search_runs()) == 1  # the index is intact


def test_keys_with_dots_spaces_and_unicode(repo):
    with gittrack.start_run() as run:
        gittrack.log_params({"opt.lr": 0.1, "my key": "v", "ünï": "ç"})
        gittrack.log_metric("val loss", 0.3)
    rid = run.info.run_id
    for f in ["params.opt.lr = '0.1'", "params.`opt.lr` = '0.1'", "params.`my key` = 'v'",
              'params."ünï" = \'ç\'', "metrics.`val loss` < 0.5", "params.ünï ILIKE 'Ç'"]:  # fmt: skip
        assert list(gittrack.search_runs(filter_string=f)["run_id"]) == [rid], f


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"filter_string": "metrics.a > 1 OR metrics.b > 1"}, "OR is not supported"),
        ({"filter_string": "(metrics.a > 1)"}, "parentheses"),
        ({"filter_string": "params.x = 'open"}, "unterminated"),
        ({"filter_string": "metric.a > 'high'"}, "expected a number"),
        ({"filter_string": "metrics.a LIKE 'x%'"}, "LIKE is not supported"),
        ({"filter_string": "colour.a = 'x'"}, "unknown type 'colour'"),
        ({"order_by": ["metrics.a upward"]}, "ASC, DESC"),
        ({"max_results": 0}, "positive integer"),
        ({"max_results": -5}, "positive integer"),
        ({"branches": ["no-such-branch"]}, "Unknown branch 'no-such-branch'"),
    ],
)
def test_bad_input_gets_a_clear_error(repo, kwargs, words):
    _log("a", acc=1.0)
    with pytest.raises(InvalidParameter) as info:
        gittrack.search_runs(**kwargs)
    assert words in info.value.message


def test_client_paging_and_bad_tokens(repo):
    ids = [_log(f"r{i}") for i in range(5)]
    c = Client()
    first = c.search_runs(["0"], max_results=2)
    assert [r.info.run_id for r in first] == ids[::-1][:2] and first.token
    second = c.search_runs(["0"], max_results=2, page_token=first.token)
    third = c.search_runs(["0"], max_results=2, page_token=second.token)
    assert [r.info.run_id for r in second + third] == ids[::-1][2:] and third.token is None
    for token in ("garbage!", "eyJ4IjogMX0="):  # not base64; base64 of {"x": 1}
        with pytest.raises(InvalidParameter, match="page token"):
            c.search_runs(["0"], page_token=token)


def test_branches_by_reachability(repo):
    on_main = _log("on-main")
    git(repo, "checkout", "-q", "-b", "feature-x")
    (repo / "train.py").write_text("print('x')\n")
    git(repo, "commit", "-qam", "x")
    on_x = _log("on-x")
    git(repo, "checkout", "-q", "main")
    df = gittrack.search_runs(branches=["main"])
    assert list(df["run_id"]) == [on_main] and list(df["source.branches"]) == ["main"]
    df = gittrack.search_runs(branches=["feature-x"], order_by=["attributes.run_name"])
    assert list(df["run_id"]) == [on_main, on_x]  # main's commit is in feature-x's history
    df = gittrack.search_runs(branches="*", order_by=["attributes.run_name"])
    assert list(df["source.branches"]) == ["feature-x,main", "feature-x"]
    df = gittrack.search_runs(branches=["main", "feature-x"], order_by=["attributes.run_name"])
    assert list(df["source.branches"]) == ["main,feature-x", "feature-x"]
    assert list(df["source.branch"]) == ["main", "feature-x"]
    # the tip moves on: reachability follows it
    git(repo, "merge", "-q", "feature-x")
    assert len(gittrack.search_runs(branches=["main"])) == 2


def test_branches_include_remote_tracking_ones(repo):
    """Branch names come from refs/heads and refs/remotes (never from the run refs);
    a remote's HEAD is not a branch, and a local branch wins over a remote of that name."""
    from gittrack.query.branches import (
        _branch_refs,
        _branch_refs_pygit2,
        all_branches,
        local_branches,
    )

    on_main = _log("on-main")
    main = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature-x")
    (repo / "train.py").write_text("print('x')\n")
    git(repo, "commit", "-qam", "x")
    on_x = _log("on-x")
    x = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    git(repo, "update-ref", "refs/remotes/origin/feature-x", x)
    git(repo, "update-ref", "refs/remotes/origin/main", main)
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    git(repo, "update-ref", "refs/remotes/origin/main-old", main)
    git(repo, "branch", "-q", "-D", "feature-x")
    git(repo, "update-ref", "refs/remotes/feature-x", main)  # a remote named feature-x
    git(repo, "branch", "-q", "feature-x", x)
    assert all_branches(Repo()) == {
        "main": main,
        "feature-x": x,  # the local branch, not the remote of that name
        "origin/feature-x": x,
        "origin/main": main,
        "origin/main-old": main,
    }
    assert local_branches(Repo()) == {"main": main, "feature-x": x}
    prefixes = ("refs/heads/", "refs/remotes/")  # what pygit2 lists when git cannot run
    assert _branch_refs_pygit2(Repo(), prefixes) == _branch_refs(Repo(), prefixes)
    df = gittrack.search_runs(branches=["origin/feature-x"], order_by=["attributes.run_name"])
    assert list(df["run_id"]) == [on_main, on_x]
    df = gittrack.search_runs(branches=["refs/remotes/origin/main"])
    assert list(df["run_id"]) == [on_main] and list(df["source.branches"]) == ["origin/main"]


def test_index_follows_new_changed_and_deleted_refs(repo):
    a = _log("a", acc=0.1)
    r = Repo()
    ix = Index(r)
    assert ix.refresh() == {"added": 1, "updated": 0, "deleted": 0, "broken": 0}
    b = _log("b", acc=0.2)
    Client().set_tag(a, "late", "yes")
    Client().flush()
    counts = ix.refresh()
    assert (counts["added"], counts["updated"]) == (1, 1)
    assert gittrack.search_runs(filter_string="tags.late = 'yes'")["run_id"].tolist() == [a]
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{b}")
    assert ix.refresh()["deleted"] == 1
    assert gittrack.search_runs()["run_id"].tolist() == [a]
    assert ix.refresh() == {"added": 0, "updated": 0, "deleted": 0, "broken": 0}
    ix.close()


def _break_run(repo, run_id):
    """Point a run's ref at a commit whose run.yaml is not YAML."""
    sha = git(repo, "rev-parse", f"refs/gittrack/runs/{run_id}").strip()
    new = forge_commit(
        repo,
        {".gittrack/run.yaml": "run_id: [unclosed\n"},
        base=sha,
        parents=(sha,),
        message="broken",
    )
    git(repo, "update-ref", f"refs/gittrack/runs/{run_id}", new)


def test_unreadable_record_is_reported_and_skipped(repo, caplog):
    good, bad = _log("good", acc=0.5), _log("bad", acc=0.6)
    _break_run(repo, bad)
    with caplog.at_level(logging.WARNING):
        df = gittrack.search_runs()
    assert df["run_id"].tolist() == [good]
    assert bad in caplog.text and "unreadable" in caplog.text
    out = run_cli("search", cwd=repo)
    assert out.returncode == 0 and good in out.stdout and bad not in out.stdout
    assert f"warning: run {bad} skipped" in out.stderr


@pytest.mark.parametrize("damage", ["garbage", "old-format", "empty"])
def test_corrupt_or_old_index_is_rebuilt(repo, damage):
    ids = [_log(f"r{i}", acc=i) for i in range(3)]
    assert len(gittrack.search_runs()) == 3
    path = repo / ".git" / "gittrack" / "index.sqlite"
    if damage == "garbage":
        gittrack.query.search._indexes.clear()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.unlink(f"{path}{suffix}")
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "old-format":
        gittrack.query.search._indexes.clear()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE format SET version = 0")
    else:
        gittrack.query.search._indexes.clear()
        path.write_bytes(b"")
    out = run_cli("search", "--format", "json", cwd=repo)
    assert out.returncode == 0, out.stderr
    assert sorted(r["run_id"] for r in __import__("json").loads(out.stdout)) == sorted(ids)
    assert sorted(gittrack.search_runs()["run_id"]) == sorted(ids)


def test_many_processes_build_and_read_the_index_at_once(repo):
    ids = [_log(f"r{i}", acc=i) for i in range(30)]
    code = textwrap.dedent(
        """
        import gittrack
        for _ in range(5):
            df = gittrack.search_runs(filter_string="metrics.acc >= 0")
            assert len(df) >= 30, len(df)
        print(len(df))
        """
    )
    writer = textwrap.dedent(
        """
        import gittrack
        for i in range(10):
            with gittrack.start_run(run_name=f"late{i}"):
                gittrack.log_metric("acc", 100 + i)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", writer],
            cwd=repo,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    ]
    procs += [
        subprocess.Popen([sys.executable, "-c", code], cwd=repo, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    df = gittrack.search_runs()
    assert len(df) == 40 and set(ids) <= set(df["run_id"])


def test_parallel_build_writes_the_same_index(repo, monkeypatch):
    import gittrack.query.index

    ids = [_log(f"r{i}", acc=i, lr=i % 3) for i in range(9)]
    _break_run(repo, ids[4])
    serial = Client().search_runs(None, order_by=["metrics.acc"])
    monkeypatch.setattr(gittrack.query.index, "PARALLEL_MIN", 2)
    monkeypatch.setattr(gittrack.query.search, "_indexes", {})
    (repo / ".git" / "gittrack" / "index.sqlite").unlink()
    ix = Index(Repo())
    assert ix.refresh() == {"added": 8, "updated": 0, "deleted": 0, "broken": 1}
    assert ids[4] in ix.broken
    parallel = Client().search_runs(None, order_by=["metrics.acc"])
    assert [r.to_dict() for r in parallel] == [r.to_dict() for r in serial]
    assert [r.info.run_id for r in parallel] == [i for i in ids if i != ids[4]]
    ix.close()


def test_refresh_after_a_quiet_spell_still_sees_every_ref_change(repo, monkeypatch):
    """The refs stamp lets a warm refresh skip listing refs; no change may slip past it."""
    import time

    import gittrack.query.index

    monkeypatch.setattr(gittrack.query.index, "QUIET_NS", 200_000_000)  # trust stamps after 0.2 s
    a = _log("a", acc=0.1)
    ix = Index(Repo())

    def quiet_refresh():
        time.sleep(0.3)
        ix.refresh()  # lists the refs and stores the stamp
        assert ix._fingerprint() is not None
        assert ix.refresh() == {"added": 0, "updated": 0, "deleted": 0, "broken": 0}

    quiet_refresh()
    b = _log("b", acc=0.2)
    time.sleep(0.3)  # the new stamp is trusted by now, and differs from the stored one
    assert ix.refresh()["added"] == 1
    quiet_refresh()
    Client().set_tag(a, "late", "1")
    Client().flush()
    assert ix.refresh()["updated"] == 1
    quiet_refresh()
    git(repo, "pack-refs", "--all")
    time.sleep(0.3)
    assert ix.refresh() == {"added": 0, "updated": 0, "deleted": 0, "broken": 0}
    quiet_refresh()
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{b}")  # a packed ref goes away
    assert ix.refresh()["deleted"] == 1
    assert gittrack.search_runs()["run_id"].tolist() == [a]
    ix.close()


def test_a_server_answers_from_what_is_indexed_while_a_big_build_runs_aside(repo, monkeypatch):
    """With serve_while_indexing (the server, the UI), a big build goes to a process of its
    own: searches answer at once from the runs indexed so far, with the rest pending."""
    import fcntl
    import time

    import gittrack.query.index
    from gittrack.query.search import _background, search_page, serve_while_indexing

    ids = [_log(f"r{i}", acc=i) for i in range(5)]
    monkeypatch.setattr(gittrack.query.index, "PARALLEL_MIN", 3)
    monkeypatch.setattr(gittrack.query.search, "_indexes", {})
    state = repo / ".git" / "gittrack"
    (state / "index.sqlite").unlink(missing_ok=True)
    r = Repo()
    Index(r).close()  # an empty index
    serve_while_indexing(r)
    lock = os.open(state / "index.sqlite.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the background build waits for it: nothing indexed
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)  # (a search that waited for the lock would hang)
        try:
            page = pool.submit(search_page, r, max_results=100).result(timeout=30)
        finally:
            pool.shutdown(wait=False)
        assert (page.runs, page.pending) == ([], 5)
        assert search_page(r).pending == 5  # the build under way is not started twice
        assert len(gittrack.query.index._builds) == 1
    finally:
        os.close(lock)  # the build goes on
        _background.discard(str(r.common_dir))
        serve_while_indexing(r)
    deadline = time.monotonic() + 60
    while gittrack.query.index.building(state / "index.sqlite") is not None:
        assert time.monotonic() < deadline, "the background build did not end"
        time.sleep(0.05)
    page = search_page(r, max_results=100)
    assert page.pending == 0 and sorted(x["run_id"] for x in page.runs) == sorted(ids)
    _background.discard(str(r.common_dir))
    # without the flag, a caller waits for the whole refresh, as before
    assert len(gittrack.search_runs()) == 5


def test_the_index_holds_run_yaml_once_and_gives_it_back_whole(repo):
    """run.yaml's fields that are columns are not stored twice (the index is ~15 % smaller
    at 10,000 runs); a search's Run.record is still the whole record get_run gives."""
    c = Client()
    parent = _log("parent", acc=1.0)
    with gittrack.start_run(run_name="child", nested=False, tags={"mlflow.parentRunId": parent}):
        gittrack.log_metric("acc", 0.5)
    left = c.create_run("0", run_name="", snapshot=False).info.run_id  # RUNNING: CRASHED?
    c.flush(left)
    gone = _log("deleted", acc=0.1)
    c.delete_run(gone)
    runs = c.search_runs(None, "", "ALL", 100)
    assert len(runs) == 4
    for run in runs:
        assert run.record == c.get_run(run.info.run_id).record, run.info.run_name
    ix = Index(Repo())
    stored = sum(len(d) for (d,) in ix.execute("SELECT run_json FROM runs"))
    whole = sum(len(json.dumps(r.record, separators=(",", ":"))) for r in runs)
    assert stored < whole / 2, (stored, whole)
    ix.close()
