"""MLflow's run filter and order-by grammar.

A filter is clauses joined by ``AND``::

    metrics.rmse < 0.5 AND params.lr = '0.01' AND tags.`mlflow.user` LIKE 'ali%'
    attributes.status = 'FINISHED' AND run_id IN ('ab12...', 'cd34...')

Each clause is ``<type>.<key> <op> <value>``. Types and their aliases:
``metric``/``metrics``, ``param``/``params``/``parameter``/``parameters``,
``tag``/``tags``, ``attribute``/``attributes``/``attr``/``run``; no type means
an attribute. Keys with special characters go in backticks or double quotes.

* metrics, ``start_time`` (alias ``created``), ``end_time``: ``= != > >= < <=``
  with a number;
* params and tags: ``= != LIKE ILIKE`` with a quoted string, ``IS NULL`` /
  ``IS NOT NULL``;
* ``run_id run_name`` (alias ``"run name"``) ``status user_id artifact_uri``:
  ``= != LIKE ILIKE`` with a quoted string; ``run_id`` also ``IN``/``NOT IN
  ('a', 'b')``.

``order_by`` is a list of ``"<type>.<key> [ASC|DESC]"`` (attributes as above, plus
``experiment_id``, ``duration`` = end_time - start_time, ``source_branch`` alias
``branch`` and ``source_commit`` alias ``commit``); missing values and NaN
sort last in both directions; ties (and no order) fall back to ``start_time
DESC`` then ``run_id``.

:func:`parse_filter` and :func:`parse_order_by` raise
:class:`~gittrack.errors.InvalidParameter` naming the position and the token.
:mod:`gittrack.query.engine` compiles a parsed query to SQL: the only evaluator
production code uses. ``tests/reference.py`` applies a parsed query to plain dicts
in Python: the specification the engine is tested against.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gittrack.errors import InvalidParameter

METRIC, PARAM, TAG, ATTRIBUTE = "metric", "param", "tag", "attribute"

_TYPES = {
    "metric": METRIC,
    "metrics": METRIC,
    "param": PARAM,
    "params": PARAM,
    "parameter": PARAM,
    "parameters": PARAM,
    "tag": TAG,
    "tags": TAG,
    "attribute": ATTRIBUTE,
    "attributes": ATTRIBUTE,
    "attr": ATTRIBUTE,
    "run": ATTRIBUTE,
}
NUMERIC_ATTRIBUTES = ("start_time", "end_time")
STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri")
ATTRIBUTE_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}
# order_by also sorts by these (gittrack's additions: columns of the web UI's runs table)
ORDER_ATTRIBUTES = ("experiment_id", "duration", "source_branch", "source_commit")
ORDER_ALIASES = {"branch": "source_branch", "commit": "source_commit"}
NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
NULL_OPS = ("IS NULL", "IS NOT NULL")
LIST_OPS = ("IN", "NOT IN")

_BARE = re.compile(r"[\w\-/:$]+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]+")
_SPACE = re.compile(r"\s*")
_INT64 = 2**63


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class Entity:
    """What a filter may name for one kind of thing (runs, experiments): its ``type.``
    prefixes, its numeric and string attributes, which attributes take ``IN`` lists,
    and attribute aliases."""

    name: str
    types: dict[str, str]
    numeric: tuple[str, ...]
    strings: tuple[str, ...]
    lists: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    types_hint: str = ""
    tag_ops: tuple[str, ...] = ("=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL")
    order: tuple[str, ...] = ()  # attributes order_by takes (numeric + strings when empty)
    order_aliases: dict[str, str] = field(default_factory=dict)


RUNS = Entity(
    "run",
    _TYPES,
    NUMERIC_ATTRIBUTES,
    STRING_ATTRIBUTES,
    ("run_id",),
    ATTRIBUTE_ALIASES,
    "Valid types are metrics, params, tags and attributes "
    "(also metric, param, parameter(s), tag, attribute, attr, run)",
)
# MLflow's search_experiments filter: name, creation_time, last_update_time and tags
EXPERIMENTS = Entity(
    "experiment",
    {k: v for k, v in _TYPES.items() if v in (TAG, ATTRIBUTE) and k != "run"},
    ("creation_time", "last_update_time"),
    ("name",),
    types_hint="Valid types are tags and attributes (also tag, attribute, attr)",
)

_TAGS_AND_ATTRIBUTES = {k: v for k, v in _TYPES.items() if v in (TAG, ATTRIBUTE) and k != "run"}
# MLflow's search_registered_models: name (= != LIKE ILIKE IN), tags.<key> (= != LIKE ILIKE)
REGISTERED_MODELS = Entity(
    "registered model",
    _TAGS_AND_ATTRIBUTES,
    (),
    ("name",),
    ("name",),
    types_hint="Valid types are tags and attributes (also tag, attribute, attr)",
    tag_ops=("=", "!=", "LIKE", "ILIKE"),
    order=("name", "creation_timestamp", "last_updated_timestamp"),
    order_aliases={"timestamp": "creation_timestamp"},
)
# MLflow's search_model_versions: name, run_id (also IN), source_path, version_number, tags
MODEL_VERSIONS = Entity(
    "model version",
    _TAGS_AND_ATTRIBUTES,
    ("version_number",),
    ("name", "run_id", "source_path"),
    ("name", "run_id"),
    types_hint="Valid types are tags and attributes (also tag, attribute, attr)",
    tag_ops=("=", "!=", "LIKE", "ILIKE"),
    order=("name", "version_number", "creation_timestamp", "last_updated_timestamp"),
    order_aliases={"timestamp": "creation_timestamp"},
)


@dataclass(frozen=True)
class Clause:
    """One parsed comparison: ``kind`` is metric/param/tag/attribute."""

    kind: str
    key: str
    op: str
    value: Any  # float for metrics, int|float for numeric attributes, str, tuple[str], None
    pos: int = 0

    def __str__(self) -> str:
        return f"{self.kind}s.`{self.key}` {self.op} {self.value!r}"


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry."""

    kind: str
    key: str
    ascending: bool = True


def _fail(text: str, pos: int, what: str, hint: str = "") -> InvalidParameter:
    token = _token_at(text, pos)
    shown = repr(token) if token else "end of input"
    msg = f"Invalid filter string at position {pos} ({shown}): {what}"
    if hint:
        msg += f". {hint}"
    msg += f"\n  {text}\n  {' ' * pos}^"
    err = InvalidParameter(msg)
    err.position = pos  # type: ignore[attr-defined]
    err.token = token  # type: ignore[attr-defined]
    return err


def _token_at(text: str, pos: int) -> str:
    if pos >= len(text):
        return ""
    ch = text[pos]
    if ch in "'\"`":
        end = text.find(ch, pos + 1)
        return text[pos : end + 1] if end != -1 else text[pos:]
    m = _BARE.match(text, pos) or re.compile(r"[=!<>]+").match(text, pos)
    return m.group(0) if m else ch


class _Parser:
    """Recursive descent over the raw text, so every error knows its position."""

    def __init__(self, text: str, entity: Entity = RUNS) -> None:
        self.text = text
        self.pos = 0
        self.entity = entity

    # -- low level -----------------------------------------------------------
    def skip(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek_word(self) -> str:
        m = _WORD.match(self.text, self.pos)
        if not m:
            return ""
        end = m.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_."):
            return ""  # part of an identifier such as `and_more` or `in.x`
        return m.group(0).upper()

    def take_word(self, word: str) -> bool:
        self.skip()
        if self.peek_word() == word:
            self.pos += len(word)
            return True
        return False

    def quoted(self, quote: str) -> str:
        """Read a ``quote``-delimited string at pos; a doubled quote is one quote."""
        start = self.pos
        i = start + 1
        out: list[str] = []
        text = self.text
        while True:
            j = text.find(quote, i)
            if j == -1:
                raise _fail(text, start, "unterminated quoted string", f"Add the closing {quote}")
            out.append(text[i:j])
            if text.startswith(quote * 2, j):
                out.append(quote)
                i = j + 2
                continue
            self.pos = j + 1
            return "".join(out)

    # -- grammar -------------------------------------------------------------
    def identifier(self, order: bool = False) -> tuple[str, str, int]:
        """``[type.]key`` -> (kind, key, position); ``order``: an order_by key, which may
        also name one of :data:`ORDER_ATTRIBUTES`."""
        self.skip()
        start = self.pos
        parts: list[tuple[str, bool]] = []  # (text, was_quoted)
        while True:
            if self.pos >= len(self.text):
                break
            ch = self.text[self.pos]
            if ch in '`"':
                parts.append((self.quoted(ch), True))
            else:
                m = _BARE.match(self.text, self.pos)
                if not m:
                    break
                parts.append((m.group(0), False))
                self.pos = m.end()
            if self.pos < len(self.text) and self.text[self.pos] == ".":
                self.pos += 1
                nxt = self.text[self.pos : self.pos + 1]
                if not nxt or (nxt not in '`"' and not _BARE.match(nxt)):
                    parts.append(("", False))  # "metrics." with no key after the dot
                    break
                continue
            break
        if not parts:
            what = "expected a key such as metrics.rmse, params.lr or attributes.status"
            if self.pos < len(self.text) and self.text[self.pos] in "()":
                what = "parentheses are not supported; join clauses with AND"
            elif self.pos < len(self.text) and self.text[self.pos] == "'":
                what = "a key cannot be in single quotes; use backticks or double quotes"
            raise _fail(self.text, start, what)
        if len(parts) == 1:
            kind, key = ATTRIBUTE, parts[0][0]
        else:
            prefix = parts[0][0]
            known = self.entity.types.get(prefix)
            if known is None:
                raise _fail(self.text, start, f"unknown type {prefix!r}", self.entity.types_hint)
            kind = known
            key = ".".join(p for p, _ in parts[1:])
        if kind == ATTRIBUTE:
            key = self.entity.aliases.get(key, key)
            valid: tuple[str, ...] = self.entity.numeric + self.entity.strings
            if order and self.entity is RUNS:
                key = ORDER_ALIASES.get(key, key)
                valid += ORDER_ATTRIBUTES
            elif order and self.entity.order:
                key = self.entity.order_aliases.get(key, key)
                valid = self.entity.order
            if key not in valid:
                runs = self.entity is RUNS
                raise _fail(
                    self.text,
                    start,
                    f"invalid attribute key {key!r}",
                    f"Valid {'' if runs else self.entity.name + ' '}attributes are "
                    f"{', '.join(valid)} (or a {'metrics./params./' if runs else ''}tags. key)",
                )
        elif key == "":
            raise _fail(self.text, start, f"empty {kind} key")
        return kind, key, start

    def operator(self) -> tuple[str, int]:
        self.skip()
        start = self.pos
        text = self.text
        for op in (">=", "<=", "!=", "=", ">", "<"):
            if text.startswith(op, start):
                nxt = text[start + len(op) : start + len(op) + 1]
                if nxt in ("=", "<", ">") or text.startswith("<>", start):
                    break
                self.pos += len(op)
                return op, start
        word = self.peek_word()
        if word in ("LIKE", "ILIKE", "IN"):
            self.pos += len(word)
            return word, start
        if word == "NOT":
            self.pos += 3
            if self.take_word("IN"):
                return "NOT IN", start
            raise _fail(text, start, "expected NOT IN")
        if word == "IS":
            self.pos += 2
            if self.take_word("NULL"):
                return "IS NULL", start
            if self.take_word("NOT") and self.take_word("NULL"):
                return "IS NOT NULL", start
            raise _fail(text, start, "expected IS NULL or IS NOT NULL")
        raise _fail(
            text,
            start,
            "expected a comparison operator",
            "Use one of = != > >= < <= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL",
        )

    def string_value(self, kind: str, key: str) -> str:
        self.skip()
        ch = self.text[self.pos : self.pos + 1]
        if ch in ("'", '"'):
            return self.quoted(ch)
        raise _fail(
            self.text,
            self.pos,
            f"expected a quoted string value for {_describe(kind, key)}",
            "Quote it, e.g. 'my-value'",
        )

    def number_value(self, kind: str, key: str) -> int | float:
        self.skip()
        start = self.pos
        m = _NUMBER.match(self.text, start)
        end = m.end() if m else start
        if not m or (
            end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._'\"")
        ):
            raise _fail(
                self.text,
                start,
                f"expected a number for {_describe(kind, key)}",
                "e.g. 0.5 or 1e-3",
            )
        self.pos = end
        raw = m.group(0)
        if kind == ATTRIBUTE and re.fullmatch(r"[+-]?\d+", raw):
            return int(raw)
        return float(raw)

    def list_value(self) -> tuple[str, ...]:
        self.skip()
        if self.text[self.pos : self.pos + 1] != "(":
            raise _fail(self.text, self.pos, "expected a parenthesised list such as ('a', 'b')")
        self.pos += 1
        items: list[str] = []
        while True:
            self.skip()
            ch = self.text[self.pos : self.pos + 1]
            if ch not in ("'", '"'):
                raise _fail(self.text, self.pos, "expected a quoted string in the list")
            items.append(self.quoted(ch))
            self.skip()
            ch = self.text[self.pos : self.pos + 1]
            if ch == ",":
                self.pos += 1
                continue
            if ch == ")":
                self.pos += 1
                return tuple(items)
            raise _fail(self.text, self.pos, "expected ',' or ')' in the list")

    def clause(self) -> Clause:
        kind, key, start = self.identifier()
        op, op_pos = self.operator()
        allowed = _allowed_ops(kind, key, self.entity)
        if op not in allowed:
            raise _fail(
                self.text,
                op_pos,
                f"{op} is not supported for {_describe(kind, key)}",
                f"Use one of {' '.join(allowed)}",
            )
        value: Any
        if op in NULL_OPS:
            value = None
        elif op in LIST_OPS:
            value = self.list_value()
        elif kind == METRIC or (kind == ATTRIBUTE and key in self.entity.numeric):
            value = self.number_value(kind, key)
        else:
            value = self.string_value(kind, key)
        return Clause(kind, key, op, value, start)

    def filter(self) -> list[Clause]:
        clauses: list[Clause] = []
        if self.at_end():
            return clauses
        while True:
            clauses.append(self.clause())
            if self.at_end():
                return clauses
            if self.take_word("AND"):
                if self.at_end():
                    raise _fail(self.text, self.pos, "expected a clause after AND")
                continue
            word = self.peek_word()
            if word == "OR":
                raise _fail(self.text, self.pos, "OR is not supported", "Join clauses with AND")
            if self.text[self.pos] == ";":
                raise _fail(self.text, self.pos, "';' is not allowed in a filter")
            raise _fail(self.text, self.pos, "expected AND or the end of the filter")


def _describe(kind: str, key: str) -> str:
    return f"attribute {key!r}" if kind == ATTRIBUTE else f"{kind} {key!r}"


def _allowed_ops(kind: str, key: str, entity: Entity = RUNS) -> tuple[str, ...]:
    if kind == METRIC:
        return NUMERIC_OPS
    if kind == PARAM:
        return STRING_OPS + NULL_OPS
    if kind == TAG:
        return entity.tag_ops
    if key in entity.numeric:
        return NUMERIC_OPS
    if key in entity.lists:
        return STRING_OPS + LIST_OPS
    return STRING_OPS


@lru_cache(maxsize=256)
def _parse_filter_cached(text: str, entity: Entity) -> tuple[Clause, ...]:
    return tuple(_Parser(text, entity).filter())


def parse_filter(filter_string: str | None, entity: Entity = RUNS) -> list[Clause]:
    """Parse an MLflow filter into clauses (empty or None: no clauses); ``entity`` says
    what it may name (:data:`RUNS`, or :data:`EXPERIMENTS` for ``search_experiments``).

    Raises:
        InvalidParameter: on any syntax or type error, naming the position and token.
    """
    if not filter_string:
        return []
    if not isinstance(filter_string, str):
        raise InvalidParameter(
            f"filter_string must be a string, not {type(filter_string).__name__}"
        )
    return list(_parse_filter_cached(filter_string, entity))


def parse_order_by(order_by: str | Sequence[str] | None, entity: Entity = RUNS) -> list[OrderKey]:
    """Parse ``order_by`` entries such as ``"metrics.rmse DESC"`` (``entity``: what they
    may name, as :func:`parse_filter`).

    Raises:
        InvalidParameter: for an unknown type or attribute, or a direction other than ASC/DESC.
    """
    if not order_by:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    keys: list[OrderKey] = []
    for entry in order_by:
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidParameter(f"Invalid order_by entry {entry!r}: expected '<key> [ASC|DESC]'")
        p = _Parser(entry, entity)
        try:
            kind, key, _ = p.identifier(order=True)
        except InvalidParameter as exc:
            raise InvalidParameter(
                exc.message.replace("filter string", "order_by clause")
            ) from None
        ascending = True
        if p.take_word("DESC"):
            ascending = False
        elif p.take_word("ASC"):
            pass
        if not p.at_end():
            raise InvalidParameter(
                _fail(entry, p.pos, "expected ASC, DESC or the end of the clause").message.replace(
                    "filter string", "order_by clause"
                )
            )
        keys.append(OrderKey(kind, key, ascending))
    return keys


# --- LIKE -----------------------------------------------------------------------


@lru_cache(maxsize=1024)
def like_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """SQL LIKE as a regex: ``%`` any run of characters, ``_`` one character, no escape."""
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(rx, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like_match(value: str, pattern: str) -> bool:
    """SQL LIKE over the whole value in O(len(value) * len(pattern)) steps: on a mismatch
    only the last ``%`` is retried (a regex of many ``.*`` backtracks exponentially: a
    filter ``LIKE '%0%0%0%0%0%0%1'`` held a server's repository thread for minutes)."""
    i = j = 0
    star, mark = -1, 0
    n, m = len(value), len(pattern)
    while i < n:
        if j < m and pattern[j] == "%":
            star, mark = j, i
            j += 1
        elif j < m and (pattern[j] == "_" or pattern[j] == value[i]):
            i += 1
            j += 1
        elif star >= 0:
            j = star + 1
            mark += 1
            i = mark
        else:
            return False
    while j < m and pattern[j] == "%":
        j += 1
    return j == m


def like(value: str | None, pattern: str | None) -> bool:
    """Case-sensitive SQL LIKE over the whole value."""
    if value is None or pattern is None:
        return False
    return _like_match(value, pattern)


def ilike(value: str | None, pattern: str | None) -> bool:
    """Case-insensitive SQL LIKE over the whole value (Unicode case folding)."""
    if value is None or pattern is None:
        return False
    return _like_match(value.casefold(), pattern.casefold())


# the comparison each operator stands for, for filters evaluated in Python (experiments,
# the registry); IS NULL / IS NOT NULL are handled by the caller
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "LIKE": like,
    "ILIKE": ilike,
    "IN": lambda value, items: value in items,
    "NOT IN": lambda value, items: value not in items,
}


def bind_number(v: int | float) -> int | float:
    """An integer filter value SQLite can bind (beyond int64 it becomes a float)."""
    if isinstance(v, int) and not -_INT64 <= v < _INT64:
        return float(v)
    return v
