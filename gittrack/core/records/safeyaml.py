"""YAML from someone else's repository, read within limits — or refused.

:func:`gittrack.core.records.formats.load_yaml` sends everything the fast path
(:mod:`gittrack.core.records.fastyaml`) declines here. PyYAML's own loader is safe
against code execution but not against cost: an 800-byte document of nested aliases
expands to 10⁹ nodes in whatever walks the result, and ~100,000 nested ``[`` overflow
the C stack of its recursive composer. So this module drives libyaml's event parser
(which keeps its state on the heap) and composes the node graph itself, refusing:

* aliases and anchors (gittrack never writes them; a record with one is forged),
* more than :attr:`Limits.max_depth` nested collections,
* more than :attr:`Limits.max_keys` mapping keys or :attr:`Limits.max_nodes` nodes
  (keys, values and collections),
* a mapping key longer than :attr:`Limits.max_key_chars` characters,
* a document longer than :attr:`Limits.max_bytes` bytes,
* parsing that runs past :attr:`Limits.max_seconds` (a backstop; the limits above
  already bound the work).

Whatever passes is built by PyYAML's ``SafeConstructor``, so the result is exactly what
``yaml.safe_load`` gives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Limits:
    """How much one YAML document may cost to read."""

    max_bytes: int = 32 << 20
    """Size of the document (a run's records are kilobytes; 32 MiB is ~200,000 metric
    summaries or artifact entries)."""
    max_depth: int = 160
    """Nested collections. A 250-character param key nests at most 125 deep."""
    max_keys: int = 250_000
    """Mapping keys in the whole document (~35,000 metric summaries or artifact entries)."""
    max_nodes: int = 200_000
    """Scalars plus collections, in a document outside the writer's simple block-mapping
    form (which :mod:`~gittrack.core.records.fastyaml` reads, bounded by ``max_keys``):
    about a second of parsing."""
    max_key_chars: int = 4096
    """Characters of one mapping key (MLflow keys are at most 250; artifact paths
    are longer)."""
    max_seconds: float = 20.0
    """Wall time of one parse: a backstop against what the limits above miss."""


RECORD_LIMITS = Limits()


class UnsafeYAML(yaml.YAMLError):
    """A document refused for its cost or for aliases/anchors, before it is built.

    A :class:`yaml.YAMLError`, so every caller that reports bad YAML reports this too.
    """


def check_size(data: bytes | str, limits: Limits) -> None:
    """Raise :class:`UnsafeYAML` when ``data`` is over ``limits.max_bytes``."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise UnsafeYAML(
            f"{size:,} bytes, over the limit of {limits.max_bytes:,} bytes for a record"
        )


def load(data: bytes | str, limits: Limits = RECORD_LIMITS) -> Any:
    """The one YAML document in ``data``, built with PyYAML's safe constructor.

    Returns None for an empty stream, as ``yaml.safe_load`` does.

    Raises:
        UnsafeYAML: over a limit, or an alias/anchor.
        yaml.YAMLError: anything else PyYAML refuses (syntax, unknown tags, bad bytes).
    """
    check_size(data, limits)
    loader = _Loader(data)
    try:
        node = _compose(loader, limits)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _compose(loader: Any, limits: Limits) -> Any:
    """The node graph of the single document in ``loader``'s stream, built from events
    without recursion; None for an empty stream."""
    deadline = time.monotonic() + limits.max_seconds
    resolve = loader.resolve
    get_event = loader.get_event
    get_event()  # StreamStart
    first = get_event()
    if isinstance(first, StreamEndEvent):
        return None
    if not isinstance(first, DocumentStartEvent):  # pragma: no cover - libyaml guarantees it
        raise yaml.YAMLError(f"expected a document, found {first}")
    # open collections: [node, items]; a mapping's items alternate key, value
    stack: list[tuple[Any, list[Any]]] = []
    root: Any = None
    nodes = keys = 0
    while True:
        event = get_event()
        cls = event.__class__
        if cls is MappingEndEvent or cls is SequenceEndEvent:
            node, items = stack.pop()
            if cls is MappingEndEvent:
                node.value = list(zip(items[0::2], items[1::2]))
            else:
                node.value = items
            node.end_mark = event.end_mark
            if not stack:
                root = node
                break
            continue
        if cls is AliasEvent:
            raise UnsafeYAML(f"an alias (*{event.anchor}) {_where(event)}: records never use them")
        if cls is DocumentEndEvent:
            break  # an empty document (only a scalar could be the root otherwise)
        if getattr(event, "anchor", None) is not None:
            raise UnsafeYAML(f"an anchor (&{event.anchor}) {_where(event)}: records never use them")
        nodes += 1
        if nodes > limits.max_nodes:
            raise UnsafeYAML(f"more than {limits.max_nodes:,} nodes")
        if not nodes & 0x3FFF and time.monotonic() > deadline:
            raise UnsafeYAML(f"parsing took over {limits.max_seconds:g} s")
        tag = event.tag
        if cls is ScalarEvent:
            if tag is None or tag == "!":
                tag = resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if not stack:
                root = node
                break
            parent, items = stack[-1]
            if parent.__class__ is MappingNode and not len(items) & 1:
                keys += 1
                if keys > limits.max_keys:
                    raise UnsafeYAML(f"more than {limits.max_keys:,} keys")
                if len(event.value) > limits.max_key_chars:
                    raise UnsafeYAML(
                        f"a key of {len(event.value):,} characters {_where(event)}, over the "
                        f"limit of {limits.max_key_chars:,}"
                    )
            items.append(node)
            continue
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            if len(stack) >= limits.max_depth:
                raise UnsafeYAML(
                    f"collections nested more than {limits.max_depth} deep {_where(event)}"
                )
            kind = MappingNode if cls is MappingStartEvent else SequenceNode
            if tag is None or tag == "!":
                tag = resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if stack:
                parent, items = stack[-1]
                if parent.__class__ is MappingNode and not len(items) & 1:
                    keys += 1  # a collection as a key: the constructor refuses it later
                items.append(node)
            stack.append((node, []))
            continue
        raise yaml.YAMLError(f"unexpected {event}")  # pragma: no cover
    # exactly one document: what follows must be its end and the stream's
    while True:
        event = get_event()
        if isinstance(event, DocumentEndEvent):
            continue
        if isinstance(event, StreamEndEvent):
            return root
        if isinstance(event, (DocumentStartEvent, StreamStartEvent)):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                None,
                "but found another document",
                cast(Any, event.start_mark),
            )
        raise yaml.YAMLError(f"unexpected {event}")  # pragma: no cover


def _where(event: Any) -> str:
    mark = event.start_mark
    return f"at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
