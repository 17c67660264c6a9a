"""REST handlers the MLflow UI and client call for charts and datasets.

``metrics/get-history-bulk`` (every point of one metric for up to 100 runs),
``metrics/get-history-bulk-interval`` (an even sample of each run's points that keeps its
last one, as MLflow 3's store samples) and ``experiments/search-datasets`` (the datasets
logged as inputs to an experiment's runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gittrack.errors import InvalidParameter
from gittrack.server.runs import validate_key

if TYPE_CHECKING:
    from gittrack.core.entities import Metric

MAX_RUN_IDS = 100  # MLflow's limit per bulk request
MAX_HISTORY_RESULTS = 25_000
MAX_RESULTS_PER_RUN = 2_500
MAX_DATASET_EXPERIMENTS = 20


T = TypeVar("T")


def _points(client: Any, run_id: str, key: str) -> list[Any]:
    from gittrack.core.validation import validate_run_id

    return list(client.get_metric_history(validate_run_id(run_id), key))


def _order(m: Any) -> tuple[int, int, float, bool]:
    """MLflow's order of a run's points: step, timestamp, value (NaN as 0, then flagged)."""
    nan = isinstance(m.value, float) and math.isnan(m.value)
    return (m.step, m.timestamp, 0.0 if nan else m.value, nan)


def _with_run(m: Metric, run_id: str) -> dict[str, Any]:
    return {**m.to_dict(), "run_id": run_id}


# per bulk endpoint: the field naming the runs, then MLflow's messages for no run ids, too
# many and no metric key
_BULK = (
    "run_id",
    "GetMetricHistoryBulk request must specify at least one run_id.",
    "GetMetricHistoryBulk request cannot specify more than {max} run_ids.",
    "GetMetricHistoryBulk request must specify a metric_key.",
)
_BULK_INTERVAL = (
    "run_ids",
    "Missing value for required parameter 'run_ids'.",
    "GetMetricHistoryBulkInterval request must specify at most {max} run_ids.",
    "Missing value for required parameter 'metric_key'.",
)


def _runs_and_key(
    args: dict[str, Any], field: str, no_runs: str, too_many: str, no_key: str
) -> tuple[list[str], str]:
    """The run ids (at most 100) and the metric key of a bulk history request; the
    messages are MLflow's for each endpoint.

    Raises:
        InvalidParameter: no run ids, too many, no key or a bad key.
    """
    run_ids = list(args.get(field) or [])
    if not run_ids:
        raise InvalidParameter(no_runs)
    if len(run_ids) > MAX_RUN_IDS:
        raise InvalidParameter(
            too_many.format(max=MAX_RUN_IDS) + f" Received {len(run_ids)} run_ids."
        )
    key = args.get("metric_key")
    if not key:
        raise InvalidParameter(no_key)
    return run_ids, validate_key(key, "metric")


def get_history_bulk(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    run_ids, key = _runs_and_key(args, *_BULK)
    limit = min(int(args.get("max_results") or MAX_HISTORY_RESULTS), MAX_HISTORY_RESULTS)
    out: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):
        points = sorted(_points(client, run_id, key), key=lambda m: (m.timestamp, m.step, m.value))
        out.extend(_with_run(m, run_id) for m in points)
        if len(out) >= limit:
            break
    return {"metrics": out[:limit]}


def sample_points(points: Sequence[T], max_results: int) -> list[T]:
    """MLflow 3's sample of a run's ``points`` (already in :func:`_order`): split them into
    ``max_results`` buckets as SQL's NTILE does (the first ``len % max_results`` buckets one
    point larger), keep the first point of each, and keep the last point too, in place of
    the last pick when there are already ``max_results``."""
    n = len(points)
    if n <= max_results:
        return list(points)
    size, extra = divmod(n, max_results)
    picks = [points[b * size + min(b, extra)] for b in range(max_results)]
    if picks[-1] is not points[-1]:
        picks[-1] = points[-1]
    return picks


def _int_arg(args: dict[str, Any], name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(
            f"Invalid value {raw!r} for parameter '{name}' supplied: must be an integer"
        ) from exc


def get_history_bulk_interval(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    run_ids, key = _runs_and_key(args, *_BULK_INTERVAL)
    max_results = _int_arg(args, "max_results")
    max_results = MAX_RESULTS_PER_RUN if max_results is None else max_results
    if not 1 <= max_results <= MAX_RESULTS_PER_RUN:
        raise InvalidParameter(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")
    start, end = _int_arg(args, "start_step"), _int_arg(args, "end_step")
    if (start is None) != (end is None):
        raise InvalidParameter(
            "If either start step or end step are specified, both must be specified."
        )
    if start is not None and end is not None and start > end:
        raise InvalidParameter(
            "end_step must be greater than start_step. "
            f"Found start_step={start} and end_step={end}."
        )
    histories = {run_id: _points(client, run_id, key) for run_id in run_ids}
    out: list[dict[str, Any]] = []
    for run_id, history in histories.items():
        inside = sorted(
            (m for m in history if start is None or start <= m.step <= end),
            key=_order,
        )
        out.extend(_with_run(m, run_id) for m in sample_points(inside, max_results))
    return {"metrics": out}


def search_datasets(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.server.inputs import read_inputs

    exp_ids = [str(e) for e in args.get("experiment_ids") or []]
    if not exp_ids:
        raise InvalidParameter("SearchDatasets request must specify at least one experiment_id.")
    if len(exp_ids) > MAX_DATASET_EXPERIMENTS:
        raise InvalidParameter(
            f"SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENTS} "
            f"experiment_ids. Received {len(exp_ids)} experiment_ids."
        )
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for run in client.list_runs():
        if run.info.experiment_id not in exp_ids:
            continue
        for item in read_inputs(client, run):
            ds = item.get("dataset") or {}
            context = next(
                (
                    t.get("value", "")
                    for t in item.get("tags") or []
                    if t.get("key") == "mlflow.data.context"
                ),
                "",
            )
            ident = (run.info.experiment_id, ds.get("name", ""), ds.get("digest", ""), context)
            summary = {"experiment_id": ident[0], "name": ident[1], "digest": ident[2]}
            if context:
                summary["context"] = context
            seen.setdefault(ident, summary)
    return {"dataset_summaries": [seen[k] for k in sorted(seen)]}
