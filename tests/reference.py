"""The reference evaluator: MLflow's filter and order_by applied to plain dicts in Python.

The specification :mod:`gittrack.query.engine` (SQL over the index) is tested against
(``tests/test_search_property.py``, ``benchmarks/w2_query.py``). No production code
calls it: every face of gittrack (Python, CLI, REST, web UI) searches through the engine.

A run is ``{"run_id", "run_name", "status", "user_id", "start_time", "end_time",
"artifact_uri", "metrics": {k: float}, "params": {k: str}, "tags": {k: str}}``, and
optionally ``"datasets": [{"name", "digest", "context"}]`` (context None when untagged).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from gittrack.query.grammar import DATASET, METRIC, PARAM, TAG, Clause, OrderKey, ilike, like

__all__ = ["clause_matches", "filter_runs", "reference_frame", "sort_runs"]


def _lookup(run: dict[str, Any], kind: str, key: str) -> Any:
    if kind == METRIC:
        return run["metrics"].get(key)
    if kind == PARAM:
        return run["params"].get(key)
    if kind == TAG:
        return run["tags"].get(key)
    return run.get(key)


def clause_matches(run: dict[str, Any], c: Clause) -> bool:
    """Whether one run satisfies one clause (a missing value never matches; a dataset
    clause holds when it holds for one of the run's dataset inputs)."""
    if c.kind == DATASET:
        return any(_compare(d.get(c.key), c.op, c.value) for d in run.get("datasets") or [])
    return _compare(_lookup(run, c.kind, c.key), c.op, c.value)


def _compare(lhs: Any, op: str, v: Any) -> bool:
    if op == "IS NULL":
        return lhs is None
    if op == "IS NOT NULL":
        return lhs is not None
    if lhs is None:
        return False
    if op == "=":
        return lhs == v
    if op == "!=":
        return lhs != v
    if op == ">":
        return lhs > v
    if op == ">=":
        return lhs >= v
    if op == "<":
        return lhs < v
    if op == "<=":
        return lhs <= v
    if op == "LIKE":
        return like(lhs, v)
    if op == "ILIKE":
        return ilike(lhs, v)
    if op == "IN":
        return lhs in v
    if op == "NOT IN":
        return lhs not in v
    raise AssertionError(op)  # pragma: no cover - the parser allows no other operator


def filter_runs(runs: Iterable[dict[str, Any]], clauses: Sequence[Clause]) -> list[dict[str, Any]]:
    """The runs that satisfy every clause, in their given order."""
    return [r for r in runs if all(clause_matches(r, c) for c in clauses)]


def sort_runs(runs: Iterable[dict[str, Any]], order: Sequence[OrderKey]) -> list[dict[str, Any]]:
    """Sort as MLflow: by ``start_time DESC, run_id``, then stably by each order key
    from last to first; missing values and NaN last in either direction (NaN first of those)."""
    out = sorted(runs, key=lambda r: (-(r.get("start_time") or 0), r["run_id"]))
    for o in reversed(order):
        present = []
        nans = []
        missing = []
        for r in out:
            v = _lookup(r, o.kind, o.key)
            if v is None:
                missing.append(r)
            elif isinstance(v, float) and math.isnan(v):
                nans.append(r)
            else:
                present.append(r)
        present.sort(key=lambda r: _lookup(r, o.kind, o.key), reverse=not o.ascending)
        out = present + nans + missing
    return out


def reference_frame(runs: Sequence[dict[str, Any]], with_branches: bool = False) -> Any:
    """MLflow's ``search_runs`` DataFrame (plus the source columns) built from run dicts of
    :func:`gittrack.query.engine.search`, one value at a time: what the columnar path
    (:mod:`gittrack.query.frames`) must equal. (It was ``search.to_dataframe``.)"""
    import pandas as pd

    def times(ms: list[int | None]) -> Any:
        return pd.to_datetime(pd.array(ms, dtype="Int64"), unit="ms", utc=True)

    nan = float("nan")
    data: dict[str, Any] = {
        "run_id": [r["run_id"] for r in runs],
        "experiment_id": [r["experiment_id"] for r in runs],
        "status": [r["status"] for r in runs],
        "artifact_uri": [r["artifact_uri"] for r in runs],
        "start_time": times([r["start_time"] for r in runs]),
        "end_time": times([r["end_time"] for r in runs]),
    }
    n = len(runs)
    for kind, missing in (("metrics", nan), ("params", None), ("tags", None)):
        cols: dict[str, list[Any]] = {}
        for i, r in enumerate(runs):
            for k, v in r[kind].items():
                col = cols.get(k)
                if col is None:
                    col = cols[k] = [missing] * n
                col[i] = v
        for k in sorted(cols):
            if kind == "metrics":
                col = cols[k]
                data[f"metrics.{k}"] = pd.array([nan if v is None else v for v in col], "float64")
            else:  # object dtype keeps None for missing values (a str dtype would make NaN)
                data[f"{kind}.{k}"] = pd.Series(cols[k], dtype=object)
    data["source.commit"] = pd.Series([r["source_commit"] for r in runs], dtype=object)
    data["source.branch"] = pd.Series([r["source_branch"] for r in runs], dtype=object)
    data["source.dirty"] = pd.Series([r["source_dirty"] for r in runs], dtype=object)
    if with_branches:
        data["source.branches"] = [",".join(r.get("branches") or ()) for r in runs]
    return pd.DataFrame(data)
