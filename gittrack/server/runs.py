"""REST handlers for ``runs/*`` and ``metrics/get-history``.

Reads run on the repository thread (plain functions taking the Client);
writes are coroutines that go through :meth:`Backend.write`, so they are
serialised per run and acknowledged only after their checkpoint commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gittrack.core.logged_models import (
    append_run_io,
    read_run_outputs,
    record_model_history,
    validate_model_id,
)
from gittrack.core.validation import (
    metric_point,
    validate_experiment_id,
    validate_key,
    validate_param_value,
    validate_run_id,
    validate_tag_value,
)
from gittrack.errors import InvalidParameter
from gittrack.query.pages import check_max_results, page
from gittrack.server.backend import Backend
from gittrack.server.schema import (
    MAX_BATCH_ITEMS,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MAX_RESULTS_HISTORY,
    MAX_RESULTS_RUNS,
)


def run_id_of(args: dict[str, Any]) -> str:
    """The run id of a request (``run_id``, or the deprecated ``run_uuid``).

    Raises:
        InvalidParameter: neither is given, or the id is malformed.
    """
    rid = args.get("run_id") or args.get("run_uuid")
    if not rid:
        raise InvalidParameter("Missing value for required parameter 'run_id'")
    return validate_run_id(rid)


def artifact_uri(experiment_id: str, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def run_json(run: Any) -> dict[str, Any]:
    """The MLflow ``Run`` shape, with the artifact URI pointing at this server's proxy."""
    d = run.to_dict()
    d["info"]["artifact_uri"] = artifact_uri(run.info.experiment_id, run.info.run_id)
    return d


# -- reads -------------------------------------------------------------------------


def get(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.server.inputs import read_inputs

    run = client.get_run(run_id_of(args))
    out = run_json(run)
    datasets = read_inputs(client, run)
    if datasets:
        out["inputs"] = {"dataset_inputs": datasets}
    outputs = read_run_outputs(client, run.info.run_id)
    if outputs:
        out["outputs"] = {"model_outputs": outputs}
    return {"run": out}


def search(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.core.entities import ViewType

    max_results = check_max_results(args.get("max_results", 1000), MAX_RESULTS_RUNS)
    exp_ids = [validate_experiment_id(e) for e in args.get("experiment_ids", [])] or None
    view = ViewType.from_any(args.get("run_view_type", "ACTIVE_ONLY"))
    found = client.search_runs(
        exp_ids,
        filter_string=args.get("filter", ""),
        run_view_type=view,
        max_results=max_results,
        order_by=args.get("order_by") or None,
        page_token=args.get("page_token") or None,
    )
    runs, token = list(found), found.token or ""
    out: dict[str, Any] = {"runs": [run_json(r) for r in runs]}
    if token:
        out["next_page_token"] = token
    return out


def get_history(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    run_id = run_id_of(args)
    max_results = args.get("max_results")
    if max_results is not None:
        check_max_results(max_results, MAX_RESULTS_HISTORY)
    points = client.get_metric_history(run_id, args["metric_key"])
    items, token = page(points, max_results, args.get("page_token"))
    out: dict[str, Any] = {
        "metrics": [
            {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
            for m in items
        ]
    }
    if token:
        out["next_page_token"] = token
    return out


# -- run lifecycle -------------------------------------------------------------------


def create(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    tags = dict(args.get("tags", ()))
    if args.get("user_id") and "mlflow.user" not in tags:
        tags["mlflow.user"] = args["user_id"]
    for key, value in tags.items():
        validate_key(key, "tag")
        validate_tag_value(key, value)
    exp_id = validate_experiment_id(args.get("experiment_id") or "0")
    run = client.create_run(
        exp_id,
        start_time=args.get("start_time"),
        tags=tags or None,
        run_name=args.get("run_name") or None,
        snapshot=False,
    )
    client.flush(run.info.run_id)
    return {"run": run_json(client.get_run(run.info.run_id))}


async def update(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.core.entities import RunStatus

    run_id = run_id_of(args)
    status, end_time, name = args.get("status"), args.get("end_time"), args.get("run_name")

    def op(client: Any) -> dict[str, Any]:
        if name:
            client.update_run(run_id, name=name)
        if status in RunStatus.TERMINAL:
            client.set_terminated(run_id, status=status, end_time=end_time)
        elif status is not None:
            client.update_run(run_id, status=status)
        return run_json(client.get_run(run_id))["info"]

    return {"run_info": await backend.write(run_id, op)}


async def delete(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id = run_id_of(args)
    await backend.write(run_id, lambda c: c.delete_run(run_id))
    return {}


async def restore(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    """Restore a run (restoring an active one changes nothing: ``Client.restore_run``'s rule)."""
    run_id = run_id_of(args)
    await backend.write(run_id, lambda c: c.restore_run(run_id))
    return {}


# -- logging -------------------------------------------------------------------------


async def log_batch(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id = run_id_of(args)
    metrics, params, tags = args.get("metrics", []), args.get("params", []), args.get("tags", [])
    if len(metrics) > MAX_BATCH_METRICS:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_BATCH_METRICS} metrics; "
            f"got {len(metrics)}"
        )
    if len(params) > MAX_BATCH_PARAMS:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_BATCH_PARAMS} params; "
            f"got {len(params)}"
        )
    if len(tags) > MAX_BATCH_TAGS:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_BATCH_TAGS} tags; got {len(tags)}"
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_BATCH_ITEMS:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_BATCH_ITEMS} metrics, params "
            f"and tags in all; got {total}"
        )
    keys = [k for k, _ in params]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise InvalidParameter(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request "
            "contains only one param value per param key."
        )
    checked_metrics = [metric_point(*m) for m in metrics]
    checked_params = [(validate_key(k, "param"), validate_param_value(k, v)) for k, v in params]
    checked_tags = [(validate_key(k, "tag"), validate_tag_value(k, v)) for k, v in tags]
    await backend.log(run_id, (checked_metrics, checked_params, checked_tags))
    return {}


async def log_metric(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id = run_id_of(args)
    point = metric_point(args["key"], args["value"], args.get("timestamp"), args.get("step"))
    await backend.log(run_id, ([point], [], []))
    return {}


def _key_value(
    args: dict[str, Any], kind: str, check_value: Callable[[str, Any], str]
) -> tuple[str, str, str]:
    """``(run id, key, value)`` of a log-parameter or set-tag request, checked."""
    run_id = run_id_of(args)
    key = validate_key(args["key"], kind)
    return run_id, key, check_value(key, args["value"])


async def log_param(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id, key, value = _key_value(args, "param", validate_param_value)
    await backend.log(run_id, ([], [(key, value)], []))
    return {}


async def set_tag(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id, key, value = _key_value(args, "tag", validate_tag_value)
    await backend.log(run_id, ([], [], [(key, value)]))
    return {}


async def delete_tag(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    run_id = run_id_of(args)
    key = validate_key(args["key"], "tag")
    await backend.write(run_id, lambda c: c.delete_tag(run_id, key))
    return {}


async def log_inputs(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    """Dataset inputs are kept in the run's ``.gittrack/inputs.yaml`` (appended)."""
    run_id = run_id_of(args)
    datasets = args.get("datasets", [])
    models = [
        {"model_id": validate_model_id(m.get("model_id"))}
        for m in args.get("models") or []
        if isinstance(m, dict)
    ]
    for i, item in enumerate(datasets):
        ds = item.get("dataset")
        if not isinstance(ds, dict) or not isinstance(ds.get("name"), str):
            raise InvalidParameter(
                f"Invalid value for parameter 'datasets[{i}].dataset': needs a name"
            )
    if not datasets and not models:
        return {}

    def op(client: Any) -> None:
        from gittrack.server.inputs import append_inputs

        if datasets:
            append_inputs(client, run_id, datasets)
        if models:
            append_run_io(client, run_id, "model_inputs", models)

    await backend.write(run_id, op)
    return {}


async def log_outputs(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    """``runs/outputs``: the models a run produced (``.gittrack/models.yaml``)."""
    run_id = run_id_of(args)
    models = []
    for i, m in enumerate(args.get("models") or []):
        if not isinstance(m, dict):
            raise InvalidParameter(f"Invalid value for parameter 'models[{i}]'")
        models.append(
            {"model_id": validate_model_id(m.get("model_id")), "step": int(m.get("step") or 0)}
        )
    if models:
        await backend.write(run_id, lambda c: append_run_io(c, run_id, "model_outputs", models))
    return {}


async def log_model(backend: Backend, args: dict[str, Any]) -> dict[str, Any]:
    """``runs/log-model``: MLflow's model history tag (``mlflow.log-model.history``)."""
    import json

    run_id = run_id_of(args)
    try:
        model = json.loads(args["model_json"])
    except (ValueError, TypeError) as exc:
        raise InvalidParameter(f"Invalid value for parameter 'model_json': {exc}") from exc
    if not isinstance(model, dict):
        raise InvalidParameter("Invalid value for parameter 'model_json': expected an object")
    await backend.write(run_id, lambda c: record_model_history(c, run_id, model))
    return {}
