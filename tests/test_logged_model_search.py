"""LoggedModel search filters go through the one query grammar (``LOGGED_MODELS``): the same
quoting, operators and errors as run filters, over the records' attributes, tags, params and
metrics — including the filters the old regex parser got wrong."""

from __future__ import annotations

from typing import Any

import pytest

from gittrack.errors import InvalidParameter
from gittrack.query.logged_models import search_models


def _rec(model_id: str, name: str, created: int, **kw: Any) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "name": name,
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        "status": kw.get("status", "READY"),
        "tags": kw.get("tags", {}),
        "params": kw.get("params", {}),
        "metrics": kw.get("metrics", []),
    }


RECORDS = [
    _rec(
        "m-1",
        "cats AND dogs",
        1,
        tags={"note": "x AND y", "quote": "it's"},
        params={"lr": "0.1"},
        metrics=[
            {"key": "acc", "value": 0.5, "step": 0, "timestamp": 1},
            {"key": "acc", "value": 0.9, "step": 1, "timestamp": 2},
        ],
    ),
    _rec("m-2", 'it"s', 2, status="FAILED"),
    _rec("m-3", "cats", 3, tags={"note": "z"}),
]


def _ids(filter_string: str) -> list[str]:
    return [r["model_id"] for r in search_models(RECORDS, filter_string)]


@pytest.mark.parametrize(
    ("filter_string", "want"),
    [
        (None, ["m-3", "m-2", "m-1"]),
        ("name = 'cats AND dogs'", ["m-1"]),
        ("name='cats AND dogs'AND status='READY'", ["m-1"]),
        ("tags.note = 'x AND y' AND name LIKE 'cats%'", ["m-1"]),
        ("tags.`note` != 'z'", ["m-1"]),
        ("tags.quote = 'it''s'", ["m-1"]),
        ('name = "it""s"', ["m-2"]),  # a doubled quote inside double quotes
        ("name ILIKE 'CATS%'", ["m-3", "m-1"]),
        ("status = 'LOGGED_MODEL_UPLOAD_FAILED'", ["m-2"]),  # MLflow's proto name
        ("status = 'ready'", ["m-3", "m-1"]),
        ("attributes.creation_time >= 2 AND creation_timestamp < 3", ["m-2"]),
        ("metrics.acc > 0.8", ["m-1"]),  # the newest point (0.9), not the first (0.5)
        ("params.lr = '0.1'", ["m-1"]),
        ("params.lr IS NULL", ["m-3", "m-2"]),
    ],
)
def test_filters_through_the_query_grammar(filter_string, want):
    assert _ids(filter_string) == want


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        # the regex parser raised ValueError (a 500 over REST)
        ("metrics.acc > 1.2.3", "Expected numeric value type for metric"),
        # ... took a dangling AND as the end of the filter
        ("name = 'cats' AND ", "expected a clause after AND"),
        # ... said "expected AND, got 'AND'"
        ("name = 'cats' AND", "expected a clause after AND"),
        # ... compared an unquoted param value as a number (MLflow refuses it)
        ("params.lr = 0.1", "expected a quoted string value for param 'lr'"),
        ("metrics.acc = 'high'", "Expected numeric value type for metric"),
        ("name = 'cats' OR name = 'dogs'", "OR is not supported"),
        ("nope = 'x'", "Invalid attribute key at position 0 ('nope')"),
        ("datasets.name = 'x'", "Invalid entity type"),
    ],
)
def test_bad_filters_are_refused_naming_the_mistake(filter_string, message):
    with pytest.raises(InvalidParameter) as err:
        _ids(filter_string)
    assert message in str(err.value)


def test_the_attribute_error_lists_the_logged_model_attributes():
    with pytest.raises(InvalidParameter) as err:
        _ids("run_name = 'x'")
    assert "Valid logged model attributes are creation_timestamp" in str(err.value)
    assert "(or a metrics./params./tags. key)" in str(err.value)


def test_order_by_names_the_same_attributes():
    by_name = search_models(RECORDS, None, [{"field_name": "name", "ascending": True}])
    assert [r["model_id"] for r in by_name] == ["m-3", "m-1", "m-2"]
    oldest = search_models(RECORDS, None, [{"field_name": "attributes.creation_time"}])
    assert [r["model_id"] for r in oldest] == ["m-1", "m-2", "m-3"]
    with pytest.raises(InvalidParameter, match="Invalid order_by field 'run_name'"):
        search_models(RECORDS, None, [{"field_name": "run_name"}])


def test_mlflow_client_finds_a_logged_model_by_a_name_holding_and(repo):
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(f"gittrack://{repo}")
    exp = client.create_experiment("lm-search")
    client.create_logged_model(exp, name="cats AND dogs")
    client.create_logged_model(exp, name="cats")
    found = client.search_logged_models([exp], filter_string="name = 'cats AND dogs'")
    assert [m.name for m in found] == ["cats AND dogs"]
    with pytest.raises(mlflow.exceptions.MlflowException, match="expected a clause after AND"):
        client.search_logged_models([exp], filter_string="name = 'cats' AND ")
