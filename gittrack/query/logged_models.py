"""Searching logged models: MLflow's LoggedModel filter (``AND``-joined comparisons of
attributes, tags, params and metrics) and order_by over their records.

The filter is parsed by the one query grammar (:mod:`gittrack.query.grammar`, entity
:data:`~gittrack.query.grammar.LOGGED_MODELS`), so it has the run filter's quoting, operators,
errors and positions; the records come from
:class:`gittrack.core.logged_models.LoggedModelStore` and are few, so the clauses are
evaluated here. A metric compares its newest point (highest step, then timestamp).
"""

from __future__ import annotations

from typing import Any

from gittrack.core.logged_models import PROTO_STATUS
from gittrack.errors import InvalidParameter
from gittrack.query.grammar import (
    ATTRIBUTE,
    COMPARE,
    LOGGED_MODELS,
    PARAM,
    TAG,
    Clause,
    parse_filter,
)


def _field(name: str) -> str | None:
    """The record field of attribute ``name`` (``creation_time``: ``creation_timestamp``)."""
    field = LOGGED_MODELS.aliases.get(name, name)
    return field if field in LOGGED_MODELS.numeric + LOGGED_MODELS.strings else None


def _value(rec: dict[str, Any], c: Clause) -> Any:
    if c.kind == ATTRIBUTE:
        return rec.get(c.key)
    if c.kind == TAG:
        return (rec.get("tags") or {}).get(c.key)
    if c.kind == PARAM:
        return (rec.get("params") or {}).get(c.key)
    # a metric: its newest point
    points = [m for m in rec.get("metrics") or [] if m.get("key") == c.key]
    return max(points, key=lambda m: (m["step"], m["timestamp"]))["value"] if points else None


def _matches(rec: dict[str, Any], c: Clause) -> bool:
    got = _value(rec, c)
    if c.op == "IS NULL":
        return got is None
    if c.op == "IS NOT NULL":
        return got is not None
    if got is None:
        return False
    value = c.value
    if isinstance(value, (int, float)):  # metrics and the timestamps
        try:
            got = float(got)
        except (TypeError, ValueError):
            return False
    else:
        got = str(got)
        if c.kind == ATTRIBUTE and c.key == "status":
            value = PROTO_STATUS.get(value.upper(), value.upper())
    return COMPARE[c.op](got, value)


def search_models(
    records: list[dict[str, Any]],
    filter_string: str | None = None,
    order_by: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The records matching MLflow's LoggedModel filter, ordered (newest first by default).

    Raises:
        InvalidParameter: a bad filter or order_by field, naming it.
    """
    clauses = parse_filter(filter_string, LOGGED_MODELS)
    found = [r for r in records if all(_matches(r, c) for c in clauses)]
    found.sort(key=lambda r: (-int(r["creation_timestamp"]), r["model_id"]))
    for spec in reversed(order_by or []):
        name = str(spec.get("field_name", ""))
        field = _field(name.split(".", 1)[-1] if name.startswith("attributes.") else name)
        if field is None:
            raise InvalidParameter(f"Invalid order_by field {name!r} for logged models")
        present = [r for r in found if r.get(field) is not None]
        missing = [r for r in found if r.get(field) is None]
        present.sort(key=lambda r: r[field], reverse=not spec.get("ascending", True))
        found = present + missing
    return found
