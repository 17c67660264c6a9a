"""The column cache brought up to date in place (gittrack.query.columns.patch): after any
sequence of runs created, changed, deleted and given new keys, the patched columns hold
the values a whole build holds, and the DataFrame they make is the one a whole build makes
and the one the SQL-only path (the engine's run dicts) makes — NaN, None, dtypes and column
order included; through ``search_runs`` and the UI's runs JSON too. Older, newer, trimmed
and half-written caches are caught up or rebuilt, never trusted wrongly."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gittrack
from gittrack.api.client import Client
from gittrack.core.entities import ViewType
from gittrack.core.repo import Repo
from gittrack.layout import columns_cache_path
from gittrack.query import columns as colcache
from gittrack.query import frames, index
from gittrack.query.engine import search
from gittrack.query.index import Index
from gittrack.query.rows import record_rows
from gittrack.query.search import search_all
from tests.columns_helpers import decoded
from tests.conftest import git, init_project
from tests.reference import reference_frame

METRICS = ["acc", "loss", "a b", "new.m"]
PARAMS = ["lr", "opt", "new.p"]
TAGS = ["team", "note", "new.t"]
NUMBERS = [0.5, -0.0, 1e300, math.inf, -math.inf, math.nan, 3.0, 0.25]
TEXT = ["", "a", "b", "ünï", "0.1", "None"]

fields = st.fixed_dictionaries(
    {
        "metrics": st.dictionaries(st.sampled_from(METRICS), st.sampled_from(NUMBERS)),
        "params": st.dictionaries(st.sampled_from(PARAMS), st.sampled_from(TEXT)),
        "tags": st.dictionaries(st.sampled_from(TAGS), st.sampled_from(TEXT)),
        "status": st.sampled_from(["FINISHED", "FAILED", "RUNNING"]),
        "end": st.sampled_from([None, 5000, 6000]),
        "lifecycle": st.sampled_from(["active", "deleted"]),
        "experiment": st.sampled_from(["0", "1"]),
        "dirty": st.sampled_from([None, True, False]),
        "commit": st.sampled_from([None, "c" * 40, "d" * 40]),
    }
)
SLOTS = 6
ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(st.tuples(st.integers(0, SLOTS - 1), fields),
                                           min_size=1, max_size=3)),
        st.tuples(st.just("drop"), st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=2)),
        st.tuples(st.just("check"), st.booleans()),  # True: from the file (a fresh process)
    ),
    min_size=1,
    max_size=14,
)  # fmt: skip


def run_id(slot: int) -> str:
    return f"{slot:032x}"


def record(slot: int, f: dict) -> dict:
    """A run record of the shape ``Store.read_record`` returns."""
    run = {
        "run_id": run_id(slot),
        "experiment_id": f["experiment"],
        "name": f"run-{slot}",
        "status": f["status"],
        "user": "someone",
        "start_time": 1000 + slot,
        "end_time": f["end"],
        "lifecycle": f["lifecycle"],
        "heartbeat": 10**13,  # a live run with a fresh heartbeat stays RUNNING
        "source": {"commit": f["commit"], "branch": "main", "dirty": f["dirty"]},
    }
    metrics = {k: {"value": v, "step": 1, "timestamp": 2} for k, v in f["metrics"].items()}
    return {"run": run, "metrics": metrics, "params": f["params"], "tags": f["tags"]}


def put(ix: Index, runs: list[tuple[int, dict]]) -> None:
    """Index ``runs`` as a refresh that parsed them would (their old rows go)."""
    good = {}
    for slot, f in runs:
        sha = f"{slot:040x}"
        good[run_id(slot)] = (run_id(slot), sha, record_rows(run_id(slot), sha, record(slot, f)))
    ix._write(list(good.values()), [], [], ix._indexed())


def drop(ix: Index, slots: list[int]) -> None:
    ix._write([], [], [run_id(s) for s in slots], ix._indexed())


def cached(ix: Index) -> tuple[colcache.Columns, colcache.Columns]:
    """(the columns as the cache gives them, a whole build), of one snapshot."""
    ix.conn.execute("BEGIN")
    try:
        return colcache.columns(ix), colcache.build(ix, ix.generation())
    finally:
        ix.conn.execute("COMMIT")


def frame(ix: Index, whole: bool = False) -> pd.DataFrame:
    """``search_runs``' DataFrame of every run, from the cache (or from a whole build)."""
    query = (None, "", ViewType.ALL, 100_000, None, None)
    if not whole:
        return frames.search_frame(ix, *query)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frames, "columns", lambda ix: colcache.build(ix, ix.generation()))
        return frames.search_frame(ix, *query)


def check_all_agree(ix: Index) -> colcache.Columns:
    got, whole = cached(ix)
    assert decoded(got) == decoded(whole)
    df = frame(ix)
    pd.testing.assert_frame_equal(df, frame(ix, whole=True))
    sql_only = search(ix, None, "", ViewType.ALL, 100_000).runs
    pd.testing.assert_frame_equal(df, reference_frame(sql_only))
    return got


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return Repo(init_project(tmp_path_factory.mktemp("patch") / "project"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops, dedupe=st.sampled_from([0, 4096]))
def test_patched_columns_are_a_whole_builds(project, tmp_path_factory, steps, dedupe):
    path = tmp_path_factory.mktemp("ix") / "index.sqlite"
    colcache.forget()
    columns_cache_path(project.state_dir).unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as mp, Index(project, path) as ix:
        mp.setattr(colcache, "DEDUPE_MAX", dedupe)  # 0: every new text value appended
        check_all_agree(ix)
        for op, arg in [*steps, ("check", False)]:
            if op == "put":
                put(ix, arg)
            elif op == "drop":
                drop(ix, arg)
            else:
                if arg:
                    colcache.forget()
                check_all_agree(ix)


def test_one_run_changing_patches_the_columns(project, tmp_path):
    """A live run's checkpoint, a new run, a tag, a new key, a run gone: each a patch."""
    colcache.forget()
    columns_cache_path(project.state_dir).unlink(missing_ok=True)
    base = {"params": {"lr": "0.1"}, "tags": {"team": "a"}, "status": "FINISHED", "end": 5000,
            "lifecycle": "active", "experiment": "0", "dirty": False, "commit": "c" * 40}  # fmt: skip
    with Index(project, tmp_path / "index.sqlite") as ix:
        put(ix, [(s, {**base, "metrics": {"acc": s / 10}}) for s in range(5)])
        assert check_all_agree(ix).patched == 0  # built whole
        patched = 0
        changes = [
            lambda: put(ix, [(2, {**base, "metrics": {"acc": math.nan}, "status": "RUNNING"})]),
            lambda: put(ix, [(5, {**base, "metrics": {"new.m": 1.0}})]),  # a run and a key come
            lambda: put(ix, [(1, {**base, "metrics": {}, "tags": {"team": "b", "new.t": ""}})]),
            lambda: drop(ix, [5]),  # the only run with new.m goes: so does its column
            lambda: drop(ix, [4]),  # the run of the highest id goes; its id is used again:
            lambda: put(ix, [(6, {**base, "metrics": {"acc": 0.5}})]),
        ]
        for change in changes:
            change()
            got = check_all_agree(ix)
            assert got.patched > patched  # caught up through the change log, not rebuilt
            patched = got.patched
        assert "metrics.new.m" not in got.arrays
        assert got.unsaved == patched  # written once SAVE_EVERY rows are missing from the file
        colcache.forget()  # a fresh process: the file of the first build, caught up at once
        assert 0 < check_all_agree(ix).patched <= patched  # (a row id changed twice: once)


def test_rows_arriving_below_the_kept_ones_land_in_id_order(project, tmp_path):
    """Another writer's choice of row ids (one below every kept row) keeps the id order."""
    colcache.forget()
    columns_cache_path(project.state_dir).unlink(missing_ok=True)
    base = {"params": {"lr": "0.1"}, "tags": {"team": "a"}, "status": "FINISHED", "end": 5000,
            "lifecycle": "active", "experiment": "0", "dirty": None, "commit": None}  # fmt: skip
    with Index(project, tmp_path / "index.sqlite") as ix:
        put(ix, [(s, {**base, "metrics": {"acc": float(s)}}) for s in range(4)])
        ix.conn.execute("UPDATE runs SET id = id + 10")  # the UPDATE trigger logs both ids
        check_all_agree(ix)
        sql = "INSERT INTO runs SELECT 1, '{0}', {1} FROM runs WHERE id = 11"
        cols = [c[1] for c in ix.conn.execute("PRAGMA table_info(runs)")][2:]
        ix.conn.execute(sql.format("f" * 32, ", ".join(cols)))
        got = check_all_agree(ix)
        assert got.patched > 0 and got.arrays["id"].tolist() == [1, 11, 12, 13, 14]


def test_caches_the_change_log_cannot_vouch_for_are_built_whole(project, tmp_path, monkeypatch):
    """A cache older than the log reaches, one of another index file, one newer than the
    reader's snapshot (another process wrote it meanwhile), one that a patch would take too
    many rows for: each is built whole; a half-written file left by a crash is ignored."""
    colcache.forget()
    cache = columns_cache_path(project.state_dir)
    cache.unlink(missing_ok=True)
    base = {"metrics": {"acc": 1.0}, "params": {}, "tags": {}, "status": "FINISHED",
            "end": 5000, "lifecycle": "active", "experiment": "0", "dirty": None,
            "commit": None}  # fmt: skip
    with Index(project, tmp_path / "index.sqlite") as ix:
        put(ix, [(s, base) for s in range(4)])
        check_all_agree(ix)
        colcache.forget()
        monkeypatch.setattr(index, "CHANGES_KEPT", 2)  # the log keeps 2 generations
        put(ix, [(0, {**base, "params": {"lr": "1"}})])  # 2 generations: the log reaches
        assert check_all_agree(ix).patched == 2
        colcache.forget()
        put(ix, [(1, base)])
        put(ix, [(2, base)])  # the file is 4 generations back: further than the log
        assert ix.changed_since(colcache.read(cache).generation, 100) is None
        assert check_all_agree(ix).patched == 0
        monkeypatch.setattr(index, "CHANGES_KEPT", 1000)

        # a crash while writing: a temporary file beside a sound older one
        (cache.parent / f"{cache.name}.new-1-2").write_bytes(cache.read_bytes()[:100])
        colcache.forget()
        put(ix, [(3, {**base, "tags": {"team": "x"}})])
        assert check_all_agree(ix).patched == 2

        # too many rows for a patch
        monkeypatch.setattr(colcache, "PATCH_ROWS", 1)
        monkeypatch.setattr(colcache, "PATCH_SHARE", 0)
        put(ix, [(1, {**base, "tags": {"team": "y"}})])
        assert check_all_agree(ix).patched == 0
        monkeypatch.undo()

        # a snapshot older than the file another connection wrote meanwhile
        with Index(project, ix.path) as other:
            ix.conn.execute("BEGIN")
            before = ix.generation()
            whole = colcache.build(ix, before)
            put(other, [(0, {**base, "tags": {"team": "later"}})])
            colcache.forget()
            check_all_agree(other)
            colcache.forget()
            assert colcache.read(cache).generation != before
            assert ix.changed_since(colcache.read(cache).generation, 100) is None
            got = colcache.columns(ix)
            ix.conn.execute("COMMIT")
        assert got.generation == before and decoded(got) == decoded(whole)

        # another index file (a new epoch): its generations say nothing of this one's
        with Index(project, tmp_path / "other.sqlite") as fresh:
            put(fresh, [(0, base)])
            colcache.forget()
            assert fresh.changed_since(ix.generation(), 100) is None
            assert check_all_agree(fresh).patched == 0


def test_change_log_names_the_rows_removed_and_added(project, tmp_path):
    base = {"metrics": {}, "params": {}, "tags": {}, "status": "FINISHED", "end": None,
            "lifecycle": "active", "experiment": "0", "dirty": None, "commit": None}  # fmt: skip
    with Index(project, tmp_path / "index.sqlite") as ix:
        start = ix.generation()
        put(ix, [(0, base), (1, base)])
        assert ix.changed_since(start, 100) == [1, 2]
        middle = ix.generation()
        put(ix, [(0, base)])  # row 1 goes, row 3 comes
        drop(ix, [1])
        assert ix.changed_since(middle, 100) == [1, 2, 3]
        assert ix.changed_since(middle, 2) is None  # 3 generations: more than asked for
        assert ix.changed_since(ix.generation(), 0) == []
        assert ix.changed_since("another-epoch:1", 100) is None


# -- through the public faces -------------------------------------------------------------


def _ui_runs(api) -> dict:
    return api.get("/ui/api/runs", params={"lifecycle": "all", "limit": 1000}).json()


def test_search_runs_and_the_ui_follow_live_runs_through_patches(repo):
    """Live runs checkpointing, runs arriving, tags set, runs deleted and gone, new keys:
    after each, ``search_runs`` (patched columns) is the frame of the run dicts and of a
    whole build, and the UI's runs JSON lists the same runs with the same column keys."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from gittrack.ui import make_ui_app

    colcache.forget()
    c = Client()
    rng = random.Random(16)
    live = []
    for i in range(2):
        run = c.create_run("0", run_name=f"live-{i}")
        live.append(run.info.run_id)
    done = []
    with TestClient(make_ui_app(repo), raise_server_exceptions=False) as api:
        for step in range(14):
            what = rng.choice(["checkpoint", "checkpoint", "new", "tag", "key", "delete", "gone"])
            if what == "checkpoint":
                rid = rng.choice(live)
                value = rng.choice([rng.random(), math.nan])
                c.log_metric(rid, "loss", value, step=step)
                c.flush(rid)
            elif what == "new":
                with gittrack.start_run(run_name=f"r{step}"):
                    gittrack.log_metric("acc", rng.random())
                    gittrack.log_param("lr", rng.choice(["0.1", "0.01"]))
                done.append(gittrack.last_active_run().info.run_id)
            elif what == "tag" and done:
                c.set_tag(rng.choice(done), "team", rng.choice(["ml", "ops", ""]))
                c.flush()
            elif what == "key":
                rid = rng.choice(live)
                c.log_metric(rid, f"k{step}", 1.0, step=0)
                c.flush(rid)
            elif what == "delete" and done:
                c.delete_run(rng.choice(done))
                c.flush()
            elif what == "gone" and len(done) > 1:
                git(repo, "update-ref", "-d", f"refs/gittrack/runs/{done.pop(0)}")
            df = gittrack.search_runs(run_view_type="ALL")
            want = reference_frame(search_all(Repo(), 100_000, run_view_type="ALL"))
            pd.testing.assert_frame_equal(df, want)
            page = _ui_runs(api)
            assert [r["run_id"] for r in page["rows"]] == df["run_id"].tolist()
            for kind in ("metrics", "params", "tags"):
                shown = sorted(k.split(".", 1)[1] for k in df.columns if k.startswith(kind + "."))
                assert page["columns"][kind] == shown
        patched = colcache._loaded[str(columns_cache_path(Repo().state_dir))].patched
        assert patched > 0  # the steps were patches
        colcache.forget()
        columns_cache_path(Repo().state_dir).unlink()  # a whole build: the same frame
        pd.testing.assert_frame_equal(gittrack.search_runs(run_view_type="ALL"), df)
