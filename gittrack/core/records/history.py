"""Metric histories out of a run commit: chunks found, decoded and cached in one place.

A metric's history is ``.gittrack/metrics/<key>/NNNNNN.tsv``, 10,000 points per
chunk. Every reader — :class:`gittrack.core.reader.Store`, the web UI's charts,
the SQL mirror — gets points through :func:`load_chunk`, which tries the
decoded-chunk cache (:mod:`gittrack.core.records.chunkcache`, keyed by blob id:
a chunk never changes once written) and otherwise decodes the TSV with
:func:`gittrack.core.records.formats.decode_points` and caches full chunks.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from gittrack.core.records import chunkcache
from gittrack.core.records.formats import CHUNK_POINTS, decode_points, key_to_filename
from gittrack.errors import CorruptRecord
from gittrack.layout import METRICS_DIR, record_path

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

Points = tuple[list[int], list[float], list[int]]
Arrays = tuple[array, array, array]


def metric_tree(git: Any, commit: str) -> Any | None:
    """The ``.gittrack/metrics`` tree of run commit ``commit``, or None when it has none."""
    import pygit2

    tree = git[commit].peel(pygit2.Tree)
    try:
        return git[tree[record_path(METRICS_DIR)].id]
    except KeyError:
        return None


def history_chunks(git: Any, commit: str, key: str) -> list[tuple[str, str]] | None:
    """``(name, blob id)`` of every history chunk of ``key`` in run commit ``commit``, in
    order; None when the run has no metric ``key``."""
    mdir = metric_tree(git, commit)
    if mdir is None:
        return None
    try:
        entry = mdir[key_to_filename(key)]
    except KeyError:
        return None
    return chunk_list(git[entry.id])


def chunk_list(key_tree: Any) -> list[tuple[str, str]]:
    """``(name, blob id)`` of the chunk blobs in one metric's tree, in order."""
    return sorted((e.name, str(e.id)) for e in key_tree if e.type_str == "blob")


def _decode(repo: Repo, git: Any, oid: str, run: str, key: str, name: str) -> Points:
    try:
        points = decode_points(git[oid].data)
    except ValueError as exc:
        raise CorruptRecord(run, f"metric {key!r} chunk {name}: {exc}") from exc
    if len(points[0]) >= CHUNK_POINTS:
        chunkcache.store(repo, oid, *points)
    return points


def load_chunk(repo: Repo, git: Any, oid: str, *, run: str, key: str, name: str) -> Points:
    """``(steps, values, timestamps)`` of one history chunk (blob ``oid``), from the
    decoded-chunk cache when it has it, else decoded from git (and cached when full).

    Raises:
        CorruptRecord: the chunk cannot be parsed (names the run, key and chunk).
    """
    cached = chunkcache.load(repo, oid)
    if cached is not None:
        return cached
    return _decode(repo, git, oid, run, key, name)


def load_chunk_arrays(repo: Repo, git: Any, oid: str, *, run: str, key: str, name: str) -> Arrays:
    """As :func:`load_chunk`, as machine arrays (``int64``, ``float64``, ``int64``) that
    ``numpy.frombuffer`` reads without copying.

    Raises:
        CorruptRecord: the chunk cannot be parsed, or a step/timestamp is outside int64.
    """
    cached = chunkcache.load_arrays(repo, oid)
    if cached is not None:
        return cached
    steps, values, stamps = _decode(repo, git, oid, run, key, name)
    try:
        return array("q", steps), array("d", values), array("q", stamps)
    except OverflowError as exc:
        raise CorruptRecord(run, f"metric {key!r} chunk {name}: {exc}") from exc


def load_history(
    repo: Repo, git: Any, chunks: list[tuple[str, str]], *, run: str, key: str
) -> Points:
    """Every point of the chunks ``chunks`` (from :func:`history_chunks`), in order.

    Raises:
        CorruptRecord: a chunk cannot be parsed.
    """
    steps: list[int] = []
    values: list[float] = []
    stamps: list[int] = []
    for name, oid in chunks:
        s, v, t = load_chunk(repo, git, oid, run=run, key=key, name=name)
        steps += s
        values += v
        stamps += t
    return steps, values, stamps
