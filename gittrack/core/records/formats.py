"""Encoding of run records: safe YAML, metric TSV chunks, file names for keys.

YAML is only ever read through :func:`load_yaml`: a safe loader (a record with
``!!python/object`` tags cannot run code: it fails to load) within the limits of
:mod:`gittrack.core.records.safeyaml` (size, nesting, keys, no aliases or anchors),
so a record crafted to cost gigabytes or minutes is refused in milliseconds.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

import yaml

from gittrack.core.records import fastyaml, safeyaml
from gittrack.core.records.safeyaml import RECORD_LIMITS, Limits, UnsafeYAML
from gittrack.layout import RECORD_DIR as RECORD_DIR  # re-exported for readers

try:
    _SafeDumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _SafeDumper = yaml.SafeDumper


class _Dumper(_SafeDumper):
    """The safe dumper, writing an object met twice twice: records never hold anchors
    or aliases (the reader refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


__all__ = ["RECORD_LIMITS", "Limits", "UnsafeYAML", "load_yaml", "dump_yaml"]

FORMAT_VERSION = 1
CHUNK_POINTS = 10_000  # metric points per TSV chunk


def new_run_record(
    run_id: str,
    *,
    name: str,
    experiment_id: str,
    start_time: int,
    user: str,
    source: dict[str, Any] | None,
    parent_run_id: str | None,
    heartbeat: int,
    host: str = "",
    pid: int | None = None,
    command: str = "",
    source_name: str = "",
    source_type: str = "UNKNOWN",
) -> dict[str, Any]:
    """The ``run.yaml`` record of a new run: RUNNING, active, no end time, its artifacts
    under ``runs:/<run_id>``."""
    from gittrack.core.entities import RunStatus

    return {
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "name": name,
        "experiment_id": experiment_id,
        "status": RunStatus.RUNNING,
        "start_time": start_time,
        "end_time": None,
        "user": user,
        "host": host,
        "pid": pid,
        "command": command,
        "source_name": source_name,
        "source_type": source_type,
        "source": source,
        "parent_run_id": parent_run_id,
        "lifecycle": "active",
        "heartbeat": heartbeat,
        "artifact_uri": f"runs:/{run_id}",
    }


def load_yaml(data: bytes | str, limits: Limits = RECORD_LIMITS) -> Any:
    """The one YAML document in ``data``, as ``yaml.safe_load`` would build it, or a refusal.

    The simple block mappings records hold take a fast path
    (:mod:`gittrack.core.records.fastyaml`) that gives the same result; anything else
    goes to PyYAML's safe constructor through :func:`gittrack.core.records.safeyaml.load`.

    Raises:
        UnsafeYAML: over one of ``limits``, or an alias/anchor (a ``yaml.YAMLError``).
        yaml.YAMLError: not YAML, not UTF-8, or a tag the safe loader refuses.
    """
    safeyaml.check_size(data, limits)
    value = fastyaml.load(data, limits.max_keys)
    if value is fastyaml.TOO_MANY_KEYS:
        raise UnsafeYAML(f"more than {limits.max_keys:,} keys")
    if value is not fastyaml.UNSUPPORTED:
        return value
    return safeyaml.load(data, limits)


def dump_yaml(obj: Any) -> bytes:
    """Block-style YAML in insertion order, UTF-8 (the common records through
    :func:`gittrack.core.records.fastyaml.dump`, the same text PyYAML writes)."""
    text = fastyaml.dump(obj)
    if text is not None:
        return text.encode("ascii")
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

FLAT_SECTION = "(flat)"
"""The params.yaml section of keys kept flat. Parentheses cannot occur in a valid key,
so no param can be mistaken for it: every key round-trips."""
OLD_FLAT_SECTION = "__flat__"
"""The flat section's name before format change of issue 12, still read. A key whose
first part is ``__flat__`` is always written into :data:`FLAT_SECTION`."""


def nest_params(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"optimizer.lr": 0.1}`` into ``{"optimizer": {"lr": 0.1}}`` where no
    key conflicts; keys that would conflict stay flat, under :data:`FLAT_SECTION`.
    ``flatten_params`` inverts it exactly for every valid key."""
    tree: dict[str, Any] = {}
    literal: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] == OLD_FLAT_SECTION:
            literal[key] = value  # nested, it would read back as an old flat section
            continue
        if len(parts) == 1 or any(p == "" for p in parts):
            if key in tree and isinstance(tree[key], dict):
                literal[key] = value
            else:
                tree[key] = value
            continue
        node = tree
        ok = True
        for p in parts[:-1]:
            if p not in node:
                child = node[p] = {}
            else:
                child = node[p]  # a None value is a value, not a free slot
            if not isinstance(child, dict):
                ok = False
                break
            node = child
        if ok and parts[-1] not in node:
            node[parts[-1]] = value
        else:
            literal[key] = value
    if literal:
        tree[FLAT_SECTION] = literal
    return tree


def flatten_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The flat ``{dotted key: value}`` of a params.yaml tree (:func:`nest_params`'s inverse).

    Raises:
        ValueError: the tree names one key twice (a record no writer makes).
    """
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in out:
            raise ValueError(f"params.yaml holds the param {key!r} twice")
        out[key] = value

    for key, value in tree.items():
        if not prefix and key in (FLAT_SECTION, OLD_FLAT_SECTION) and isinstance(value, dict):
            for k, v in value.items():
                put(k, v)
            continue
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            for k, v in flatten_params(value, full + ".").items():
                put(k, v)
        else:
            put(full, value)
    return out


def param_str(value: Any) -> str:
    """MLflow's string form of a param value."""
    return value if type(value) is str else str(value)
