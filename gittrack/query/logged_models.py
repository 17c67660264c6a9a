"""Searching logged models: MLflow's LoggedModel filter (``AND``-joined comparisons of
attributes, tags, params and metrics) and order_by over their records.

The records come from :class:`gittrack.core.logged_models.LoggedModelStore`; ``LIKE`` and
``ILIKE`` mean what they mean in run filters (:mod:`gittrack.query.grammar`).
"""

from __future__ import annotations

import re
from typing import Any

from gittrack.core.logged_models import PROTO_STATUS
from gittrack.errors import InvalidParameter
from gittrack.query.grammar import ilike, like

_ATTRS = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run_id",
    "creation_timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}
_CLAUSE = re.compile(
    r"""\s*(?:(?P<kind>attributes?|tags?|params?|metrics?)\.)?
        (?P<key>`[^`]+`|"[^"]+"|[A-Za-z_][\w.]*)\s*
        (?P<op>!=|<=|>=|=|<|>|(?i:not\s+like)|(?i:ilike)|(?i:like))\s*
        (?P<value>'(?:[^']|'')*'|"[^"]*"|[-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*""",
    re.VERBOSE,
)


def _parse_model_filter(text: str) -> list[tuple[str, str, str, Any]]:
    clauses = []
    pos = 0
    while pos < len(text):
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise InvalidParameter(
                f"Invalid logged model filter at position {pos}: {text[pos : pos + 30]!r} "
                "(expected <attribute|tags.k|params.k|metrics.k> <op> <value>, joined by AND)"
            )
        kind = (m.group("kind") or "attribute").rstrip("s")
        key = m.group("key").strip('`"')
        if kind == "attribute":
            if key not in _ATTRS:
                raise InvalidParameter(
                    f"Invalid attribute key {key!r} in logged model filter: expected one of "
                    + ", ".join(sorted(_ATTRS))
                )
            key = _ATTRS[key]
        raw = m.group("value")
        value: Any = raw[1:-1].replace("''", "'") if raw[0] in "'\"" else float(raw)
        clauses.append((kind, key, m.group("op").upper(), value))
        pos = m.end()
        rest = re.match(r"(?i)and\s+", text[pos:])
        if rest:
            pos += rest.end()
        elif pos < len(text):
            raise InvalidParameter(
                f"Invalid logged model filter at position {pos}: expected AND, got "
                f"{text[pos : pos + 20]!r}"
            )
    return clauses


def _matches(rec: dict[str, Any], clause: tuple[str, str, str, Any]) -> bool:
    kind, key, op, value = clause
    if kind == "attribute":
        got: Any = rec.get(key)
        if key == "status" and isinstance(value, str):
            value = PROTO_STATUS.get(value.upper(), value.upper())
    elif kind == "tag":
        got = (rec.get("tags") or {}).get(key)
    elif kind == "param":
        got = (rec.get("params") or {}).get(key)
    else:
        points = [m for m in rec.get("metrics") or [] if m.get("key") == key]
        got = max(points, key=lambda m: (m["step"], m["timestamp"]))["value"] if points else None
    if got is None:
        return False
    if isinstance(value, float):
        try:
            got = float(got)
        except (TypeError, ValueError):
            return False
    else:
        got = str(got)
    if op == "LIKE":
        return like(got, value)
    if op == "ILIKE":
        return ilike(got, value)
    if op == "NOT LIKE":
        return not like(got, value)
    return {
        "=": got == value,
        "!=": got != value,
        "<": got < value,
        "<=": got <= value,
        ">": got > value,
        ">=": got >= value,
    }[op]


def search_models(
    records: list[dict[str, Any]],
    filter_string: str | None = None,
    order_by: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The records matching MLflow's LoggedModel filter, ordered (newest first by default).

    Raises:
        InvalidParameter: a bad filter or order_by field, naming it.
    """
    clauses = _parse_model_filter(filter_string or "")
    found = [r for r in records if all(_matches(r, c) for c in clauses)]
    found.sort(key=lambda r: (-int(r["creation_timestamp"]), r["model_id"]))
    for spec in reversed(order_by or []):
        name = str(spec.get("field_name", ""))
        field = _ATTRS.get(name.split(".", 1)[-1] if name.startswith("attributes.") else name)
        if field is None:
            raise InvalidParameter(f"Invalid order_by field {name!r} for logged models")
        present = [r for r in found if r.get(field) is not None]
        missing = [r for r in found if r.get(field) is None]
        present.sort(key=lambda r: r[field], reverse=not spec.get("ascending", True))
        found = present + missing
    return found
