"""The DataFrame of ``search_runs``, taken from the columnar cache (gittrack.query.frames):
the same frame the run dicts make, for every filter, order, view and branch choice; a cache
that follows runs changing, arriving and going; a damaged cache file rebuilt, never trusted."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import gittrack
from gittrack.api.client import Client
from gittrack.core.repo import Repo
from gittrack.layout import columns_cache_path
from gittrack.query import columns as colcache
from gittrack.query.search import search_all
from tests.columns_helpers import decoded
from tests.conftest import git
from tests.reference import reference_frame
from tests.search_data import make_repo


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("frames") / "project")


QUERIES = [
    {},
    {"run_view_type": "ALL"},
    {"run_view_type": "DELETED_ONLY"},
    {"filter_string": "metrics.acc > 0.4"},
    {"filter_string": "params.opt LIKE '%a%'", "order_by": ["metrics.acc DESC", "params.lr"]},
    {"filter_string": "tags.team = 'nobody'"},  # nothing matches: the empty frame
    {"order_by": ["attributes.run_name", "metrics.`a b`"], "max_results": 5},
    {"branches": ["main", "feature-x"], "order_by": ["attributes.start_time"]},
    {"branches": "*", "filter_string": "attributes.status != 'FINISHED'"},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
def test_the_frame_is_the_one_the_run_dicts_make(varied, monkeypatch, query):
    monkeypatch.chdir(varied)
    colcache.forget()
    ids = [e.experiment_id for e in Client().search_experiments(view_type=3)]
    got = gittrack.search_runs(experiment_ids=ids, **query)
    rest = {k: v for k, v in query.items() if k != "max_results"}
    runs = search_all(Repo(), query.get("max_results", 100_000), experiment_ids=ids, **rest)
    want = reference_frame(runs, with_branches="branches" in query)
    assert len(got) == len(runs)
    pd.testing.assert_frame_equal(got, want)
    # and again from the file, in this process
    colcache.forget()
    pd.testing.assert_frame_equal(gittrack.search_runs(experiment_ids=ids, **query), want)


def _log(name, acc=None, **tags):
    with gittrack.start_run(run_name=name) as run:
        if acc is not None:
            gittrack.log_metric("acc", acc)
        if tags:
            gittrack.set_tags(tags)
    return run.info.run_id


def _view(fresh: bool) -> dict[str, tuple]:
    """run id -> (status, acc, tags.team) as search_runs shows it (all runs, every view)."""
    if fresh:
        colcache.forget()  # read the columns from the file, not from this process's copy
    df = gittrack.search_runs(run_view_type="ALL")
    team = df["tags.team"] if "tags.team" in df else [None] * len(df)
    acc = df["metrics.acc"] if "metrics.acc" in df else [None] * len(df)
    return {r: (s, a, t) for r, s, a, t in zip(df["run_id"], df["status"], acc, team)}


@pytest.mark.parametrize("fresh", [False, True], ids=["in-process", "from-file"])
def test_the_cache_follows_runs_that_change_arrive_and_go(repo, fresh):
    a, b = _log("a", acc=0.5), _log("b", acc=0.25)
    assert _view(fresh) == {a: ("FINISHED", 0.5, None), b: ("FINISHED", 0.25, None)}
    cache = columns_cache_path(Repo().state_dir)
    assert cache.exists()
    c = Client()
    c.set_tag(a, "team", "ml")  # a run changes
    c.flush()
    assert _view(fresh)[a] == ("FINISHED", 0.5, "ml")
    new = _log("c", acc=0.75, team="ops")  # a run arrives
    assert _view(fresh)[new] == ("FINISHED", 0.75, "ops")
    c.delete_run(b)  # a run is deleted (its lifecycle)
    c.flush()
    assert b not in gittrack.search_runs()["run_id"].tolist()
    assert set(_view(fresh)) == {a, b, new}
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{b}")  # its ref goes
    assert set(_view(fresh)) == {a, new}
    # another process changes a run: this process's next search sees it
    code = textwrap.dedent(f"""
        from gittrack.api.client import Client
        c = Client(); c.set_tag({a!r}, "team", "elsewhere"); c.flush()
    """)
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
    assert _view(fresh)[a] == ("FINISHED", 0.5, "elsewhere")


def _damage(path, how: str, stale: bytes) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) - 8]))
    elif how == "cut-in-header":
        path.write_bytes(bytes(data[:40]))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"not a column cache" * 50)
    elif how == "body-byte":  # the last byte: inside the data, not the header
        data[-1] ^= 0x40
        path.write_bytes(bytes(data))
    elif how == "header-byte":
        data[30] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "stale":  # a sound file of an older generation
        path.write_bytes(stale)


@pytest.mark.parametrize(
    "how", ["truncated", "cut-in-header", "empty", "garbage", "body-byte", "header-byte", "stale"]
)
def test_a_damaged_cache_file_is_rebuilt_not_trusted(repo, how):
    from gittrack.query.index import open_index

    ids = [_log(f"r{i}", acc=i / 4, team=f"t{i}") for i in range(3)]
    want = gittrack.search_runs()
    path = columns_cache_path(Repo().state_dir)
    stale = path.read_bytes()
    Client().set_tag(ids[0], "team", "changed")
    Client().flush()
    colcache.forget()
    want = gittrack.search_runs()
    assert want.set_index("run_id").loc[ids[0], "tags.team"] == "changed"
    _damage(path, how, stale)
    colcache.forget()
    pd.testing.assert_frame_equal(gittrack.search_runs(), want)
    ix = open_index(Repo())
    try:
        stored = colcache.read(path, ix.generation())  # written again, of this generation
        ix.conn.execute("BEGIN")
        built = colcache.build(ix, ix.generation())
        ix.conn.execute("COMMIT")
    finally:
        ix.close()
    assert decoded(stored) == decoded(built)
    # a sound older file is brought up to date (the changed run's old and new row ids: one
    # id when the new row takes the old one's, the highest); a damaged one is built whole
    assert (stored.patched > 0) == (how == "stale")


def test_cache_reader_refuses_what_it_did_not_write(repo):
    _log("r", acc=1.0)
    gittrack.search_runs()
    path = columns_cache_path(Repo().state_dir)
    from gittrack.query.index import open_index

    ix = open_index(Repo())
    generation = ix.generation()
    ix.close()
    assert colcache.read(path, generation).rows == 1
    with pytest.raises(colcache.CacheInvalid, match="generation"):
        colcache.read(path, generation + "0")
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(colcache.CacheInvalid, match="bytes, expected"):
        colcache.read(path, generation)


@pytest.mark.parametrize(
    "exps,lifecycles",
    [(None, ("active",)), (None, ("active", "deleted")), (["0"], ("deleted",)), ([], ("active",))],
)
def test_key_counts_on_the_columns_are_the_key_tables_counts(varied, monkeypatch, exps, lifecycles):
    from gittrack.query.index import open_index

    monkeypatch.chdir(varied)
    colcache.forget()
    ix = open_index(Repo())
    try:
        got = colcache.key_counts(ix, exps, lifecycles)
        want = {}
        for kind in ("metrics", "params", "tags"):
            runs = [
                rid
                for rid, exp, lc in ix.execute("SELECT id, experiment_id, lifecycle FROM runs")
                if lc in lifecycles and (exps is None or exp in exps)
            ]
            counts: dict[str, int] = {}
            for rid, key in ix.execute(f"SELECT rid, key FROM {kind} ORDER BY key"):
                if rid in runs:
                    counts[key] = counts.get(key, 0) + 1
            want[kind] = counts
        assert got == want and [list(v) for v in got.values()] == [list(v) for v in want.values()]
        assert exps != [] or got == {"metrics": {}, "params": {}, "tags": {}}
    finally:
        ix.close()
