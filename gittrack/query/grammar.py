"""MLflow's run filter and order-by grammar.

A filter is clauses joined by ``AND``::

    metrics.rmse < 0.5 AND params.lr = '0.01' AND tags.`mlflow.user` LIKE 'ali%'
    attributes.status = 'FINISHED' AND run_id IN ('ab12...', 'cd34...')

Each clause is ``<type>.<key> <op> <value>``. Types and their aliases:
``metric``/``metrics``, ``param``/``params``/``parameter``/``parameters``,
``tag``/``tags``, ``attribute``/``attributes``/``attr``/``run``,
``dataset``/``datasets``; no type means an attribute. Keys with special characters go in
backticks or double quotes.

* metrics, ``start_time`` (alias ``created``), ``end_time``: ``= != > >= < <=``
  with a number;
* params and tags: ``= != LIKE ILIKE`` with a quoted string, ``IS NULL`` /
  ``IS NOT NULL``;
* ``run_id run_name`` (alias ``"run name"``) ``status user_id artifact_uri``:
  ``= != LIKE ILIKE`` with a quoted string; ``run_id`` also ``IN``/``NOT IN
  ('a', 'b')``;
* ``datasets.name``, ``datasets.digest``, ``datasets.context`` (the run's dataset
  inputs; ``context`` is the input's ``mlflow.data.context`` tag): ``= != LIKE ILIKE
  IN NOT IN``; a run matches when one of its inputs does.

``order_by`` is a list of ``"<type>.<key> [ASC|DESC]"`` (attributes as above, plus
``experiment_id``, ``duration`` = end_time - start_time, ``source_branch`` alias
``branch`` and ``source_commit`` alias ``commit``: gittrack's additions, which MLflow
refuses); missing values and NaN sort last in both directions; ties (and no order)
fall back to ``start_time DESC`` then ``run_id``. An entry with trailing whitespace is
refused, as MLflow refuses it.

:func:`parse_filter` and :func:`parse_order_by` raise
:class:`~gittrack.errors.InvalidParameter` naming the position and the token. Each
message starts with MLflow's words for the kind of mistake (:data:`CLAUSE`, ``Invalid
entity type``, ``Invalid attribute key``, ``Invalid comparator``, ...), so code matching
MLflow's messages matches gittrack's.
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

METRIC, PARAM, TAG, ATTRIBUTE, DATASET = "metric", "param", "tag", "attribute", "dataset"

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
    "dataset": DATASET,
    "datasets": DATASET,
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
DATASET_KEYS = ("name", "digest", "context")
DATASET_OPS = STRING_OPS + LIST_OPS

# MLflow's words for each kind of mistake; every message starts with one of them
CLAUSE = "Invalid clause(s) in filter string"
ORDER_CLAUSE = "Invalid order_by clause"
ENTITY = "Invalid entity type"
ATTRIBUTE_KEY = "Invalid attribute key"
DATASET_KEY = "Invalid dataset key"
COMPARATOR = "Invalid comparator"
NULL_ONLY = "IS NULL / IS NOT NULL is only supported for tags and params"
NUMERIC = "Expected numeric value type for metric"
NUMERIC_ATTRIBUTE = "Expected numeric value type for numeric attribute"
IDENTIFIER = "Invalid comparison clause. Expected 'Identifier' found"
UNQUOTED = "Invalid filter value: value is either not quoted or unidentified quote types"
MULTIPLE = "Search filter contained multiple expression"
ORDERING_KEY = "Invalid ordering key"
_OPERATOR_CHARS = re.compile(r"[=!<>~]+")

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
    "Valid types are metrics, params, tags, attributes and datasets "
    "(also metric, param, parameter(s), tag, attribute, attr, run, dataset)",
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

# MLflow's search_logged_models: its attributes, metrics (the newest point), params and tags
LOGGED_MODELS = Entity(
    "logged model",
    {k: v for k, v in _TYPES.items() if v != DATASET and k != "run"},
    ("creation_timestamp", "last_updated_timestamp"),
    ("name", "model_id", "model_type", "status", "source_run_id"),
    aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
    types_hint="Valid types are metrics, params, tags and attributes "
    "(also metric, param, parameter(s), tag, attribute, attr)",
    tag_ops=("=", "!=", "LIKE", "ILIKE"),
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


def _fail(
    text: str, pos: int, what: str, hint: str = "", category: str = CLAUSE
) -> InvalidParameter:
    """The error for ``text`` at ``pos``: ``category`` (MLflow's words for the kind of
    mistake), the position and token, ``what`` is wrong and the ``hint`` to fix it."""
    token = _token_at(text, pos)
    shown = repr(token) if token else "end of input"
    msg = f"{category} at position {pos} ({shown}): {what}"
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

    def __init__(self, text: str, entity: Entity = RUNS, clause: str = CLAUSE) -> None:
        self.text = text
        self.pos = 0
        self.entity = entity
        self.clause_error = clause  # the category of a plain syntax error

    def fail(self, pos: int, what: str, hint: str = "", category: str = "") -> InvalidParameter:
        category = category or self.clause_error
        if self.clause_error == ORDER_CLAUSE and category != ORDER_CLAUSE:
            category += " in order_by clause"
        return _fail(self.text, pos, what, hint, category)

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
                raise self.fail(start, "unterminated quoted string", f"Add the closing {quote}")
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
        text = self.text
        number = _NUMBER.match(text, start)
        if number and not re.match(r"[\w.`\"]", text[number.end() : number.end() + 1]):
            # "1.0 > metrics.acc", "1=1": a value where the key should be
            raise self.fail(
                start,
                "expected a key such as metrics.rmse on the left of the comparison",
                category=IDENTIFIER,
            )
        parts: list[tuple[str, bool]] = []  # (text, was_quoted)
        while True:
            if self.pos >= len(text):
                break
            ch = text[self.pos]
            if ch in '`"':
                parts.append((self.quoted(ch), True))
            else:
                m = _BARE.match(text, self.pos)
                if not m:
                    break
                parts.append((m.group(0), False))
                self.pos = m.end()
            if self.pos < len(text) and text[self.pos] == ".":
                self.pos += 1
                nxt = text[self.pos : self.pos + 1]
                if not nxt or (nxt not in '`"' and not _BARE.match(nxt)):
                    parts.append(("", False))  # "metrics." with no key after the dot
                    break
                continue
            break
        if parts and text[self.pos : self.pos + 1] in ("`", '"', "'"):
            # param`.A, dummy`.A: a quote glued to the end of a key
            raise self.fail(self.pos, "a quote right after a key", "Quote the whole key name")
        if not parts:
            what = "expected a key such as metrics.rmse, params.lr or attributes.status"
            if self.pos < len(text) and text[self.pos] in "()":
                what = "parentheses are not supported; join clauses with AND"
            elif self.pos < len(text) and text[self.pos] == "'":
                what = "a key cannot be in single quotes; use backticks or double quotes"
            raise self.fail(start, what)
        if len(parts) == 1:
            kind, key = ATTRIBUTE, parts[0][0]
            if parts[0][1] and "." in key:
                # `metrics.A`: MLflow reads the type from before the first dot
                raise self.fail(
                    start,
                    f"the quotes take in the type as well: {text[start : self.pos]}",
                    f"Quote the key alone, e.g. {key.split('.', 1)[0]}.`{key.split('.', 1)[1]}`",
                    ENTITY,
                )
        else:
            prefix = parts[0][0]
            known = self.entity.types.get(prefix)
            if known is None:
                raise self.fail(start, f"unknown type {prefix!r}", self.entity.types_hint, ENTITY)
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
                more = "metrics./params./" if METRIC in self.entity.types.values() else ""
                raise self.fail(
                    start,
                    f"invalid attribute key {key!r}",
                    f"Valid {'' if runs else self.entity.name + ' '}attributes are "
                    f"{', '.join(valid)} (or a {more}tags. key)",
                    ATTRIBUTE_KEY,
                )
        elif kind == DATASET:
            if key not in DATASET_KEYS:
                raise self.fail(
                    start,
                    f"invalid dataset key {key!r}",
                    f"Valid dataset keys are {', '.join(DATASET_KEYS)}",
                    DATASET_KEY,
                )
            if order:
                raise self.fail(start, "runs cannot be ordered by their datasets", category=ENTITY)
        elif key == "":
            raise self.fail(start, f"empty {kind} key")
        return kind, key, start

    def operator(self) -> tuple[str, int]:
        self.skip()
        start = self.pos
        text = self.text
        for op in (">=", "<=", "!=", "=", ">", "<"):
            if text.startswith(op, start):
                nxt = text[start + len(op) : start + len(op) + 1]
                if nxt in ("=", "<", ">", "~") or text.startswith("<>", start):
                    break
                self.pos += len(op)
                return op, start
        other = _OPERATOR_CHARS.match(text, start)
        if other and "~" in other.group(0):
            # a comparator of SQL dialects (~, ~=, !~): one MLflow knows and refuses
            self.pos = other.end()
            return other.group(0), start
        word = self.peek_word()
        if word in ("LIKE", "ILIKE", "IN"):
            self.pos += len(word)
            return word, start
        if word == "NOT":
            self.pos += 3
            if self.take_word("IN"):
                return "NOT IN", start
            raise self.fail(start, "expected NOT IN")
        if word == "IS":
            self.pos += 2
            if self.take_word("NULL"):
                return "IS NULL", start
            if self.take_word("NOT") and self.take_word("NULL"):
                return "IS NOT NULL", start
            raise self.fail(start, "expected IS NULL or IS NOT NULL")
        raise self.fail(
            start,
            "expected a comparison operator",
            "Use one of = != > >= < <= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL",
        )

    def _missing_value(self, what: str) -> None:
        """A clause that ends after its operator ("metrics.acc !=") is a syntax error."""
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail(self.pos, f"{what} after the operator")

    def string_value(self, kind: str, key: str) -> str:
        what = f"expected a quoted string value for {_describe(kind, key)}"
        self._missing_value(what)
        text = self.text
        ch = text[self.pos : self.pos + 1]
        if ch in ("'", '"'):
            return self.quoted(ch)
        hint = "Quote it, e.g. 'my-value'"
        number = _NUMBER.match(text, self.pos)
        word = _BARE.match(text, self.pos)
        if number and number.end() == (word.end() if word else number.end()):
            # MLflow: "Expected a quoted string value for parameter|tag|attributes"
            mlflow_kind = {PARAM: "parameter", ATTRIBUTE: "attributes"}.get(kind, kind)
            if kind == DATASET:
                mlflow_kind = "dataset attributes"
            raise self.fail(
                self.pos, what, hint, f"Expected a quoted string value for {mlflow_kind}"
            )
        after = word.end() if word else self.pos
        if ch == "`" or (
            word
            and word.group(0).upper() not in ("TRUE", "FALSE", "NULL")
            and text[after : after + 1] not in ("'", '"')
        ):
            raise self.fail(self.pos, what, hint, UNQUOTED)
        raise self.fail(self.pos, what, hint)

    def number_value(self, kind: str, key: str) -> int | float:
        self._missing_value(f"expected a number for {_describe(kind, key)}")
        start = self.pos
        m = _NUMBER.match(self.text, start)
        end = m.end() if m else start
        if not m or (
            end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._'\"")
        ):
            raise self.fail(
                start,
                f"expected a number for {_describe(kind, key)}",
                "e.g. 0.5 or 1e-3",
                NUMERIC if kind == METRIC else NUMERIC_ATTRIBUTE,
            )
        self.pos = end
        raw = m.group(0)
        if kind == ATTRIBUTE and re.fullmatch(r"[+-]?\d+", raw):
            return int(raw)
        return float(raw)

    def list_value(self) -> tuple[str, ...]:
        self.skip()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.fail(self.pos, "expected a parenthesised list such as ('a', 'b')")
        self.pos += 1
        items: list[str] = []
        while True:
            self.skip()
            ch = self.text[self.pos : self.pos + 1]
            if ch not in ("'", '"'):
                raise self.fail(self.pos, "expected a quoted string in the list")
            items.append(self.quoted(ch))
            self.skip()
            ch = self.text[self.pos : self.pos + 1]
            if ch == ",":
                self.pos += 1
                continue
            if ch == ")":
                self.pos += 1
                return tuple(items)
            raise self.fail(self.pos, "expected ',' or ')' in the list")

    def clause(self) -> Clause:
        kind, key, start = self.identifier()
        op, op_pos = self.operator()
        allowed = _allowed_ops(kind, key, self.entity)
        if op not in allowed:
            category = COMPARATOR
            if op in NULL_OPS and self.entity is RUNS:
                category = NULL_ONLY
            raise self.fail(
                op_pos,
                f"{op} is not supported for {_describe(kind, key)}",
                f"Use one of {' '.join(allowed)}",
                category,
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
                    raise self.fail(self.pos, "expected a clause after AND")
                continue
            word = self.peek_word()
            if word == "OR":
                raise self.fail(self.pos, "OR is not supported", "Join clauses with AND")
            if self.text[self.pos] == ";":
                raise self.fail(
                    self.pos,
                    "';' is not allowed in a filter",
                    "Join clauses with AND",
                    MULTIPLE,
                )
            raise self.fail(self.pos, "expected AND or the end of the filter")


def _describe(kind: str, key: str) -> str:
    return f"attribute {key!r}" if kind == ATTRIBUTE else f"{kind} {key!r}"


def _allowed_ops(kind: str, key: str, entity: Entity = RUNS) -> tuple[str, ...]:
    if kind == METRIC:
        return NUMERIC_OPS
    if kind == PARAM:
        return STRING_OPS + NULL_OPS
    if kind == TAG:
        return entity.tag_ops
    if kind == DATASET:
        return DATASET_OPS
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
    what it may name (:data:`RUNS`, or :data:`EXPERIMENTS` for ``search_experiments``,
    :data:`LOGGED_MODELS` for ``search_logged_models``, ...).

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
        InvalidParameter: for an unknown type or attribute, a direction other than
            ASC/DESC, or whitespace after the entry (MLflow refuses ``"params.p "``).
    """
    if not order_by:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    keys: list[OrderKey] = []
    for entry in order_by:
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidParameter(
                f"{ORDER_CLAUSE} {entry!r}: expected '<key> [ASC|DESC]' (an empty entry)"
            )
        p = _Parser(entry, entity, clause=ORDER_CLAUSE)
        kind, key, _ = p.identifier(order=True)
        ascending = True
        if p.take_word("DESC"):
            ascending = False
        elif p.take_word("ASC"):
            pass
        if not p.at_end():
            word = _BARE.fullmatch(entry, p.pos, len(entry))
            raise p.fail(
                p.pos,
                "expected ASC, DESC or the end of the clause",
                category=ORDERING_KEY if word else ORDER_CLAUSE,
            )
        if entry != entry.rstrip():
            raise p.fail(len(entry.rstrip()), "whitespace after the end of the clause")
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
