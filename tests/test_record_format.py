"""The record format keeps every key apart, and records read back within their limits."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import gittrack
from gittrack.core.records import safeyaml
from gittrack.core.records.formats import dump_yaml, flatten_params, load_yaml, nest_params
from gittrack.errors import ParamChanged
from tests import hostile
from tests.server_helpers import ServerProcess, http

# valid param keys built from parts that collide when nested: dots, empty parts, the old
# flat-section name, prefixes of one another
parts = st.sampled_from(["a", "b", "lr", "__flat__", "(flat)"[1:-1], "", "x y", "1"])
keys = st.lists(parts, min_size=1, max_size=4).map(".".join).filter(bool)
values = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_every_param_key_round_trips(flat):
    assert flatten_params(load_yaml(dump_yaml(nest_params(flat)))) == flat


def test_reserved_looking_keys_keep_their_names_and_values(repo):
    with gittrack.start_run() as run:
        gittrack.log_param("__flat__.lr", 0.1)
        gittrack.log_param("lr", 0.2)
        gittrack.log_param("__flat__", "x")
        gittrack.log_param("opt.lr", 0.3)
        gittrack.log_param("opt", 1)
    got = gittrack.Client().get_run(run.info.run_id).data.params
    assert got == {"__flat__.lr": "0.1", "lr": "0.2", "__flat__": "x", "opt.lr": "0.3", "opt": "1"}
    with gittrack.start_run(run_id=run.info.run_id):
        with pytest.raises(ParamChanged, match="key='__flat__.lr'"):
            gittrack.log_param("__flat__.lr", 0.5)
        gittrack.log_param("lr", 0.2)  # the same value again is fine


def test_records_written_with_the_old_flat_section_still_read(repo):
    run_id = hostile.plant(
        repo,
        lambda rid: {
            "run.yaml": hostile.run_yaml(rid),
            "params.yaml": b"opt:\n  lr: 0.1\n__flat__:\n  opt: 1\n",
        },
    )
    assert gittrack.Client().get_run(run_id).data.params == {"opt.lr": "0.1", "opt": "1"}


def test_a_record_naming_a_param_twice_is_refused(repo):
    run_id = hostile.plant(
        repo,
        lambda rid: {
            "run.yaml": hostile.run_yaml(rid),
            "params.yaml": b"lr: 0.1\n(flat):\n  lr: 0.2\n",
        },
    )
    with pytest.raises(gittrack.errors.CorruptRecord, match="holds the param 'lr' twice"):
        gittrack.Client().get_run(run_id)


def test_rest_keeps_reserved_looking_keys_apart(repo):
    with ServerProcess(repo) as srv:
        api = srv.url + "/api/2.0/mlflow"
        status, body = http("POST", api + "/runs/create", {"experiment_id": "0"})
        assert status == 200, body
        run_id = body["run"]["info"]["run_id"]
        for key, value in (("__flat__.lr", "0.1"), ("lr", "0.2")):
            status, body = http(
                "POST", api + "/runs/log-parameter", {"run_id": run_id, "key": key, "value": value}
            )
            assert status == 200, body
        status, body = http("GET", f"{api}/runs/get?run_id={run_id}")
        params = {p["key"]: p["value"] for p in body["run"]["data"]["params"]}
        assert params == {"__flat__.lr": "0.1", "lr": "0.2"}


# --- reading within limits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (hostile.alias_bomb_yaml(), "an anchor (&a0) at line 1, column 5"),
        (b"a: *x\n", "an alias (*x)"),
        (hostile.deep_yaml(100_000), "nested more than 160 deep"),
        (
            b"? '" + b"k" * 5000 + b"'\n: v\n",
            "a key of 5,000 characters at line 1, column 3, over the limit of 4,096",
        ),
        (b"".join(b"k%d: 1\n" % i for i in range(250_001)), "more than 250,000 keys"),
        (b"[" + b"1," * 200_001 + b"]\n", "more than 200,000 nodes"),
        (b"x: '" + b"v" * (32 << 20) + b"'\n", "over the limit of 33,554,432 bytes"),
    ],
    ids=["alias-bomb", "alias", "deep", "long-key", "keys", "nodes", "bytes"],
)
def test_loader_refuses_what_costs_too_much(data, message):
    t0 = time.monotonic()
    with pytest.raises(safeyaml.UnsafeYAML, match=re.escape(message)):
        load_yaml(data)
    assert time.monotonic() - t0 < 20  # ~1 s alone; room for a loaded machine
    assert isinstance(safeyaml.UnsafeYAML("x"), yaml.YAMLError)  # every caller reports it


def test_loader_accepts_what_the_writer_writes_at_its_limits():
    deep = {}
    node = deep
    for _ in range(125):  # a 250-character key "a.a.a..." nests 125 deep
        node = node.setdefault("a", {})
    node["a"] = 1
    assert load_yaml(dump_yaml(deep)) == deep
    shared = {"v": [1]}
    doc = {"x": shared, "y": shared}  # the same object twice is written twice, no alias
    assert b"&" not in dump_yaml(doc) and load_yaml(dump_yaml(doc)) == doc


def test_dumped_records_never_hold_anchors():
    shared: dict = {}
    assert yaml.safe_load(dump_yaml({"a": shared, "b": shared})) == {"a": {}, "b": {}}
