"""Reading a :class:`gittrack.query.columns.Columns` as plain values, to compare two of them
whatever their text encodings (the order of a column's values, values listed twice)."""

from __future__ import annotations

import math
from typing import Any


def decoded(cols: Any) -> dict[str, list[Any]]:
    """Column name -> its values, row by row (rows in id order): text decoded (None for
    missing), metrics as ``(present, value)`` with NaN as the string ``"nan"`` (so that
    equal columns compare equal), other arrays as Python values. The row ids are ``"id"``."""
    out: dict[str, list[Any]] = {}
    for name, arr in cols.arrays.items():
        if name.endswith(".has"):
            continue
        if name in cols.uniques:
            out[name] = cols.objects(name)[cols.arrays[name]].tolist()
        elif name.startswith("metrics."):
            out[name] = [
                (bool(has), "nan" if math.isnan(v) else float(v))
                for has, v in zip(cols.arrays[name + ".has"].tolist(), arr.tolist(), strict=True)
            ]
        else:
            out[name] = arr.tolist()
    assert all(len(v) == cols.rows for v in out.values())
    return out
