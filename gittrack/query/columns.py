"""The columnar cache of the index's wide run table: ``.git/gittrack/cache/columns.bin``.

:class:`Columns` holds MLflow's info columns of every indexed run, one column per metric,
param and tag key, and the source columns, as numpy arrays in index row-id order: what a
``search_runs`` DataFrame (:mod:`gittrack.query.frames`) and the UI's per-key run counts
(:func:`gittrack.query.engine.key_counts`) are taken from, instead of decoding each run's
JSON documents or scanning the key tables again. Which runs, in which order, is always the
engine's SQL; the columns only supply values.

The file is derived and safe to delete, keyed by the index's generation
(:meth:`gittrack.query.index.Index.generation`, bumped by SQLite triggers on every change
to a run's row, whoever writes it). Columns of an older generation of the same index file
are brought up to date in place when few rows changed since: the index's change log
(:meth:`~gittrack.query.index.Index.changed_since`) names the row ids removed or added, so
those rows are dropped and the current rows of those ids are built and merged in
(:func:`patch`), instead of building every run's columns again. Otherwise (another index
file, a log that does not reach back, too many changes) they are built whole. It holds no
pickle: a prefix (magic, header length, header CRC32), a JSON header (the generation, the
row count, each column's dtype and offset, the values of text columns, the rows patched
since the last whole build, the body's length and CRC32) and the arrays' raw bytes. A file
that is short or damaged is rebuilt, never trusted; one of another generation is only used
through the change log, read in the same transaction as the rows. It is read, not
memory-mapped: a mapping of a file cut short under it would crash the process. In a
process, the columns of the newest generation stay loaded.

Text columns are dictionary-encoded (int32 codes into the column's values, -1 for missing;
after patches a value may be listed twice, or no longer used), metric columns are float64
plus a presence flag (a metric logged as NaN is present), times int64 plus a null flag.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from gittrack.query.index import Index

log = logging.getLogger(__name__)

MAGIC = b"GTCOLS1\n"
_PREFIX = struct.Struct("<8sQI")  # magic, header length, header CRC32
_ALIGN = 8

# info columns of the wide table: name -> (runs column, kind)
_TEXT = (
    "run_id",
    "experiment_id",
    "status",
    "artifact_uri",
    "source_commit",
    "source_branch",
    "lifecycle",
)
KINDS = ("metrics", "params", "tags")

# a patch takes at most PATCH_ROWS changed row ids plus PATCH_SHARE of the rows, counting
# those patched since the last whole build: beyond, the columns are built whole (which also
# drops the text values patches left unused). Both 0: every change builds them whole.
PATCH_ROWS = 1024
PATCH_SHARE = 0.25
DEDUPE_MAX = 4096  # a patch looks new values up among a text column's values up to this many
# a process that patches the columns it holds writes the file once this many changed row ids
# are not in it (writing costs several patches: the header's values are JSON)
SAVE_EVERY = 256

_lock = threading.Lock()
_loaded: dict[str, Columns] = {}  # cache file path -> the newest columns loaded here


class CacheInvalid(Exception):
    """The cache file cannot be used (missing, short, damaged, of another generation)."""


class Columns:
    """The wide run table of one index generation, column by column (numpy arrays)."""

    def __init__(
        self,
        generation: str,
        arrays: dict[str, np.ndarray],
        uniques: dict[str, list],
        patched: int = 0,
    ):
        self.generation = generation
        self.arrays = arrays  # "id", info columns, "end_time.null", "metrics.k", "metrics.k.has"...
        self.uniques = uniques  # text column -> its values (codes index them)
        self.patched = patched  # changed row ids merged in since the last whole build
        self.unsaved = 0  # changed row ids merged in since read or written by this process
        self._objects: dict[str, np.ndarray] = {}

    @property
    def rows(self) -> int:
        return len(self.arrays["id"])

    def keys(self, kind: str) -> list[str]:
        """The sorted keys of ``kind`` (metrics, params, tags) some run has."""
        prefix = kind + "."
        return sorted(
            name[len(prefix) :]
            for name in self.arrays
            if name.startswith(prefix) and not name.endswith(".has")
        )

    def present(self, kind: str, key: str, pos: np.ndarray | None = None) -> np.ndarray:
        """Which rows (of those at ``pos``, default all) have a value of ``key`` among
        ``kind`` (a NaN metric is a value)."""
        name = f"{kind}.{key}"
        arr = self.arrays[name + ".has" if kind == "metrics" else name]
        if pos is not None:
            arr = arr[pos]
        return arr if kind == "metrics" else arr >= 0

    def drop(self, kind: str, key: str) -> None:
        """Forget the column of ``key`` among ``kind``."""
        name = f"{kind}.{key}"
        for gone in (name, name + ".has"):
            self.arrays.pop(gone, None)
        self.uniques.pop(name, None)
        self._objects.pop(name, None)

    def objects(self, name: str) -> np.ndarray:
        """The distinct values of text column ``name`` as an object array, None last (so
        the code -1 takes None)."""
        got = self._objects.get(name)
        if got is None:
            import numpy as np

            values = self.uniques[name]
            got = np.empty(len(values) + 1, dtype=object)
            got[: len(values)] = values
            got[len(values)] = None
            self._objects[name] = got
        return got

    def text(self, name: str, pos: np.ndarray) -> np.ndarray:
        return self.objects(name)[self.arrays[name][pos]]


# -- building -----------------------------------------------------------------------------


def _encode(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Dictionary-encode ``values`` (None -> -1): (int32 codes, distinct values)."""
    import numpy as np

    table: dict[Any, int] = {}
    codes = np.fromiter(
        (-1 if v is None else table.setdefault(v, len(table)) for v in values),
        dtype=np.int32,
        count=len(values),
    )
    return codes, list(table)


_SELECT = (
    "SELECT id, run_id, experiment_id, status, artifact_uri, source_commit, source_branch,"
    " lifecycle, start_time, end_time, source_dirty, metrics_json, params_json, tags_json"
    " FROM runs"
)


def build(index: Index, generation: str) -> Columns:
    """The columns of the index as it is now (call inside the read transaction that read
    ``generation``)."""
    return _from_rows(generation, index.conn.execute(_SELECT + " ORDER BY id").fetchall())


def _from_rows(generation: str, rows: list[Any]) -> Columns:
    """The columns of ``rows`` (of :data:`_SELECT`, in id order)."""
    import numpy as np

    n = len(rows)
    arrays: dict[str, np.ndarray] = {}
    uniques: dict[str, list[Any]] = {}
    arrays["id"] = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    for i, name in enumerate(_TEXT, start=1):
        arrays[name], uniques[name] = _encode([r[i] for r in rows])
    arrays["start_time"] = np.fromiter((r[8] for r in rows), dtype=np.int64, count=n)
    end = [r[9] for r in rows]
    arrays["end_time"] = np.fromiter((0 if v is None else v for v in end), np.int64, count=n)
    arrays["end_time.null"] = np.fromiter((v is None for v in end), dtype=np.bool_, count=n)
    arrays["source_dirty"] = np.fromiter(
        (-1 if r[10] is None else int(bool(r[10])) for r in rows), dtype=np.int8, count=n
    )
    nan = float("nan")
    for k, kind in enumerate(KINDS):
        docs = json.loads("[" + ",".join([r[11 + k] for r in rows]) + "]")
        cols: dict[str, list[Any]] = {}
        for i, doc in enumerate(docs):  # one pass over the values runs have
            for key, v in doc.items():
                col = cols.get(key)
                if col is None:
                    col = cols[key] = [None] * n
                col[i] = v
        for key, col in cols.items():
            name = f"{kind}.{key}"
            if kind == "metrics":
                arrays[name] = np.array([nan if v is None else v for v in col], dtype=np.float64)
                arrays[name + ".has"] = np.fromiter(
                    (v is not None for v in col), dtype=np.bool_, count=n
                )
            else:
                arrays[name], uniques[name] = _encode(col)
    return Columns(generation, arrays, uniques)


def patch(index: Index, old: Columns, generation: str, changed: Sequence[int]) -> Columns:
    """``old`` brought to ``generation``: without its rows of the ``changed`` row ids, with
    the current rows of those ids (from :meth:`~gittrack.query.index.Index.changed_since`;
    call inside the read transaction that read both). The same values, per row and column,
    as :func:`build` gives."""
    import numpy as np

    rows = index.conn.execute(
        _SELECT + " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(list(changed)),),
    ).fetchall()
    new = _from_rows(generation, rows)
    keep = ~np.isin(old.arrays["id"], np.asarray(changed, dtype=np.int64))
    gone = ~keep
    n_keep, n_new = int(np.count_nonzero(keep)), new.rows
    arrays: dict[str, np.ndarray] = {}
    uniques: dict[str, list[Any]] = {}
    carried: dict[str, np.ndarray] = {}  # decoded values of text columns whose values stay
    for name in [*old.arrays, *(k for k in new.arrays if k not in old.arrays)]:
        o, d = old.arrays.get(name), new.arrays.get(name)
        if name in old.uniques or name in new.uniques:  # text: codes into the values
            values, remap = _unite(old.uniques.get(name, []), new.uniques.get(name, []))
            kept = o[keep] if o is not None else np.full(n_keep, -1, np.int32)
            added = remap[d] if d is not None else np.full(n_new, -1, np.int32)
            uniques[name] = values
            if name in old._objects and values is old.uniques.get(name):
                carried[name] = old._objects[name]
        else:
            sample = o if o is not None else d
            assert sample is not None
            fill: Any = np.nan if sample.dtype == np.float64 else 0
            kept = o[keep] if o is not None else np.full(n_keep, fill, sample.dtype)
            added = d if d is not None else np.full(n_new, fill, sample.dtype)
        arrays[name] = np.concatenate([kept, added])
    ids = arrays["id"]
    if n_keep and n_new and ids[n_keep] < ids[n_keep - 1]:  # an id below a kept one came
        order = np.argsort(ids, kind="stable")
        arrays = {name: arr[order] for name, arr in arrays.items()}
    got = Columns(generation, arrays, uniques, old.patched + len(changed))
    got.unsaved = old.unsaved + len(changed)
    got._objects.update(carried)
    for kind in KINDS:  # a key no run has any more goes, as a build would not have it
        for key in old.keys(kind):
            if old.present(kind, key, gone).any() and not got.present(kind, key).any():
                got.drop(kind, key)
    return got


def _unite(values: list[Any], more: list[Any]) -> tuple[list[Any], np.ndarray]:
    """``values`` followed by those of ``more`` it lacks (looked up while ``values`` has at
    most :data:`DEDUPE_MAX`, else all appended; ``values`` itself when none is added), and
    the code in the result of each value of ``more``, then -1 (so that -1 stays -1)."""
    import numpy as np

    remap = np.empty(len(more) + 1, dtype=np.int32)
    remap[-1] = -1
    if len(values) > DEDUPE_MAX:
        remap[:-1] = np.arange(len(values), len(values) + len(more))
        return [*values, *more], remap
    where: dict[Any, int] = {}
    for i, v in enumerate(values):
        where.setdefault(v, i)
    out = values
    for i, v in enumerate(more):
        code = where.get(v)
        if code is None:
            if out is values:
                out = list(values)
            code = where[v] = len(out)
            out.append(v)
        remap[i] = code
    return out, remap


# -- the file -----------------------------------------------------------------------------


def write(path: Path, cols: Columns) -> None:
    """Write ``cols`` to ``path`` atomically (a temporary file, then a rename)."""
    columns = []
    body = bytearray()
    for name, arr in cols.arrays.items():
        data = arr.tobytes()
        columns.append({"name": name, "dtype": arr.dtype.str, "offset": len(body)})
        body += data
        body += b"\0" * (-len(body) % _ALIGN)
    header = json.dumps(
        {
            "generation": cols.generation,
            "rows": cols.rows,
            "columns": columns,
            "uniques": cols.uniques,
            "patched": cols.patched,
            "body": len(body),
            "crc": zlib.crc32(body),
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-(len(header) + _PREFIX.size) % _ALIGN)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, len(header), zlib.crc32(header)))
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
    except OSError as exc:  # a cache that cannot be written is only slower
        log.warning("cannot write the column cache %s: %s", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read(path: Path, generation: str | None = None) -> Columns:
    """The columns stored in ``path`` (only if of ``generation``, when given).

    Raises:
        CacheInvalid: the file is missing, short, damaged or of another generation.
    """
    import numpy as np

    try:
        # read, not mapped: a mapping of a file cut short under it would crash the process
        buf = path.read_bytes()
    except OSError as exc:
        raise CacheInvalid(f"cannot read: {exc}") from exc
    try:
        if len(buf) < _PREFIX.size:
            raise CacheInvalid("shorter than its prefix")
        magic, header_len, header_crc = _PREFIX.unpack_from(buf, 0)
        start = _PREFIX.size + header_len
        if magic != MAGIC or start > len(buf):
            raise CacheInvalid("not a column cache, or cut short in its header")
        raw = buf[_PREFIX.size : start]
        if zlib.crc32(raw) != header_crc:
            raise CacheInvalid("header checksum mismatch")
        header = json.loads(raw)
        if generation is not None and header["generation"] != generation:
            raise CacheInvalid(f"of generation {header['generation']}, not {generation}")
        if len(buf) != start + header["body"]:
            raise CacheInvalid(f"{len(buf)} bytes, expected {start + header['body']}")
        body = memoryview(buf)[start:]
        if zlib.crc32(body) != header["crc"]:
            raise CacheInvalid("data checksum mismatch")
        n = header["rows"]
        arrays = {}
        for col in header["columns"]:
            dtype = np.dtype(col["dtype"])
            if dtype.hasobject:
                raise CacheInvalid(f"column {col['name']} has an object dtype")
            arrays[col["name"]] = np.frombuffer(body, dtype=dtype, count=n, offset=col["offset"])
        uniques = header["uniques"]
        for name in _TEXT:
            if name not in arrays or name not in uniques:
                raise CacheInvalid(f"column {name} is missing")
        return Columns(header["generation"], arrays, uniques, int(header["patched"]))
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        raise CacheInvalid(f"{type(exc).__name__}: {exc}") from exc


def columns(index: Index) -> Columns:
    """The columns of the index's current generation: kept in this process, else read
    from the cache file; either brought up to date through the index's change log when
    few rows changed since (:func:`caught_up`), else built. The file is written when built
    or patched from the file, and when the copy this process patches holds
    :data:`SAVE_EVERY` changed rows the file lacks. Call inside a read transaction, so that
    the generation, the change log and the rows are of one snapshot."""
    from gittrack.layout import columns_cache_path

    generation = index.generation()
    path = columns_cache_path(index.repo.state_dir)
    key = str(path)
    with _lock:
        mine = _loaded.get(key)
    if mine is not None and mine.generation == generation:
        return mine
    got = None if mine is None else caught_up(index, mine, generation)
    if got is None:
        try:
            stored: Columns | None = read(path)
        except CacheInvalid as exc:
            stored = None
            if path.exists():
                log.debug("column cache %s not used (%s); rebuilding it", path, exc)
        if stored is not None and stored.generation == generation:
            got = stored
        else:
            got = None if stored is None else caught_up(index, stored, generation)
            if got is None:
                got = build(index, generation)
            write(path, got)
            got.unsaved = 0
    elif got.unsaved >= SAVE_EVERY:
        write(path, got)
        got.unsaved = 0
    with _lock:
        _loaded[key] = got
    return got


def caught_up(index: Index, cols: Columns, generation: str) -> Columns | None:
    """``cols`` (of an earlier generation) patched to ``generation`` with the rows the
    index's change log names; None when the log cannot tell or more rows changed than a
    patch should take (:data:`PATCH_ROWS`, :data:`PATCH_SHARE`; counting those patched
    since the last whole build)."""
    limit = PATCH_ROWS + int(cols.rows * PATCH_SHARE) - cols.patched
    if limit <= 0:
        return None
    # a generation names one row id (an UPDATE two): no more generations than ids to take
    changed = index.changed_since(cols.generation, limit)
    if changed is None or len(changed) > limit:
        return None
    return patch(index, cols, generation, changed)


def forget() -> None:
    """Drop the columns loaded in this process (the file stays)."""
    with _lock:
        _loaded.clear()


def key_counts(
    index: Index, experiment_ids: Sequence[str] | None, lifecycles: Sequence[str]
) -> dict[str, dict[str, int]]:
    """``{"metrics"|"params"|"tags": {key: runs having it}}`` over the runs of
    ``experiment_ids`` (None: all) in ``lifecycles``, counted on the columns."""
    import numpy as np

    conn = index.conn
    conn.execute("BEGIN")  # the generation and the rows of one snapshot
    try:
        cols = columns(index)
    finally:
        conn.execute("COMMIT")

    def member(name: str, values: Sequence[str]) -> np.ndarray:
        wanted = [i for i, v in enumerate(cols.uniques[name]) if v in set(values)]
        return np.isin(cols.arrays[name], np.array(wanted, dtype=np.int32))

    mask = member("lifecycle", lifecycles)
    if experiment_ids is not None:
        mask &= member("experiment_id", experiment_ids)
    out: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        counts = out[kind] = {}
        for key in cols.keys(kind):
            n = int(np.count_nonzero(cols.present(kind, key) & mask))
            if n:
                counts[key] = n
    return out
