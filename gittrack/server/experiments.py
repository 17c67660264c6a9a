"""REST handlers for ``experiments/*``: each takes the Client and the checked arguments."""

from __future__ import annotations

import re
from typing import Any

from gittrack.core.validation import validate_experiment_id
from gittrack.errors import InvalidParameter
from gittrack.query.pages import check_max_results, page
from gittrack.server.schema import MAX_RESULTS_EXPERIMENTS


def experiment_json(exp: Any) -> dict[str, Any]:
    """The MLflow ``Experiment`` shape; artifacts always go through this server's proxy."""
    d = exp.to_dict()
    # the location asked for at creation is kept and shown (as MLflow); runs' files still go
    # through this server's proxy so that they are recorded with the run
    d["artifact_location"] = exp.artifact_location or f"mlflow-artifacts:/{exp.experiment_id}"
    return {k: v for k, v in d.items() if v is not None}


def create(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    tags = dict(args.get("tags", ()))
    exp_id = client.create_experiment(
        args["name"], artifact_location=args.get("artifact_location") or None, tags=tags or None
    )
    return {"experiment_id": str(exp_id)}


def get(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    exp_id = validate_experiment_id(args["experiment_id"])
    return {"experiment": experiment_json(client.get_experiment(exp_id))}


def get_by_name(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.errors import ExperimentNotFound

    exp = client.get_experiment_by_name(args["experiment_name"])
    if exp is None:
        raise ExperimentNotFound(f"with name {args['experiment_name']!r}")
    return {"experiment": experiment_json(exp)}


def search(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    from gittrack.core.entities import ViewType

    max_results = check_max_results(args.get("max_results", 1000), MAX_RESULTS_EXPERIMENTS)
    order_by = [_order_clause(c) for c in args.get("order_by", [])]
    found = client.search_experiments(
        view_type=ViewType.from_any(args.get("view_type", "ACTIVE_ONLY")),
        filter_string=args.get("filter") or None,
        order_by=order_by or None,
    )
    items, token = page(list(found), max_results, args.get("page_token"))
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in items]}
    if token:
        out["next_page_token"] = token
    return out


_ORDER_RE = re.compile(
    r"^\s*(?:attributes?\.)?(name|experiment_id|creation_time|last_update_time)"
    r"(?:\s+(ASC|DESC))?\s*$",
    re.IGNORECASE,
)


def _order_clause(clause: str) -> str:
    """``clause`` if MLflow can order experiments by it.

    Raises:
        InvalidParameter: naming the clause.
    """
    m = _ORDER_RE.match(clause)
    if not m:
        raise InvalidParameter(
            f"Invalid order_by clause {clause!r}: expected one of name, experiment_id, "
            "creation_time, last_update_time, optionally followed by ASC or DESC"
        )
    return f"{m.group(1).lower()} {(m.group(2) or 'ASC').upper()}"


def update(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    client.rename_experiment(validate_experiment_id(args["experiment_id"]), args["new_name"])
    return {}


def delete(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    client.delete_experiment(validate_experiment_id(args["experiment_id"]))
    return {}


def restore(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    client.restore_experiment(validate_experiment_id(args["experiment_id"]))
    return {}


def set_tag(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    client.set_experiment_tag(
        validate_experiment_id(args["experiment_id"]), args["key"], args["value"]
    )
    return {}


def delete_tag(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    exp_id = validate_experiment_id(args["experiment_id"])
    client.delete_experiment_tag(exp_id, args["key"])
    return {}
