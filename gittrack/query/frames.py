"""``search_runs`` as a DataFrame: the runs the engine selects, their columns taken from the
columnar cache (:mod:`gittrack.query.columns`).

:func:`search_frame` selects the matching runs' row ids in order with the one SQL every face
uses (:func:`gittrack.query.engine.plan`), then takes each column's values at those rows
with numpy, instead of decoding each run's JSON documents: the frame
``tests/reference.py``'s ``reference_frame`` makes of the engine's run dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gittrack.query.columns import KINDS, Columns, columns

if TYPE_CHECKING:
    import numpy as np

    from gittrack.query.index import Index


def search_frame(
    index: Index,
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    run_view_type: Any,
    max_results: int,
    order_by: Sequence[str] | None,
    branches: str | Sequence[str] | None,
) -> Any:
    """MLflow's ``search_runs`` DataFrame of up to ``max_results`` matching runs, in order:
    the runs :func:`gittrack.query.engine.search` returns, the columns
    :func:`gittrack.query.search.to_dataframe` makes of them.

    Raises:
        InvalidParameter: for a bad filter, order_by, max_results or branch.
    """
    import numpy as np

    from gittrack.query.engine import plan

    p = plan(index, experiment_ids, filter_string, run_view_type, max_results, order_by, None,
             branches)  # fmt: skip
    conn = index.conn
    conn.execute("BEGIN")  # one snapshot: the generation, the ids and the columns agree
    try:
        rows, _ = p.ids(index)
        live = conn.execute("SELECT rid, status FROM temp.live").fetchall()
        cols = columns(index)
    finally:
        conn.execute("COMMIT")
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    pos = np.searchsorted(cols.arrays["id"], ids)
    if len(pos) and (pos.max() >= cols.rows or (cols.arrays["id"][pos] != ids).any()):
        raise RuntimeError("the column cache does not hold the runs selected")  # a bug
    status = cols.text("status", pos)
    if live:
        where = {rid: i for i, rid in enumerate(ids.tolist())}
        for rid, shown in live:
            i = where.get(rid)
            if i is not None:
                status[i] = shown
    return _frame(cols, pos, status, [r[1] for r in rows] if p.on_branch else None)


def _times(ms: Any) -> Any:
    """UTC datetimes of milliseconds since the epoch (an ``Int64`` array: missing is NaT)."""
    import pandas as pd

    return pd.to_datetime(pd.array(ms, dtype="Int64"), unit="ms", utc=True)


def _frame(cols: Columns, pos: np.ndarray, status: np.ndarray, branches: list[Any] | None) -> Any:
    import numpy as np
    import pandas as pd

    a = cols.arrays
    end_null = a["end_time.null"][pos]

    def text(values: np.ndarray) -> Any:
        # as a list: pandas gives an empty list the dtype it always gave an empty result
        return values if len(values) else []

    data: dict[str, Any] = {
        "run_id": text(cols.text("run_id", pos)),
        "experiment_id": text(cols.text("experiment_id", pos)),
        "status": text(status),
        "artifact_uri": text(cols.text("artifact_uri", pos)),
        "start_time": _times(
            pd.arrays.IntegerArray(a["start_time"][pos], np.zeros(len(pos), bool))
        ),
        "end_time": _times(pd.arrays.IntegerArray(a["end_time"][pos], end_null)),
    }
    for kind in KINDS:
        for key in cols.keys(kind):
            name = f"{kind}.{key}"
            if kind == "metrics":
                if a[name + ".has"][pos].any():
                    data[name] = pd.array(a[name][pos], "float64")
            else:
                codes = a[name][pos]
                if (codes >= 0).any():
                    data[name] = pd.Series(cols.objects(name)[codes], dtype=object)
    data["source.commit"] = pd.Series(cols.text("source_commit", pos), dtype=object)
    data["source.branch"] = pd.Series(cols.text("source_branch", pos), dtype=object)
    dirty = np.array([None, False, True], dtype=object)[a["source_dirty"][pos].astype(np.intp) + 1]
    data["source.dirty"] = pd.Series(dirty, dtype=object)
    if branches is not None:
        data["source.branches"] = [",".join(b.split("\x1f")) if b else "" for b in branches]
    return pd.DataFrame(data)
