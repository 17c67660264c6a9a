"""REST handlers the MLflow UI and client call for charts and datasets.

``metrics/get-history-bulk`` (every point of one metric for up to 100 runs),
``metrics/get-history-bulk-interval`` (a sample of steps across runs that keeps each run's
first and last step, as MLflow's store samples) and ``experiments/search-datasets`` (the
datasets logged as inputs to an experiment's runs).
"""

from __future__ import annotations

import bisect
from typing import Any

from gittrack.errors import InvalidParameter
from gittrack.server.runs import validate_key

MAX_RUN_IDS = 100  # MLflow's limit per bulk request
MAX_HISTORY_RESULTS = 25_000
MAX_RESULTS_PER_RUN = 2_500
MAX_DATASET_EXPERIMENTS = 20


def _points(client: Any, run_id: str, key: str) -> list[Any]:
    from gittrack.core.validation import validate_run_id

    return list(client.get_metric_history(validate_run_id(run_id), key))


def _with_run(m: Any, run_id: str) -> dict[str, Any]:
    return {
        "key": m.key,
        "value": m.value,
        "timestamp": m.timestamp,
        "step": m.step,
        "run_id": run_id,
    }


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
    run_ids, key = _runs_and_key(
        args,
        "run_id",
        "GetMetricHistoryBulk request must specify at least one run_id.",
        "GetMetricHistoryBulk request cannot specify more than {max} run_ids.",
        "GetMetricHistoryBulk request must specify a metric_key.",
    )
    limit = min(int(args.get("max_results") or MAX_HISTORY_RESULTS), MAX_HISTORY_RESULTS)
    out: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):
        points = sorted(_points(client, run_id, key), key=lambda m: (m.timestamp, m.step, m.value))
        out.extend(_with_run(m, run_id) for m in points)
        if len(out) >= limit:
            break
    return {"metrics": out[:limit]}


def sample_steps(
    runs: list[list[int]], start: int | None, end: int | None, max_results: int
) -> list[int]:
    """The steps to answer with: at most ``max_results`` evenly spaced among the steps that
    exist in ``[start, end]``, plus the last one, plus each run's first and last step there."""
    all_steps = sorted({s for steps in runs for s in steps})
    if start is None:
        start, end = 0, (all_steps[-1] if all_steps else 0)
    assert end is not None
    edges = {s for steps in runs if steps for s in (min(steps), max(steps)) if start <= s <= end}
    lo, hi = bisect.bisect_left(all_steps, start), bisect.bisect_right(all_steps, end)
    if hi - lo <= max_results:
        chosen = set(all_steps[lo:hi])
    else:
        width = (hi - lo) / max_results
        chosen = {all_steps[lo + int(i * width)] for i in range(max_results)}
        chosen.add(all_steps[hi - 1])
    return sorted(chosen | edges)


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
    run_ids, key = _runs_and_key(
        args,
        "run_ids",
        "Missing value for required parameter 'run_ids'.",
        "GetMetricHistoryBulkInterval request must specify at most {max} run_ids.",
        "Missing value for required parameter 'metric_key'.",
    )
    max_results = _int_arg(args, "max_results") or MAX_RESULTS_PER_RUN
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
    steps = sample_steps([[m.step for m in h] for h in histories.values()], start, end, max_results)
    wanted = set(steps)
    per_run = max(max_results, len(steps))
    out: list[dict[str, Any]] = []
    for run_id, history in histories.items():
        kept = sorted((m for m in history if m.step in wanted), key=lambda m: (m.step, m.timestamp))
        if len(kept) > per_run:  # many points on one step: an even sample of them
            kept = [kept[int(i * len(kept) / per_run)] for i in range(per_run)]
        out.extend(_with_run(m, run_id) for m in kept)
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
