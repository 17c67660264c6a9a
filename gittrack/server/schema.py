"""The MLflow REST API's request fields, in one table.

The same table checks every request (:func:`gittrack.server.wire.parse`) and
builds the OpenAPI document (:mod:`gittrack.server.openapi`), so what the
document promises is what the server enforces.

A field spec is a tuple ``(type, required)``; types are ``string``, ``int64``,
``int32``, ``double``, ``bool``, ``string[]``, ``kv[]`` (``[{key, value}]``),
``metric[]`` (``[{key, value, timestamp, step}]``), ``inputs[]`` and
``models[]`` (lists of objects, kept as JSON), ``path`` (a string from the URL path),
and the enums ``view_type`` and ``run_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")

VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

# MLflow's limits on one runs/log-batch request
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_ITEMS = 1000
MAX_RESULTS_RUNS = 50_000
MAX_RESULTS_EXPERIMENTS = 50_000
MAX_RESULTS_HISTORY = 25_000_000

R = True  # required
O = False  # optional  # noqa: E741


@dataclass(frozen=True)
class Endpoint:
    """One REST method: its path below the API prefix, HTTP methods, fields, answer."""

    path: str
    methods: tuple[str, ...]
    fields: dict[str, tuple[str, bool]]
    summary: str
    response: dict[str, str] = field(default_factory=dict)
    op: str = ""  # the key, when one path has several endpoints (one per method)

    @property
    def key(self) -> str:
        return self.op or self.path


def _ep(
    path: str,
    methods: Sequence[str],
    fields: dict[str, tuple[str, bool]],
    summary: str,
    response: dict[str, str] | None = None,
    *,
    op: str = "",
) -> Endpoint:
    return Endpoint(path, tuple(methods), fields, summary, response or {}, op)


RUN_ID = {"run_id": ("string", O), "run_uuid": ("string", O)}

TRACKING_ENDPOINTS: tuple[Endpoint, ...] = (
    # experiments
    _ep(
        "experiments/create",
        ["POST"],
        {"name": ("string", R), "artifact_location": ("string", O), "tags": ("kv[]", O)},
        "Create an experiment",
        {"experiment_id": "string"},
    ),
    _ep(
        "experiments/get",
        ["GET"],
        {"experiment_id": ("string", R)},
        "Get an experiment by id",
        {"experiment": "Experiment"},
    ),
    _ep(
        "experiments/get-by-name",
        ["GET"],
        {"experiment_name": ("string", R)},
        "Get an experiment by name",
        {"experiment": "Experiment"},
    ),
    _ep(
        "experiments/search",
        ["POST", "GET"],
        {
            "max_results": ("int64", O),
            "page_token": ("string", O),
            "filter": ("string", O),
            "order_by": ("string[]", O),
            "view_type": ("view_type", O),
        },
        "Search experiments",
        {"experiments": "Experiment[]", "next_page_token": "string"},
    ),
    _ep(
        "experiments/update",
        ["POST"],
        {"experiment_id": ("string", R), "new_name": ("string", R)},
        "Rename an experiment",
    ),
    _ep("experiments/delete", ["POST"], {"experiment_id": ("string", R)}, "Delete an experiment"),
    _ep("experiments/restore", ["POST"], {"experiment_id": ("string", R)}, "Restore an experiment"),
    _ep(
        "experiments/set-experiment-tag",
        ["POST"],
        {"experiment_id": ("string", R), "key": ("string", R), "value": ("string", R)},
        "Set a tag on an experiment",
    ),
    _ep(
        "experiments/delete-experiment-tag",
        ["POST"],
        {"experiment_id": ("string", R), "key": ("string", R)},
        "Delete a tag of an experiment",
    ),
    # runs
    _ep(
        "runs/create",
        ["POST"],
        {
            "experiment_id": ("string", O),
            "user_id": ("string", O),
            "run_name": ("string", O),
            "start_time": ("int64", O),
            "tags": ("kv[]", O),
        },
        "Create a run",
        {"run": "Run"},
    ),
    _ep("runs/get", ["GET"], dict(RUN_ID), "Get a run", {"run": "Run"}),
    _ep(
        "runs/update",
        ["POST"],
        {
            **RUN_ID,
            "status": ("run_status", O),
            "end_time": ("int64", O),
            "run_name": ("string", O),
        },
        "Update a run's status, end time or name",
        {"run_info": "RunInfo"},
    ),
    _ep("runs/delete", ["POST"], {"run_id": ("string", R)}, "Delete a run"),
    _ep("runs/restore", ["POST"], {"run_id": ("string", R)}, "Restore a deleted run"),
    _ep(
        "runs/search",
        ["POST"],
        {
            "experiment_ids": ("string[]", O),
            "filter": ("string", O),
            "run_view_type": ("view_type", O),
            "max_results": ("int32", O),
            "order_by": ("string[]", O),
            "page_token": ("string", O),
        },
        "Search runs",
        {"runs": "Run[]", "next_page_token": "string"},
    ),
    _ep(
        "runs/log-batch",
        ["POST"],
        {
            "run_id": ("string", R),
            "metrics": ("metric[]", O),
            "params": ("kv[]", O),
            "tags": ("kv[]", O),
        },
        "Log metrics, params and tags to a run in one request",
    ),
    _ep(
        "runs/log-metric",
        ["POST"],
        {
            **RUN_ID,
            "key": ("string", R),
            "value": ("double", R),
            "timestamp": ("int64", O),
            "step": ("int64", O),
        },
        "Log one metric point",
    ),
    _ep(
        "runs/log-parameter",
        ["POST"],
        {**RUN_ID, "key": ("string", R), "value": ("string", R)},
        "Log a param (write-once)",
    ),
    _ep(
        "runs/set-tag",
        ["POST"],
        {**RUN_ID, "key": ("string", R), "value": ("string", R)},
        "Set a tag on a run",
    ),
    _ep(
        "runs/delete-tag",
        ["POST"],
        {"run_id": ("string", R), "key": ("string", R)},
        "Delete a tag of a run",
    ),
    _ep(
        "runs/log-inputs",
        ["POST"],
        {"run_id": ("string", R), "datasets": ("inputs[]", O), "models": ("models[]", O)},
        "Log dataset inputs of a run",
    ),
    _ep(
        "runs/outputs",
        ["POST"],
        {"run_id": ("string", R), "models": ("models[]", R)},
        "Log the models a run produced (LoggedModel ids and steps)",
    ),
    _ep(
        "runs/log-model",
        ["POST"],
        {"run_id": ("string", R), "model_json": ("string", R)},
        "Append an MLmodel summary to the run's mlflow.log-model.history tag",
    ),
    _ep(
        "metrics/get-history-bulk",
        ["GET"],
        {"run_id": ("string[]", O), "metric_key": ("string", O), "max_results": ("int32", O)},
        "Every point of one metric for up to 100 runs (the MLflow UI's charts)",
        {"metrics": "MetricWithRunId[]"},
    ),
    _ep(
        "metrics/get-history-bulk-interval",
        ["GET"],
        {
            "run_ids": ("string[]", O),
            "metric_key": ("string", O),
            "start_step": ("int32", O),
            "end_step": ("int32", O),
            "max_results": ("int32", O),
        },
        "A sample of steps of one metric across runs, keeping each run's first and last step",
        {"metrics": "MetricWithRunId[]"},
    ),
    _ep(
        "experiments/search-datasets",
        ["POST"],
        {"experiment_ids": ("string[]", O)},
        "The datasets logged as inputs to the runs of experiments",
        {"dataset_summaries": "DatasetSummary[]"},
    ),
    _ep(
        "metrics/get-history",
        ["GET"],
        {
            **RUN_ID,
            "metric_key": ("string", R),
            "page_token": ("string", O),
            "max_results": ("int32", O),
        },
        "The full history of one metric, paged",
        {"metrics": "Metric[]", "next_page_token": "string"},
    ),
    _ep(
        "artifacts/list",
        ["GET"],
        {**RUN_ID, "path": ("string", O), "page_token": ("string", O)},
        "List the artifacts of a run",
        {"root_uri": "string", "files": "FileInfo[]", "next_page_token": "string"},
    ),
)

# the model registry (MLflow's ModelRegistryService): names, versions, tags, aliases, stages
NAME = {"name": ("string", R)}
VERSION = {"name": ("string", R), "version": ("string", R)}
REGISTRY_SEARCH = {
    "filter": ("string", O),
    "max_results": ("int64", O),
    "order_by": ("string[]", O),
    "page_token": ("string", O),
}
MAX_RESULTS_REGISTERED_MODELS = 1000  # MLflow's limits on one registry search page
MAX_RESULTS_MODEL_VERSIONS = 200_000

REGISTRY_ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(
        "registered-models/create",
        ["POST"],
        {**NAME, "tags": ("kv[]", O), "description": ("string", O)},
        "Create a registered model",
        {"registered_model": "RegisteredModel"},
    ),
    _ep(
        "registered-models/get",
        ["GET"],
        NAME,
        "Get a registered model with its latest version per stage",
        {"registered_model": "RegisteredModel"},
    ),
    _ep(
        "registered-models/rename",
        ["POST"],
        {**NAME, "new_name": ("string", R)},
        "Rename a registered model (its versions follow)",
        {"registered_model": "RegisteredModel"},
    ),
    _ep(
        "registered-models/update",
        ["PATCH"],
        {**NAME, "description": ("string", O)},
        "Change the description of a registered model",
        {"registered_model": "RegisteredModel"},
    ),
    _ep("registered-models/delete", ["DELETE"], NAME, "Delete a registered model"),
    _ep(
        "registered-models/search",
        ["GET"],
        REGISTRY_SEARCH,
        "Search registered models",
        {"registered_models": "RegisteredModel[]", "next_page_token": "string"},
    ),
    _ep(
        "registered-models/get-latest-versions",
        ["POST", "GET"],
        {**NAME, "stages": ("string[]", O)},
        "The latest version of a registered model in each stage",
        {"model_versions": "ModelVersion[]"},
    ),
    _ep(
        "registered-models/set-tag",
        ["POST"],
        {**NAME, "key": ("string", R), "value": ("string", R)},
        "Set a tag on a registered model",
    ),
    _ep(
        "registered-models/delete-tag",
        ["DELETE"],
        {**NAME, "key": ("string", R)},
        "Delete a tag of a registered model",
    ),
    _ep(
        "registered-models/alias",
        ["POST"],
        {**VERSION, "alias": ("string", R)},
        "Point an alias of a registered model at one of its versions",
    ),
    _ep(
        "registered-models/alias",
        ["DELETE"],
        {**NAME, "alias": ("string", R)},
        "Delete an alias of a registered model",
        op="registered-models/alias:delete",
    ),
    _ep(
        "registered-models/alias",
        ["GET"],
        {**NAME, "alias": ("string", R)},
        "The model version an alias points at",
        {"model_version": "ModelVersion"},
        op="registered-models/alias:get",
    ),
    _ep(
        "model-versions/create",
        ["POST"],
        {
            **NAME,
            "source": ("string", R),
            "run_id": ("string", O),
            "tags": ("kv[]", O),
            "run_link": ("string", O),
            "description": ("string", O),
            "model_id": ("string", O),
        },
        "Create a new version of a registered model",
        {"model_version": "ModelVersion"},
    ),
    _ep(
        "model-versions/get",
        ["GET"],
        VERSION,
        "Get a model version",
        {"model_version": "ModelVersion"},
    ),
    _ep(
        "model-versions/update",
        ["PATCH"],
        {**VERSION, "description": ("string", O)},
        "Change the description of a model version",
        {"model_version": "ModelVersion"},
    ),
    _ep("model-versions/delete", ["DELETE"], VERSION, "Delete a model version"),
    _ep(
        "model-versions/search",
        ["GET"],
        REGISTRY_SEARCH,
        "Search model versions",
        {"model_versions": "ModelVersion[]", "next_page_token": "string"},
    ),
    _ep(
        "model-versions/get-download-uri",
        ["GET"],
        VERSION,
        "The URI the files of a model version are downloaded from",
        {"artifact_uri": "string"},
    ),
    _ep(
        "model-versions/transition-stage",
        ["POST"],
        {**VERSION, "stage": ("string", R), "archive_existing_versions": ("bool", O)},
        "Move a model version to a stage (MLflow's legacy stages)",
        {"model_version": "ModelVersion"},
    ),
    _ep(
        "model-versions/set-tag",
        ["POST"],
        {**VERSION, "key": ("string", R), "value": ("string", R)},
        "Set a tag on a model version",
    ),
    _ep(
        "model-versions/delete-tag",
        ["DELETE"],
        {**VERSION, "key": ("string", R)},
        "Delete a tag of a model version",
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = TRACKING_ENDPOINTS + REGISTRY_ENDPOINTS

BY_KEY: dict[str, Endpoint] = {e.key: e for e in ENDPOINTS}
"""Each endpoint by its key: its path, or ``op`` where several methods of one path take
different fields (``registered-models/alias``: POST sets, GET reads, DELETE deletes)."""


def endpoint_of(method: str, path: str) -> Endpoint:
    """The endpoint a request ``method`` on ``path`` (below the API prefix) lands on.

    Raises:
        KeyError: no endpoint takes that method on that path.
    """
    for e in ENDPOINTS:
        if e.path == path and method in e.methods:
            return e
    raise KeyError(f"{method} {path}")


# MLflow 3's LoggedModel API (gittrack.server.logged_models): ``{name}`` parts of a path are
# fields of type ``path``, taken from the URL
MODEL_ID = {"model_id": ("path", R)}
LOGGED_MODEL_ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(
        "logged-models",
        ["POST"],
        {
            "experiment_id": ("string", R),
            "name": ("string", O),
            "model_type": ("string", O),
            "source_run_id": ("string", O),
            "params": ("kv[]", O),
            "tags": ("kv[]", O),
        },
        "Create a logged model (status PENDING)",
        {"model": "LoggedModel"},
    ),
    _ep(
        "logged-models/search",
        ["POST"],
        {
            "experiment_ids": ("string[]", O),
            "filter": ("string", O),
            "datasets": ("models[]", O),
            "max_results": ("int32", O),
            "order_by": ("models[]", O),
            "page_token": ("string", O),
        },
        "Search logged models",
        {"models": "LoggedModel[]", "next_page_token": "string"},
    ),
    _ep(
        "logged-models/{model_id}",
        ["GET"],
        MODEL_ID,
        "Get a logged model",
        {"model": "LoggedModel"},
    ),
    _ep(
        "logged-models/{model_id}",
        ["PATCH"],
        {**MODEL_ID, "status": ("string", R)},
        "Finalize a logged model (READY or FAILED)",
        {"model": "LoggedModel"},
    ),
    _ep("logged-models/{model_id}", ["DELETE"], MODEL_ID, "Delete a logged model"),
    _ep(
        "logged-models/{model_id}/tags",
        ["PATCH"],
        {**MODEL_ID, "tags": ("kv[]", O)},
        "Set tags on a logged model",
    ),
    _ep(
        "logged-models/{model_id}/tags/{tag_key}",
        ["DELETE"],
        {**MODEL_ID, "tag_key": ("path", R)},
        "Delete a tag of a logged model",
    ),
    _ep(
        "logged-models/{model_id}/params",
        ["POST"],
        {**MODEL_ID, "params": ("kv[]", O)},
        "Log params of a logged model",
    ),
    _ep(
        "logged-models/{model_id}/artifacts/directories",
        ["GET"],
        {**MODEL_ID, "artifact_directory_path": ("string", O), "page_token": ("string", O)},
        "List the files of a logged model",
        {"root_uri": "string", "files": "FileInfo[]"},
    ),
)
LOGGED_MODEL_BY_ROUTE: dict[tuple[str, str], Endpoint] = {
    (e.path, m): e for e in LOGGED_MODEL_ENDPOINTS for m in e.methods
}
