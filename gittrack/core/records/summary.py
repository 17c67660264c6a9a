"""One record per run summary: ``.gittrack/summary.json``, read instead of four YAML files.

A finished run's checkpoint (:func:`add`, called from
:meth:`gittrack.core.writer.RunWriter._commit`) also writes the documents of its
``run.yaml``, ``params.yaml``, ``tags.yaml`` and ``metrics.yaml`` — each parsed by the one
YAML reader (:func:`gittrack.core.records.formats.load_yaml`) from the very bytes stored
beside it — as one JSON blob, with each file's blob id::

    {"format": 1, "files": {"run.yaml": "<blob id>", ...}, "docs": {"run.yaml": {...}, ...}}

It is a parse cache stored in git, keyed by blob ids: :meth:`gittrack.core.reader.Store.
read_record` takes a document from it only for a file whose blob id in the tree is the one
named, then checks it exactly as a parsed file (shape, keys, run.yaml's fields). A summary
left stale by a later commit that did not rewrite it (a live run's checkpoints, a crafted
change), unreadable, or of another format is ignored: the YAML files are read, as for runs
written before summaries existed. The pre-receive guard refuses a push whose summary names
the right blob ids but holds other documents (``read_record(check_summary=True)``,
:func:`differs`).

Parsing four YAML files of fresh values costs ~100 µs a run; one JSON document ~30 µs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gittrack.layout import METRICS_FILE, PARAMS_FILE, RECORD_DIR, RUN_FILE, SUMMARY_FILE, TAGS_FILE

if TYPE_CHECKING:
    from gittrack.core.pack import PackBuilder

FORMAT = 1
# the writer's names for the records summarised -> their file names
RECORDS = {"run": RUN_FILE, "params": PARAMS_FILE, "tags": TAGS_FILE, "metrics": METRICS_FILE}
PATH = f"{RECORD_DIR}/{SUMMARY_FILE}"
_BLOB = 0o100644


def _plain(value: Any) -> bool:
    """Whether ``value`` comes back from JSON as it is (YAML can also give dates, sets...)."""
    if value is None or value.__class__ in (str, int, float, bool):
        return True
    if value.__class__ is list:
        return all(_plain(v) for v in value)
    if value.__class__ is dict:
        return all(k.__class__ is str and _plain(v) for k, v in value.items())
    return False


def encode(files: dict[str, bytes]) -> bytes | None:
    """The summary of ``files`` (file name -> stored bytes, present files only); None when
    one does not parse or holds a value JSON would not give back the same."""
    import pygit2

    from gittrack.core.records.formats import load_yaml

    ids, docs = {}, {}
    for name, data in files.items():
        try:
            doc = load_yaml(data)
        except Exception:  # noqa: BLE001 - no summary; the reader reports the file itself
            return None
        if not _plain(doc):
            return None
        ids[name] = str(pygit2.hash(data))
        docs[name] = doc
    return json.dumps(
        {"format": FORMAT, "files": ids, "docs": docs}, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def add(
    pack: PackBuilder,
    changes: dict[str, tuple[str, int] | None],
    encode_record: Callable[[str], bytes | None],
) -> None:
    """Add a finished run's summary to a checkpoint: ``changes`` (path in ``.gittrack/`` ->
    (blob id, mode), None to remove) gets the four records (``encode_record(name)`` for
    those this checkpoint did not change) and ``summary.json``. A record whose bytes are
    not at hand is left out of the summary (the reader parses that file)."""
    files: dict[str, bytes] = {}
    for name, file in RECORDS.items():
        entry = changes.get(file, ...)
        data = pack.get(entry[0]) if isinstance(entry, tuple) else None
        if entry is ...:  # unchanged since the last checkpoint: stored again, same blob
            data = encode_record(name)
            changes[file] = None if data is None else (pack.add("blob", data), _BLOB)
        if data is not None:
            files[file] = data
    summary = encode(files)
    changes[SUMMARY_FILE] = None if summary is None else (pack.add("blob", summary), _BLOB)


def docs(data: bytes) -> dict[str, tuple[str, Any]]:
    """``{file name: (blob id, document)}`` of a summary; empty when it is unreadable or of
    another format (it is then ignored)."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            return {}
        files, parsed = doc["files"], doc["docs"]
        return {name: (str(oid), parsed[name]) for name, oid in files.items() if name in parsed}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def _canon(value: Any) -> str:
    """A value as JSON, keys in their order: equal texts, equal documents (types, NaN and
    key order included, which ``==`` would not tell: 1 == 1.0 == True, nan != nan)."""
    return json.dumps(value, default=repr, sort_keys=False)


def differs(summarised: Any, parsed: Any) -> bool:
    """Whether a summary's document is not the one its file parses to."""
    return _canon(summarised) != _canon(parsed)


def mismatch(fast: dict[str, Any], slow: dict[str, Any]) -> str | None:
    """What differs between a record read through its summary and read from its files
    (None: nothing)."""
    for key in ("run", "params", "tags", "metrics"):
        if differs(fast.get(key), slow.get(key)):
            return f"{PATH} does not match {RECORDS[key]}"
    return None


__all__ = ["FORMAT", "PATH", "RECORDS", "add", "differs", "docs", "encode", "mismatch"]
