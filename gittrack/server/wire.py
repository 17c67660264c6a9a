"""Reading requests and writing responses in MLflow's JSON dialect.

Requests: GET methods take query parameters, POST methods a JSON object.
Values are checked against :mod:`gittrack.server.schema`; a wrong type is a
400 ``INVALID_PARAMETER_VALUE`` naming the field. As protobuf's JSON mapping
does, int64 may arrive as a number or a decimal string and doubles may be
``"NaN"``, ``"Infinity"`` or ``"-Infinity"``.

Responses: ``json.dumps`` with non-finite floats written as those strings, so
the body is valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from gittrack.errors import BadRequest, InvalidParameter
from gittrack.rest.convert import SPECIAL_DOUBLES, wire_number
from gittrack.server.schema import RUN_STATUSES, VIEW_TYPES, Endpoint

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)


def _bad(name: str, value: Any, expected: str) -> InvalidParameter:
    """MLflow's message for a value of the wrong type (the value as compact JSON)."""
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidParameter(
        f"Invalid value {shown} for parameter '{name}' supplied: expected {expected}"
    )


def _string(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(name, v, "a string")
    if "\x00" in v:
        raise _bad(name, v, "a string without NUL characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _bad(name, v, "a string of valid Unicode (no lone surrogates)") from exc
    return v


def _integer(name: str, v: Any, bounds: tuple[int, int], kind: str) -> int:
    if isinstance(v, bool):
        raise _bad(name, v, f"an {kind} integer")
    if isinstance(v, str):
        text = v.strip()
        if not text or not text.lstrip("-").isdigit() or not text.isascii():
            raise _bad(name, v, f"an {kind} integer")
        v = int(text)
    elif isinstance(v, float):
        if not v.is_integer():
            raise _bad(name, v, f"an {kind} integer")
        v = int(v)
    elif not isinstance(v, int):
        raise _bad(name, v, f"an {kind} integer")
    if not bounds[0] <= v <= bounds[1]:
        raise _bad(name, v, f"an {kind} integer (out of range)")
    return v


def _double(name: str, v: Any) -> float:
    if isinstance(v, bool):
        raise _bad(name, v, "a number")
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            raise _bad(name, v, "a number within the 64-bit float range (~1.8e308)") from None
    if isinstance(v, str):
        if v in SPECIAL_DOUBLES:
            return SPECIAL_DOUBLES[v]
        try:
            out = float(v)
        except ValueError:
            pass
        else:
            if math.isfinite(out):
                return out
    raise _bad(name, v, 'a number (or "NaN", "Infinity", "-Infinity")')


def _bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _bad(name, v, "true or false")


def _enum(name: str, v: Any, names: tuple[str, ...]) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= len(names):
        return names[v - 1]
    if isinstance(v, str):
        if v.upper() in names:
            return v.upper()
        if v.isdigit() and 1 <= int(v) <= len(names):
            return names[int(v) - 1]
    raise _bad(name, v, "one of " + ", ".join(names))


def _list(name: str, v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise _bad(name, v, "a list")
    return v


def _object(name: str, v: Any) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise _bad(name, v, "an object")
    return v


def _kv_list(name: str, v: Any) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(_list(name, v)):
        item = _object(f"{name}[{i}]", item)
        if "key" not in item:
            raise InvalidParameter(f"Missing value for required parameter '{name}[{i}].key'")
        key = _string(f"{name}[{i}].key", item["key"])
        value = item.get("value", "")
        out.append((key, _string(f"{name}[{i}].value", value)))
    return out


def _metric_list(name: str, v: Any) -> list[tuple[str, float, int, int]]:
    out = []
    lo, hi = INT64
    for i, item in enumerate(_list(name, v)):
        if type(item) is dict:  # the usual point, taken as is (what the checks below pass)
            key, value, ts = item.get("key"), item.get("value"), item.get("timestamp")
            step = item.get("step")
            if step is None:
                step = 0
            if (
                type(key) is str
                and key
                and key.isascii()
                and "\x00" not in key
                and type(value) is float
                and type(ts) is int
                and 0 <= ts <= hi
                and type(step) is int
                and lo <= step <= hi
            ):
                out.append((key, value, ts, step))
                continue
        out.append(_metric(name, i, item))
    return out


def _metric(name: str, i: int, item: Any) -> tuple[str, float, int, int]:
    """Item ``i`` of the metric list ``name``, checked field by field."""
    item = _object(f"{name}[{i}]", item)
    for req in ("key", "value", "timestamp"):  # MLflow requires all three
        if item.get(req) is None or item.get(req) == "":
            raise InvalidParameter(f"Missing value for required parameter '{name}[{i}].{req}'.")
    key = _string(f"{name}[{i}].key", item["key"])
    value = _double(f"{name}[{i}].value", item["value"])
    ts = _integer(f"{name}[{i}].timestamp", item["timestamp"], (0, INT64[1]), "int64")
    step = item.get("step")
    step = 0 if step is None else _integer(f"{name}[{i}].step", step, INT64, "int64")
    return key, value, ts, step


def convert(name: str, kind: str, v: Any) -> Any:
    """``v`` as the Python value of a field of type ``kind``; raise naming ``name``."""
    if kind in ("string", "path"):
        return _string(name, v)
    if kind == "int64":
        return _integer(name, v, INT64, "int64")
    if kind == "int32":
        return _integer(name, v, INT32, "int32")
    if kind == "double":
        return _double(name, v)
    if kind == "bool":
        return _bool(name, v)
    if kind == "view_type":
        return _enum(name, v, VIEW_TYPES)
    if kind == "run_status":
        return _enum(name, v, RUN_STATUSES)
    if kind == "string[]":
        return [_string(f"{name}[{i}]", x) for i, x in enumerate(_list(name, v))]
    if kind == "kv[]":
        return _kv_list(name, v)
    if kind == "metric[]":
        return _metric_list(name, v)
    if kind in ("inputs[]", "models[]"):
        return [_object(f"{name}[{i}]", x) for i, x in enumerate(_list(name, v))]
    raise AssertionError(f"unknown field type {kind}")  # pragma: no cover


def parse(endpoint: Endpoint, data: Mapping[str, Any], *, query: Any = None) -> dict[str, Any]:
    """The checked arguments of one request; absent optional fields are left out.

    ``data`` is the decoded JSON object (POST) or the query parameters (GET;
    pass the multi-dict as ``query`` so list fields can repeat).

    Raises:
        InvalidParameter: a required field is missing or a value has the wrong type.
    """
    out: dict[str, Any] = {}
    for name, (kind, required) in endpoint.fields.items():
        if query is not None and kind == "string[]":
            raw: Any = query.getlist(name) or None
        else:
            raw = data.get(name)
        if raw is None:
            if required:
                raise InvalidParameter(f"Missing value for required parameter '{name}'")
            continue
        out[name] = convert(name, kind, raw)
    return out


def decode_json_body(body: bytes) -> dict[str, Any]:
    """The JSON object in a request body (``{}`` for an empty body).

    Raises:
        BadRequest: the body is not UTF-8 JSON or not an object.
    """
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest(f"Request body must be a JSON object, not {type(data).__name__}")
    return data


def _sanitize(obj: Any) -> Any:
    if isinstance(obj, float):
        return wire_number(obj)
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """Strict JSON for a response body (NaN and ±inf as strings)."""
    try:
        text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_sanitize(obj), allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")
