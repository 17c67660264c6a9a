"""Encoding of run records: safe YAML, metric TSV chunks, file names for keys.

YAML is only ever read with a safe loader (the C one when PyYAML has it), so a
record with ``!!python/object`` tags cannot run code: it fails to load.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

import yaml

from gittrack.core.records import fastyaml
from gittrack.layout import RECORD_DIR as RECORD_DIR  # re-exported for readers

try:
    _Loader: type = yaml.CSafeLoader
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

FORMAT_VERSION = 1
CHUNK_POINTS = 10_000  # metric points per TSV chunk


def load_yaml(data: bytes | str) -> Any:
    """Parse YAML with the safe loader; raise ``yaml.YAMLError`` on bad input.

    The simple block mappings records hold take a fast path (:mod:`gittrack.core.records.fastyaml`)
    that gives the same result; anything else goes to PyYAML's safe loader.
    """
    value = fastyaml.load(data)
    if value is not fastyaml.UNSUPPORTED:
        return value
    return yaml.load(data, Loader=_Loader)  # noqa: S506 - safe loader


def dump_yaml(obj: Any) -> bytes:
    """Block-style YAML in insertion order, UTF-8."""
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    ).encode("utf-8")


def yaml_scalar(value: Any) -> Any:
    """Return ``value`` as a plain type the safe dumper can write, keeping its type."""
    if value is None or isinstance(value, (str, bool)):
        return value if type(value) in (str, bool) or value is None else str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


# --- metric key <-> file name -------------------------------------------------


def key_to_filename(key: str) -> str:
    """A metric key as one tree entry name: '/', ':', ' ' and a leading '.' escaped.

    '%' cannot appear in a valid key, so the encoding is reversible.
    """
    name = quote(key, safe="-_.")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name


def filename_to_key(name: str) -> str:
    return unquote(name)


# --- metric history TSV -------------------------------------------------------


def point_lines(points: Iterable[tuple[str, float, int, int]]) -> list[str]:
    """The TSV lines (``step<TAB>value<TAB>timestamp``) of buffered ``(key, value, step,
    timestamp)`` points; values in shortest round-trip form (``nan``, ``inf`` included)."""
    return [f"{p[2]}\t{p[1]!r}\t{p[3]}\n" for p in points]


def decode_points(data: bytes) -> tuple[list[int], list[float], list[int]]:
    """Parse a TSV chunk into (steps, values, timestamps)."""
    toks = data.split()
    if len(toks) % 3:
        raise ValueError("metric history chunk has a truncated line")
    steps = list(map(int, toks[0::3]))
    values = list(map(float, toks[1::3]))
    stamps = list(map(int, toks[2::3]))
    return steps, values, stamps


# --- params: flat dotted keys <-> readable tree -------------------------------


def nest_params(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"optimizer.lr": 0.1}`` into ``{"optimizer": {"lr": 0.1}}`` where no
    key conflicts; keys that would conflict stay flat. ``flatten_params`` inverts it."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) == 1 or any(p == "" for p in parts):
            if key in tree and isinstance(tree[key], dict):
                tree.setdefault(None, {})[key] = value  # type: ignore[index]
            else:
                tree[key] = value
            continue
        node = tree
        ok = True
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            elif not isinstance(child, dict):
                ok = False
                break
            node = child
        if ok and parts[-1] not in node:
            node[parts[-1]] = value
        else:
            tree.setdefault(None, {})[key] = value  # type: ignore[index]
    # Conflicting flat keys go under a quoted literal section.
    literal = tree.pop(None, None)  # type: ignore[call-overload]
    if literal:
        tree["__flat__"] = literal
    return tree


def flatten_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "__flat__" and not prefix and isinstance(value, dict):
            out.update(value)
            continue
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten_params(value, full + "."))
        else:
            out[full] = value
    return out


def param_str(value: Any) -> str:
    """MLflow's string form of a param value."""
    return value if type(value) is str else str(value)
