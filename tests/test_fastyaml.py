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


manifest_words = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=st.sampled_from(list("abynoYN0123456789._/-: '")), min_size=0, max_size=12),
    st.sampled_from(["0" * 64, "1e5" + "a" * 61, "2020-01-01", "a" * 127, "a" * 128]),
)
manifests = st.recursive(
    st.dictionaries(manifest_words, st.one_of(manifest_words, st.integers(), st.booleans())),
    lambda inner: st.dictionaries(manifest_words, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(manifests)
def test_fast_writer_writes_what_pyyaml_writes_or_declines(doc):
    fast = fastyaml.dump(doc)
    slow = yaml.dump(
        doc, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    ).encode()
    if fast is not None:
        assert fast == slow, (doc, fast, slow)
    assert dump_yaml(doc) == slow
    assert same(yaml.safe_load(dump_yaml(doc)), doc) or not doc


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
    assert data is not None
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
