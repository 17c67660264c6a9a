"""The fast record reader gives exactly what PyYAML's safe loader gives, or declines."""

from __future__ import annotations

import hashlib
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gittrack.core.records import fastyaml
from gittrack.core.records.formats import dump_yaml, load_yaml

TRICKY = [
    "yes", "No", "on", "OFF", "y", "n", "null", "~", "true", "False", "", " ", "0", "007", "0x1f",
    "1_000", "1:30", "1e5", "1.5", ".5", "-.inf", ".nan", "2020-01-01", "2020-1-1 10:00:00",
    "-c", "-", "- a", "a: b", "a #b", "#x", "'q'", '"d"', "a'b", "<<", "=", "<x>", "[1]", "{}",
    "[]", "runs:/abc", "C:\\path", "ünï", "tab\there", "line\nbreak", "\u2028", "trail ",
    " lead", "%x", "@x", "`x", "!x", "&x", "*x", "?x", ":x", ",x", "|x", ">x", "0b101", "+1",
    "12e", "3.", "-0", "1.0e+20", "abc:", "a:b", "\x85", "\ufeff",
]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.just([]),
    st.just({}),
)
keys = st.one_of(st.sampled_from(TRICKY), st.text(min_size=0, max_size=12))
docs = st.recursive(
    st.dictionaries(keys, scalars, max_size=6),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner), max_size=5),
    max_leaves=20,
)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(docs)
def test_dumped_records_read_back_identically(doc):
    data = dump_yaml(doc)
    fast = fastyaml.load(data)
    slow = yaml.safe_load(data)
    if fast is not fastyaml.UNSUPPORTED:
        assert same(fast, slow), data
    assert same(load_yaml(data), slow)


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab: -'\"#\n.01\tyn~{}[]&*!|>%@`?,=<\\")), max_size=40)
)
def test_arbitrary_text_is_either_read_like_pyyaml_or_declined(text):
    fast = fastyaml.load(text)
    if fast is fastyaml.UNSUPPORTED:
        return
    assert same(fast, yaml.safe_load(text)), repr(text)


def test_artifact_manifest_takes_the_fast_writer():
    manifest = {
        f"small/d{i % 10}/f{i:04d}.txt": {
            "sha256": hashlib.sha256(b"%d" % i).hexdigest(),
            "size": i,
            "where": "git",
        }
        for i in range(1000)
    }
    data = fastyaml.dump(manifest)
    assert data is not None and data.encode() == dump_yaml(manifest)
    assert yaml.safe_load(data) == manifest


def test_typical_run_record_takes_the_fast_path():
    run = {
        "format": 1, "run_id": "02ff61cabef14858ba83ed35edc9f14c", "name": "run-15",
        "experiment_id": "0", "status": "FINISHED", "start_time": 1795671989017, "end_time": None,
        "command": "-c", "source_name": "<interactive>",
        "source": {"commit": "f154d71f", "branch": "main", "remote_url": None, "dirty": False,
                   "skipped_files": []},
        "artifact_uri": "runs:/02ff61cabef14858ba83ed35edc9f14c",
    }  # fmt: skip
    metrics = {"m0": {"value": 0.248, "step": 9, "min": float("nan"), "max": float("inf")}}
    for doc in (run, metrics, {"p0": "v3", "lr": 0.01, "n": 7, "flag": True}):
        data = dump_yaml(doc)
        assert fastyaml.load(data) is not fastyaml.UNSUPPORTED
        assert same(fastyaml.load(data), yaml.safe_load(data))


def test_unsafe_yaml_is_declined_so_the_safe_loader_refuses_it():
    data = b"x: !!python/object/apply:os.system ['echo hi']\n"
    assert fastyaml.load(data) is fastyaml.UNSUPPORTED


def pyyaml_dump(doc) -> str:
    from gittrack.core.records.formats import _Dumper

    return yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


words = st.text(alphabet=st.sampled_from(list("aZ09_./@+=,:()- '#")), min_size=0, max_size=30)
out_scalars = st.one_of(
    scalars,
    words,
    st.lists(st.one_of(st.sampled_from(TRICKY), words, st.integers(), st.floats()), max_size=3),
    st.builds(lambda n: "word " * n, st.integers(0, 30)),  # long plain values PyYAML folds
)
out_docs = st.recursive(
    st.dictionaries(st.one_of(keys, words), out_scalars, max_size=6),
    lambda inner: st.dictionaries(
        st.one_of(keys, words), st.one_of(out_scalars, inner), max_size=5
    ),
    max_leaves=20,
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(out_docs)
def test_the_fast_emitter_writes_what_pyyaml_writes_or_declines(doc):
    fast = fastyaml.dump(doc)
    if fast is not None:
        assert fast == pyyaml_dump(doc), doc
    assert dump_yaml(doc) == pyyaml_dump(doc).encode("utf-8")


def test_typical_records_are_written_by_the_fast_emitter_as_pyyaml_would():
    run = {
        "format": 1, "run_id": "02ff61cabef14858ba83ed35edc9f14c", "name": "run-15",
        "experiment_id": "0", "status": "FINISHED", "start_time": 1795671989017, "end_time": None,
        "user": "ann", "host": "gpu-box.local", "pid": 4242,
        "command": "python train.py --lr 0.01 --epochs=3", "source_name": "train.py",
        "source_type": "LOCAL",
        "source": {"commit": "f154d71f", "branch": "main",
                   "remote_url": "https://example.com/team/repo.git", "dirty": False,
                   "skipped_files": ["data/big.bin (2000000 bytes)"]},
        "parent_run_id": None, "lifecycle": "active", "heartbeat": 1795671989020,
        "artifact_uri": "runs:/02ff61cabef14858ba83ed35edc9f14c",
    }  # fmt: skip
    metrics = {"m0": {"value": 0.248, "step": 9, "timestamp": 1, "min": float("nan"),
                      "max": float("inf"), "count": 10}, "acc": {"value": 1e-05}}  # fmt: skip
    params = {"p0": "v3", "lr": "0.01", "n": "7", "opt": {"name": "adam", "beta": "0.9"}}
    tags = {"team": "team-1", "run_index": "19", "empty": ""}
    for doc in (run, metrics, params, tags, {}):
        fast = fastyaml.dump(doc)
        assert fast is not None, doc
        assert fast == pyyaml_dump(doc)
    assert fastyaml.dump({"on": "yes"}) is None  # YAML 1.1 booleans: PyYAML decides
    assert fastyaml.dump({"k": "ünï"}) is None  # not ASCII: PyYAML writes it
    assert dump_yaml({"k": "ünï"}) == pyyaml_dump({"k": "ünï"}).encode("utf-8")
