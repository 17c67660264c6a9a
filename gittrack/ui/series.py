"""Metric histories for charts: read from the run's TSV chunks, downsampled to the chart's width.

A chart a few hundred pixels wide cannot show a million points, but it must
show the spikes. The series is cut into as many buckets as the chart has
pixels and each bucket keeps its minimum and its maximum point (and the first
and last point of the range), so the drawn envelope is exactly the envelope of
the full series. A zoomed range is answered at full resolution once it holds
few enough points.

Chunks are read through :mod:`gittrack.core.records.history`, the one decoder and
decoded-chunk cache every reader shares (chunks never change once written, so a
live run only costs decoding its newest chunk on each refresh); cached chunks
become numpy arrays without copying.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gittrack.core.records import history
from gittrack.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    import numpy as np

    from gittrack.ui.context import UIContext

MAX_BUCKETS = 4000


def load_points(ctx: UIContext, sha: str, key: str) -> np.ndarray:
    """All points of metric ``key`` in run commit ``sha`` as ``(n, 3)`` rows, in logged order.

    Raises:
        NotFound: the run has no metric ``key``.
        CorruptRecord: a chunk cannot be parsed.
    """
    import numpy as np

    with ctx.lock:
        sub = ctx.store.metric_dir(sha[:12], sha, key)  # refuses what is not a folder
        if sub is None:
            raise NotFound(f"Metric {key!r} not found in this run")
        chunks = history.chunk_list(sub)
    parts = []
    for name, oid in chunks:
        with ctx.lock:
            parts.append(
                history.load_chunk_arrays(ctx.repo, ctx.git, oid, run=sha[:12], key=key, name=name)
            )
    out = np.empty((sum(len(p[0]) for p in parts), 3))
    row = 0
    for part in parts:
        n = len(part[0])
        for col, (arr, dtype) in enumerate(
            zip(part, (np.int64, np.float64, np.int64), strict=True)
        ):
            out[row : row + n, col] = np.frombuffer(arr, dtype=dtype)
        row += n
    return out


def bucket_indices(x: np.ndarray, y: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of the points to draw: first, last, and min and max of each bucket.

    ``x`` must be sorted ascending. Buckets have equal width in ``x``; the result
    is sorted and has at most ``2 * buckets + 2`` entries.
    """
    import numpy as np

    n = len(x)
    if n <= 2 * buckets + 2:
        return np.arange(n)
    lo, hi = x[0], x[-1]
    span = hi - lo
    if span <= 0:
        b = (np.arange(n) * buckets // n).astype(np.int64)
    else:
        b = np.minimum(((x - lo) / span * buckets).astype(np.int64), buckets - 1)
    # segment starts of each non-empty bucket (x sorted, so b is non-decreasing)
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    finite = np.isfinite(y)
    y_min = np.where(finite, y, np.inf)
    y_max = np.where(finite, y, -np.inf)
    seg_min = np.minimum.reduceat(y_min, starts)
    seg_max = np.maximum.reduceat(y_max, starts)
    seg_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    is_min = y_min == seg_min[seg_of]
    is_max = y_max == seg_max[seg_of]
    # first matching index per segment for min and for max
    idx = np.arange(n)
    first_min = np.full(len(starts), n)
    first_max = np.full(len(starts), n)
    np.minimum.at(first_min, seg_of[is_min], idx[is_min])
    np.minimum.at(first_max, seg_of[is_max], idx[is_max])
    keep = np.concatenate([[0, n - 1], first_min[first_min < n], first_max[first_max < n]])
    return np.unique(keep)


def series(
    ctx: UIContext,
    run_id: str,
    key: str,
    *,
    x: str = "step",
    x_min: float | None = None,
    x_max: float | None = None,
    width: int = 800,
) -> dict[str, Any]:
    """A chart-ready series of metric ``key``: downsampled to ``width`` buckets, min/max kept.

    ``x`` is ``step`` or ``time`` (the axis the range ``x_min``..``x_max`` is in).
    Returns ``{key, total, in_range, downsampled, step, value, timestamp}``; values that
    are NaN or infinite come back as ``null``.

    Raises:
        InvalidParameter: ``x`` or ``width`` is invalid.
        NotFound: the run or metric does not exist.
    """
    import numpy as np

    if x not in ("step", "time"):
        raise InvalidParameter(f"Invalid x axis {x!r}: expected 'step' or 'time'")
    if width < 1:
        raise InvalidParameter(f"Invalid width {width}: must be ≥ 1")
    buckets = min(width, MAX_BUCKETS)
    full, sha = ctx.resolve(run_id)
    pts = load_points(ctx, sha, key)
    col = 0 if x == "step" else 2
    xs = pts[:, col]
    if len(xs) > 1 and np.any(xs[1:] < xs[:-1]):
        order = np.argsort(xs, kind="stable")
        pts = pts[order]
        xs = pts[:, col]
    total = len(pts)
    if x_min is not None or x_max is not None:
        lo = np.searchsorted(xs, x_min, "left") if x_min is not None else 0
        hi = np.searchsorted(xs, x_max, "right") if x_max is not None else total
        # one point beyond each edge so lines reach the border of the zoomed chart
        pts = pts[max(lo - 1, 0) : min(hi + 1, total)]
    in_range = len(pts)
    keep = bucket_indices(pts[:, col], pts[:, 1], buckets)
    sel = pts[keep]
    values = sel[:, 1]
    finite = np.isfinite(values)
    value_list: list[float | None] = values.tolist()
    if not finite.all():
        value_list = [v if f else None for v, f in zip(value_list, finite.tolist(), strict=True)]
    return {
        "run_id": full,
        "key": key,
        "total": total,
        "in_range": in_range,
        "downsampled": len(sel) < in_range,
        "step": sel[:, 0].astype(np.int64).tolist(),
        "value": value_list,
        "timestamp": sel[:, 2].astype(np.int64).tolist(),
    }
