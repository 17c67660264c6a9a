"""``search_experiments`` filters: MLflow's grammar for experiments, applied to the table.

The filter is parsed by :mod:`gittrack.query.grammar` with
:data:`~gittrack.query.grammar.EXPERIMENTS` (``name``, ``creation_time``,
``last_update_time``, ``tags.<key>``; clauses joined by AND), so it has the run
filter's quoting, errors and positions. Experiments are few and live in one YAML
record, so the clauses are evaluated here rather than compiled to SQL.
"""

from __future__ import annotations

from collections.abc import Iterable

from gittrack.core.entities import Experiment
from gittrack.query.grammar import COMPARE, EXPERIMENTS, TAG, Clause, parse_filter

_OPS = COMPARE


def _matches(exp: Experiment, c: Clause) -> bool:
    value = exp.tags.get(c.key) if c.kind == TAG else getattr(exp, c.key, None)
    if c.op == "IS NULL":
        return value is None
    if c.op == "IS NOT NULL":
        return value is not None
    return value is not None and _OPS[c.op](value, c.value)


def filter_experiments(experiments: Iterable[Experiment], filter_string: str) -> list[Experiment]:
    """The experiments matching ``filter_string``, in their given order (a missing
    value never matches).

    Raises:
        InvalidParameter: a syntax error, naming its position.
    """
    clauses = parse_filter(filter_string, EXPERIMENTS)
    return [e for e in experiments if all(_matches(e, c) for c in clauses)]
