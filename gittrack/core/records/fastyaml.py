"""A fast, safe reader for the small YAML files gittrack writes — or a refusal.

Parsing a run's four small record files with PyYAML's safe loader costs about
0.7 ms, mostly in its pure-Python constructor; the index must parse thousands of
runs per second. :func:`load` reads the narrow subset :func:`gittrack.core.records.formats.dump_yaml`
emits for records — block mappings, one ``key: value`` per line, indented by two,
with plain, single-quoted, integer, float, null, bool, ``[]`` and ``{}`` scalars —
and returns :data:`UNSUPPORTED` for anything else (lists, multi-line or
double-quoted strings, anchors, tags, comments, unusual number forms), so the
caller falls back to the safe loader. On what it accepts it yields exactly what
``yaml.safe_load`` yields (tested property-style against PyYAML).
"""

from __future__ import annotations

import re
from typing import Any

UNSUPPORTED: Any = object()
TOO_MANY_KEYS: Any = object()  # what :func:`load` returns for a document over ``max_keys``
# PyYAML refuses an implicit key ("key: value") over 1024 characters; longer keys are
# left to it (and longer scalars are not cached, so a cached value never becomes a key)
_MAX_KEY = 512
_MAX_SCALAR = 1 << 16

# one line: indent, key, then either nothing (a nested mapping follows) or " value"
_LINES = re.compile(r"^( *)([^ '\"\n][^\n]*?|'(?:[^'\n]|'')*'):(?: ([^\n]+))?$", re.M)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_SQUOTED = re.compile(r"'((?:[^'\n]|'')*)'")
# characters a plain scalar may not start with (YAML indicators, and those that
# make the implicit resolvers look for a number, null, bool-ish word, merge or value)
_BAD_START = frozenset("?:,[]{}#&*!|>'\"%@`~= \t")
_NUMERIC_START = frozenset("-+.0123456789")
# YAML 1.1's implicit int, float and timestamp forms (as PyYAML's resolver has them)
_Y11_NUMBER = re.compile(
    r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
    r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_Y11_TIMESTAMP = re.compile(
    r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?"
    r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?"
)
# what PyYAML's reader refuses, plus tabs and the extra line breaks YAML knows
_REFUSE = re.compile(
    "[^\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_WORDS: dict[str, Any] = {
    "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
}  # fmt: skip
_YAML11_BOOLS = frozenset(
    "yes Yes YES no No NO on On ON off Off OFF".split()
)  # bools to PyYAML (YAML 1.1); "y" and "n" are strings there
_SPECIAL = {".nan": float("nan"), ".inf": float("inf"), "-.inf": float("-inf")}


def _plain(text: str) -> Any:
    """A plain (unquoted) scalar, or UNSUPPORTED."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first in _NUMERIC_START:
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if text in _SPECIAL:
            return _SPECIAL[text]
        if first == "-" and (len(text) == 1 or text[1] == " "):
            return UNSUPPORTED  # a block sequence entry
        if _Y11_NUMBER.fullmatch(text) or _Y11_TIMESTAMP.fullmatch(text):
            return UNSUPPORTED  # octal, hex, 1_000, 1:30, dates... leave them to PyYAML
    elif first in _BAD_START:
        if text == "[]":
            return []
        if text == "{}":
            return {}
        return UNSUPPORTED
    if (
        text in _YAML11_BOOLS
        or text == "<<"
        or ": " in text
        or " #" in text
        or text.endswith((":", " "))
    ):
        return UNSUPPORTED
    return text


_cache: dict[str, Any] = {}
_MISS: Any = object()
_DEPTH = {" " * (2 * i): i for i in range(32)}  # indent -> depth; odd indents are absent


def _scalar(text: str) -> Any:
    """A scalar (plain or single-quoted), or UNSUPPORTED. Immutable results are cached."""
    if len(text) > _MAX_SCALAR:
        return UNSUPPORTED  # libyaml's scanner reads a long string ~30x faster than a regex
    if text[0] == "'":
        m = _SQUOTED.fullmatch(text)
        value = m.group(1).replace("''", "'") if m else UNSUPPORTED
    else:
        value = _plain(text)
    if value.__class__ in (list, dict) or value is UNSUPPORTED or len(text) > _MAX_KEY:
        return value  # mutable results are fresh each time; refusals are not cached
    if len(_cache) > 100_000:
        _cache.clear()
    _cache[text] = value
    return value


def load(data: bytes | str, max_keys: int | None = None) -> Any:
    """The YAML mapping in ``data``, or :data:`UNSUPPORTED` when it is outside the subset.

    Empty input gives None, as ``yaml.safe_load`` does. A document in the subset with
    more than ``max_keys`` keys gives :data:`TOO_MANY_KEYS` (nothing is built).
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return UNSUPPORTED
    else:
        text = data
    if not text:
        return None
    if _REFUSE.search(text):
        return UNSUPPORTED
    lines = _LINES.findall(text)
    if len(lines) != text.count("\n") + (text[-1] != "\n"):
        return UNSUPPORTED  # some line is not "key: value" or "key:"
    if max_keys is not None and len(lines) > max_keys:
        return TOO_MANY_KEYS
    root: dict[Any, Any] = {}
    get = _cache.get
    miss = _MISS
    bad = UNSUPPORTED
    if text[0] != " " and "\n " not in text:  # flat: every line is "key: value" at the left
        for _indent, rawkey, rawval in lines:
            key = get(rawkey, miss)
            if key is miss:
                key = _scalar(rawkey) if len(rawkey) <= _MAX_KEY else bad
            if key.__class__ is not str or not rawval:
                return bad
            value = get(rawval, miss)
            if value is miss:
                value = _scalar(rawval)
                if value is bad:
                    return bad
            root[key] = value
        return root
    if text[0] != " " and "\n   " not in text:  # two levels: "key:" then "  key: value" lines
        current: dict[Any, Any] | None = None  # the mapping the indented lines go into
        filled = True  # whether that mapping got at least one entry
        for indent, rawkey, rawval in lines:
            if indent:
                if indent != "  " or current is None or not rawval:
                    return bad
                target = current
                filled = True
            else:
                if not filled:
                    return bad  # "key:" with nothing under it is null; leave it to PyYAML
                target = root
                current = None
            key = get(rawkey, miss)
            if key is miss:
                key = _scalar(rawkey) if len(rawkey) <= _MAX_KEY else bad
            if key.__class__ is not str:
                return bad
            if not rawval:
                current = target[key] = {}
                filled = False
                continue
            value = get(rawval, miss)
            if value is miss:
                value = _scalar(rawval)
                if value is bad:
                    return bad
            target[key] = value
        return root if filled else bad
    stack: list[dict[Any, Any]] = [root]  # stack[i]: the mapping at indent 2*i
    pending: dict[Any, Any] | None = None  # the mapping opened by the previous "key:" line
    depth_of = _DEPTH.get
    for indent, rawkey, rawval in lines:
        depth = depth_of(indent)
        if depth is None:
            return bad
        if pending is not None:
            if depth != len(stack):
                return bad  # "key:" then a line that is not indented under it: a null
            stack.append(pending)
            pending = None
        elif depth >= len(stack):
            return bad
        elif depth + 1 < len(stack):
            del stack[depth + 1 :]
        key = get(rawkey, miss)
        if key is miss:
            key = _scalar(rawkey) if len(rawkey) <= _MAX_KEY else bad
        if key.__class__ is not str:
            return bad
        if not rawval:
            pending = stack[depth][key] = {}
            continue
        value = get(rawval, miss)
        if value is miss:
            value = _scalar(rawval)
            if value is bad:
                return bad
        stack[depth][key] = value
    if pending is not None:
        return bad  # a trailing "key:" is null in YAML; leave it to the safe loader
    return root


# -- the writer's side: a fast emitter for the same subset -------------------------------

# a string PyYAML writes plain when its value resolves to a string: ASCII letters, digits
# and a few marks; a space or ':' inside but never ": ", " :", "  " or at either end
_PLAIN_OUT = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@+=,:()-]*(?: [A-Za-z0-9_./@+=,:()-]+)*")
_WIDTH = 80  # PyYAML folds a plain scalar at a space past this column: such lines go to it
_MAX_OUT_KEY = 100  # PyYAML writes keys over 128 characters as "? key" (complex keys)


_out_cache: dict[str, str | None] = {}


def _out_str(text: str) -> str | None:
    """``text`` as PyYAML's block emitter writes it (plain or single-quoted), or None
    when it is outside the narrow subset this emitter knows (cached: keys repeat)."""
    hit = _out_cache.get(text, _MISS)
    if hit is not _MISS:
        return hit
    out = _out_str_uncached(text)
    if len(text) <= _MAX_KEY:
        if len(_out_cache) > 100_000:
            _out_cache.clear()
        _out_cache[text] = out
    return out


def _out_str_uncached(text: str) -> str | None:
    if not text:
        return "''"
    if not _PLAIN_OUT.fullmatch(text) or ": " in text or text[-1] == ":":
        return None
    value = _plain(text)
    if value is UNSUPPORTED:
        return None  # a YAML 1.1 oddity (yes, 0x1f, 1:30, a date...): PyYAML decides
    if value.__class__ is str:
        return text
    return f"'{text}'"  # it would read back as a number, null or bool: quoted, as PyYAML does


def _out_float(value: float) -> str:
    """PyYAML's SafeRepresenter.represent_float."""
    if value != value:
        return ".nan"
    if value == _INF:
        return ".inf"
    if value == -_INF:
        return "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


_INF = float("inf")


def _out_scalar(value: Any) -> str | None:
    cls = value.__class__
    if cls is str:
        return _out_str(value)
    if cls is int:
        return str(value)
    if cls is float:
        return _out_float(value)
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    return None


def _emit(mapping: dict[Any, Any], indent: str, out: list[str]) -> bool:
    for key, value in mapping.items():
        if key.__class__ is not str or len(key) > _MAX_OUT_KEY:
            return False
        k = _out_str(key)
        if k is None:
            return False
        cls = value.__class__
        if cls is dict:
            if not value:
                out.append(f"{indent}{k}: {{}}\n")
            else:
                out.append(f"{indent}{k}:\n")
                if not _emit(value, indent + "  ", out):
                    return False
            continue
        if cls is list:
            if not value:
                out.append(f"{indent}{k}: []\n")
                continue
            out.append(f"{indent}{k}:\n")
            for item in value:
                s = _out_scalar(item)
                if s is None or item.__class__ in (dict, list):
                    return False
                line = f"{indent}- {s}\n"
                if len(line) > _WIDTH and " " in s:
                    return False
                out.append(line)
            continue
        s = _out_scalar(value)
        if s is None:
            return False
        line = f"{indent}{k}: {s}\n"
        if len(line) > _WIDTH and " " in s:
            return False
        out.append(line)
    return True


def dump(obj: Any) -> str | None:
    """``obj`` as ``yaml.dump(obj, Dumper=<safe, no aliases>, sort_keys=False,
    allow_unicode=True, default_flow_style=False)`` writes it — the same text, tested
    property-style against PyYAML — or None when it holds anything outside the subset
    (then the caller asks PyYAML). Records are small dicts of ASCII scalars; PyYAML's
    pure-Python representer costs ~80 µs per record, this ~8 µs."""
    if obj.__class__ is not dict:
        return None
    if not obj:
        return "{}\n"
    out: list[str] = []
    if not _emit(obj, "", out):
        return None
    return "".join(out)
