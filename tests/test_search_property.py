"""The index-backed engine agrees with a plain Python filter over every run record."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gittrack.api.client import Client
from gittrack.query.grammar import parse_filter, parse_order_by
from tests.reference import filter_runs, sort_runs
from tests.search_data import brute_force, make_repo

METRIC_KEYS = ["acc", "loss", "a b", "ünï", "missing"]
PARAM_KEYS = ["lr", "opt", "x.y", "missing"]
TAG_KEYS = ["team", "mlflow.runName", "mlflow.user", "missing"]
NUMBERS = ["-1", "0", "0.5", "0.9", "1e-9", "2", "-0.0", "1e400", "-1e400"]
STRINGS = [
    "0.1", "0.01", "1e-3", "True", "adam", "Adam", "ADAM", "sgd", "a_b", "50%", "it''s", "ünï",
    "ml", "ML", "ops", "", "alpha", "beta", "gamma delta",
]  # fmt: skip
PATTERNS = STRINGS + ["%", "a%", "%a", "_dam", "%\\_%", "%5%", "%ü%", "%''%", "b%", "%_%", "___"]
STATUSES = ["FINISHED", "FAILED", "KILLED", "RUNNING", "finished"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = make_repo(tmp_path_factory.mktemp("q") / "project")
    return path, brute_force(path)


def quoted(s: str) -> str:
    return f"'{s}'"


def clause_strategy(run_ids: list[str]) -> st.SearchStrategy[str]:
    metric = st.builds(
        lambda k, op, v: f"metrics.`{k}` {op} {v}",
        st.sampled_from(METRIC_KEYS), st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
        st.sampled_from(NUMBERS),
    )  # fmt: skip

    def strings(prefix, keys):
        return st.one_of(
            st.builds(
                lambda k, op, v: f'{prefix}."{k}" {op} {quoted(v)}',
                st.sampled_from(keys), st.sampled_from(["=", "!="]), st.sampled_from(STRINGS),
            ),
            st.builds(
                lambda k, op, v: f"{prefix}.`{k}` {op} {quoted(v)}",
                st.sampled_from(keys), st.sampled_from(["LIKE", "ILIKE", "like"]),
                st.sampled_from(PATTERNS),
            ),
            st.builds(
                lambda k, op: f"{prefix}.`{k}` {op}",
                st.sampled_from(keys), st.sampled_from(["IS NULL", "IS NOT NULL"]),
            ),
        )  # fmt: skip

    attrs = st.one_of(
        st.builds(lambda op, v: f"attributes.status {op} {quoted(v)}",
                  st.sampled_from(["=", "!=", "LIKE", "ILIKE"]), st.sampled_from(STATUSES)),
        st.builds(lambda op, v: f"run_name {op} {quoted(v)}",
                  st.sampled_from(["=", "!=", "LIKE", "ILIKE"]), st.sampled_from(PATTERNS)),
        st.builds(lambda k, op, v: f"{k} {op} {v}",
                  st.sampled_from(["start_time", "created", "end_time", "attr.end_time"]),
                  st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
                  st.sampled_from(["1000", "1003", "1006.5", "2002", "99999999999999999999999"])),
        st.builds(lambda op, ids: f"run_id {op} ({', '.join(map(quoted, ids))})",
                  st.sampled_from(["IN", "NOT IN"]),
                  st.lists(st.sampled_from(run_ids + ["0" * 32]), min_size=1, max_size=4)),
        st.builds(lambda v: f"attributes.run_id LIKE {quoted(v)}",
                  st.sampled_from([r[:2] + "%" for r in run_ids[:5]] + ["%"])),
        st.builds(lambda v: f"user_id = {quoted(v)}", st.sampled_from(["root", "nobody"])),
        st.builds(lambda v: f"artifact_uri LIKE {quoted(v)}", st.sampled_from(["runs:/%", "x%"])),
    )  # fmt: skip
    return st.one_of(metric, strings("params", PARAM_KEYS), strings("tags", TAG_KEYS), attrs)


ORDER_KEYS = [
    "metrics.acc", "metrics.loss", "metrics.`a b`", "metrics.missing", "params.lr", "params.opt",
    "tags.team", "attributes.run_name", "start_time", "end_time", "status", "run_id",
    "created", "params.missing",
]  # fmt: skip
orders = st.lists(
    st.builds(
        lambda k, d: k + d, st.sampled_from(ORDER_KEYS), st.sampled_from(["", " ASC", " desc"])
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_engine_agrees_with_python_filter(data, request):
    path, truth = request.getfixturevalue("data")
    ids = sorted(r["run_id"] for r in truth)
    clauses = data.draw(st.lists(clause_strategy(ids), max_size=3))
    filter_string = " AND ".join(clauses)
    order_by = data.draw(orders)
    view = data.draw(st.sampled_from(["ALL", "ACTIVE_ONLY", "DELETED_ONLY"]))
    got = Client(path).search_runs(None, filter_string, view, 1000, order_by)
    runs = [
        r
        for r in truth
        if view == "ALL" or (r["lifecycle_stage"] == "active") == (view == "ACTIVE_ONLY")
    ]
    want = sort_runs(filter_runs(runs, parse_filter(filter_string)), parse_order_by(order_by))
    assert [r.info.run_id for r in got] == [r["run_id"] for r in want], (filter_string, order_by)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.integers(1, 12), order_by=orders)
def test_pages_add_up_to_the_whole(size, order_by, request):
    path, truth = request.getfixturevalue("data")
    c = Client(path)
    whole = [r.info.run_id for r in c.search_runs(None, "", "ALL", 1000, order_by)]
    pages, token = [], None
    while True:
        page = c.search_runs(None, "", "ALL", size, order_by, token)
        assert len(page) <= size
        pages += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert pages == whole and len(whole) == len(truth)
