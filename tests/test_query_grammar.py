"""MLflow's run filter grammar: what parses, to what, and the errors bad filters get."""

from __future__ import annotations

import pytest

from gittrack.errors import InvalidParameter
from gittrack.query.grammar import Clause, OrderKey, parse_filter, parse_order_by


@pytest.mark.parametrize(
    "text, expected",
    [
        ("metrics.rmse < 0.5", [("metric", "rmse", "<", 0.5)]),
        ("metric.rmse >= 1", [("metric", "rmse", ">=", 1.0)]),
        ("params.lr = '0.01'", [("param", "lr", "=", "0.01")]),
        ('param.lr != "0.01"', [("param", "lr", "!=", "0.01")]),
        ("parameters.opt LIKE 'ad%'", [("param", "opt", "LIKE", "ad%")]),
        ("parameter.opt ilike 'AD%'", [("param", "opt", "ILIKE", "AD%")]),
        ("tags.`mlflow.user` = 'ana'", [("tag", "mlflow.user", "=", "ana")]),
        ("tag.\"my key\" = 'v'", [("tag", "my key", "=", "v")]),
        ("tags.mlflow.runName = 'x'", [("tag", "mlflow.runName", "=", "x")]),
        ("attributes.status = 'FINISHED'", [("attribute", "status", "=", "FINISHED")]),
        ("attr.run_name LIKE 'a%'", [("attribute", "run_name", "LIKE", "a%")]),
        ("run.user_id = 'u'", [("attribute", "user_id", "=", "u")]),
        ("status != 'FAILED'", [("attribute", "status", "!=", "FAILED")]),
        ("created > 100", [("attribute", "start_time", ">", 100)]),
        ("`Run name` = 'x'", [("attribute", "run_name", "=", "x")]),
        ("end_time <= 1.5e3", [("attribute", "end_time", "<=", 1500.0)]),
        ("run_id IN ('a', \"b\")", [("attribute", "run_id", "IN", ("a", "b"))]),
        ("attributes.run_id not in ('a')", [("attribute", "run_id", "NOT IN", ("a",))]),
        ("params.x IS NULL", [("param", "x", "IS NULL", None)]),
        ("tags.x is not null", [("tag", "x", "IS NOT NULL", None)]),
        ("params.q = 'it''s'", [("param", "q", "=", "it's")]),
        ("metrics.`ünï cödé` > -2", [("metric", "ünï cödé", ">", -2.0)]),
        ('metrics."a.b c" = .5', [("metric", "a.b c", "=", 0.5)]),
        (
            "metrics.a > 1 and params.b = 'x' AND tags.c LIKE '%'",
            [("metric", "a", ">", 1.0), ("param", "b", "=", "x"), ("tag", "c", "LIKE", "%")],
        ),
        ("", []),
        ("   ", []),
    ],
)
def test_filters_parse_to_clauses(text, expected):
    got = [(c.kind, c.key, c.op, c.value) for c in parse_filter(text)]
    assert got == expected


def test_values_in_quotes_stay_text_even_if_they_look_like_sql():
    [c] = parse_filter("params.x = 'a; DROP TABLE runs; --'")
    assert c == Clause("param", "x", "=", "a; DROP TABLE runs; --", 0)


@pytest.mark.parametrize(
    "text, position, token, words",
    [
        ("metrics.a > 1 OR params.x = 'a'", 14, "OR", "OR is not supported"),
        ("(metrics.a > 1)", 0, "(", "parentheses"),
        ("metrics.a > 1 AND (params.x = 'a')", 18, "(", "parentheses"),
        ("params.x = 'abc", 11, "'abc", "unterminated"),
        ("tags.\"abc = 'x'", 5, "\"abc = 'x'", "unterminated"),
        ("foo.x = 1", 0, "foo", "unknown type 'foo'"),
        ("bogus = 'x'", 0, "bogus", "invalid attribute key 'bogus'"),
        ("metrics.a = 'x'", 12, "'x'", "expected a number for metric 'a'"),
        ("metrics.a LIKE '%'", 10, "LIKE", "LIKE is not supported for metric 'a'"),
        ("params.a > 'x'", 9, ">", "> is not supported for param 'a'"),
        ("params.a = 1", 11, "1", "expected a quoted string value for param 'a'"),
        ("status IN ('a')", 7, "IN", "IN is not supported for attribute 'status'"),
        ("start_time = 'x'", 13, "'x'", "expected a number for attribute 'start_time'"),
        ("params.x = 'a'; DROP TABLE runs; --'", 14, ";", "';' is not allowed"),
        ("metrics.a > 1 metrics.b < 2", 14, "metrics", "expected AND"),
        ("metrics.a >", 11, "", "expected a number"),
        ("metrics.a > 1 AND", 17, "", "expected a clause after AND"),
        ("metrics.a == 1", 10, "==", "expected a comparison operator"),
        ("metrics.a <> 1", 10, "<>", "expected a comparison operator"),
        ("'params.x' = 'a'", 0, "'params.x'", "single quotes"),
        ("run_id IN ('a', 'b'", 19, "", "expected ',' or ')'"),
        ("run_id IN 'a'", 10, "'a'", "parenthesised list"),
        ("metrics. = 1", 0, "metrics", "empty metric key"),
    ],
)
def test_syntax_errors_name_position_and_token(text, position, token, words):
    with pytest.raises(InvalidParameter) as info:
        parse_filter(text)
    err = info.value
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.position == position
    assert err.token == token
    assert words in err.message
    assert f"at position {position}" in err.message
    # the message shows the filter with a caret under the offending token
    assert text in err.message and "\n  " + " " * position + "^" in err.message


@pytest.mark.parametrize(
    "entries, expected",
    [
        (["metrics.rmse DESC"], [OrderKey("metric", "rmse", False)]),
        (["metrics.rmse"], [OrderKey("metric", "rmse", True)]),
        ("params.lr asc", [OrderKey("param", "lr", True)]),
        (
            ["tags.`a b` desc", "start_time"],
            [OrderKey("tag", "a b", False), OrderKey("attribute", "start_time", True)],
        ),
        (["created DESC"], [OrderKey("attribute", "start_time", False)]),
        (["attributes.run_name"], [OrderKey("attribute", "run_name", True)]),
        (None, []),
        ([], []),
    ],
)
def test_order_by_parses(entries, expected):
    assert parse_order_by(entries) == expected


@pytest.mark.parametrize(
    "entry, words",
    [
        ("metrics.a sideways", "expected ASC, DESC"),
        ("nope.a", "unknown type 'nope'"),
        ("colour", "invalid attribute key 'colour'"),
        ("", "an empty entry"),
        ("metrics.a ", "whitespace after the end"),
        ("attribute.run_id ACS", "Invalid ordering key"),
        ("metrics.a DESC, metrics.b", "expected ASC, DESC"),
    ],
)
def test_bad_order_by_is_refused(entry, words):
    with pytest.raises(InvalidParameter, match="order_by") as info:
        parse_order_by([entry])
    assert words in info.value.message
