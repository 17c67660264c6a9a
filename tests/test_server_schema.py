"""The REST field table's rows: ``name:type`` words, ``!`` for required."""

from __future__ import annotations

import pytest

from gittrack.server.schema import BY_KEY, _ep


def test_rows_give_each_fields_type_and_whether_it_is_required():
    e = BY_KEY["runs/log-metric"]
    assert e.methods == ("POST",)
    assert e.fields == {
        "run_id": ("string", False),
        "run_uuid": ("string", False),
        "key": ("string", True),
        "value": ("double", True),
        "timestamp": ("int64", False),
        "step": ("int64", False),
    }
    assert e.response == {}
    alias = BY_KEY["registered-models/alias:get"]
    assert (alias.path, alias.methods) == ("registered-models/alias", ("GET",))
    assert alias.response == {"model_version": "ModelVersion"}
    assert BY_KEY["experiments/search"].methods == ("POST", "GET")


@pytest.mark.parametrize("spec", ["name:strin!", "name", ":string", "name:"])
def test_a_misspelt_field_is_refused_naming_it(spec):
    with pytest.raises(ValueError, match="bad field"):
        _ep("x", "GET", spec, "X")
