"""The MLflow REST API's request fields, in one table.

The same table checks every request (:func:`gittrack.server.wire.parse`) and
builds the OpenAPI document (:mod:`gittrack.server.openapi`), so what the
document promises is what the server enforces.

A field spec is a tuple ``(type, required)``, written ``name:type`` in the tables (``!``
after the type: required); types are ``string``, ``int64``,
``int32``, ``double``, ``bool``, ``string[]``, ``kv[]`` (``[{key, value}]``),
``metric[]`` (``[{key, value, timestamp, step}]``), ``inputs[]`` and
``models[]`` (lists of objects, kept as JSON), ``path`` (a string from the URL path),
and the enums ``view_type`` and ``run_status``.
"""

from __future__ import annotations

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
    path: str, methods: str, fields: str, summary: str, response: str = "", *, op: str = ""
) -> Endpoint:
    """One row of the tables below: ``methods`` space-separated; ``fields`` as
    ``"name:type"`` words, ``!`` after the type when the field is required; ``response`` as
    ``"name:Type"`` words."""
    return Endpoint(
        path,
        tuple(methods.split()),
        {
            name: (kind.rstrip("!"), kind.endswith("!"))
            for name, kind in _words(fields, FIELD_TYPES)
        },
        summary,
        dict(_words(response)),
        op,
    )


FIELD_TYPES = frozenset(
    "string int64 int32 double bool string[] kv[] metric[] inputs[] models[] path view_type"
    " run_status".split()
)


def _words(spec: str, types: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """``"name:type ..."`` as pairs; with ``types``, a type (``!`` aside) outside it is a
    ValueError naming the word."""
    pairs = [(name, kind) for name, _, kind in (word.partition(":") for word in spec.split())]
    for name, kind in pairs:
        if not name or not kind or (types is not None and kind.rstrip("!") not in types):
            raise ValueError(f"bad field {name}:{kind} in {spec!r}: use name:type[!]")
    return pairs


# fmt: off
TRACKING_ENDPOINTS: tuple[Endpoint, ...] = (
    # experiments
    _ep("experiments/create", "POST", "name:string! artifact_location:string tags:kv[]",
        "Create an experiment", "experiment_id:string"),
    _ep("experiments/get", "GET", "experiment_id:string!", "Get an experiment by id",
        "experiment:Experiment"),
    _ep("experiments/get-by-name", "GET", "experiment_name:string!", "Get an experiment by name",
        "experiment:Experiment"),
    _ep("experiments/search", "POST GET",
        "max_results:int64 page_token:string filter:string order_by:string[] view_type:view_type",
        "Search experiments", "experiments:Experiment[] next_page_token:string"),
    _ep("experiments/update", "POST", "experiment_id:string! new_name:string!",
        "Rename an experiment"),
    _ep("experiments/delete", "POST", "experiment_id:string!", "Delete an experiment"),
    _ep("experiments/restore", "POST", "experiment_id:string!", "Restore an experiment"),
    _ep("experiments/set-experiment-tag", "POST", "experiment_id:string! key:string! value:string!",
        "Set a tag on an experiment"),
    _ep("experiments/delete-experiment-tag", "POST", "experiment_id:string! key:string!",
        "Delete a tag of an experiment"),
    # runs
    _ep("runs/create", "POST",
        "experiment_id:string user_id:string run_name:string start_time:int64 tags:kv[]",
        "Create a run", "run:Run"),
    _ep("runs/get", "GET", "run_id:string run_uuid:string", "Get a run", "run:Run"),
    _ep("runs/update", "POST",
        "run_id:string run_uuid:string status:run_status end_time:int64 run_name:string",
        "Update a run's status, end time or name", "run_info:RunInfo"),
    _ep("runs/delete", "POST", "run_id:string!", "Delete a run"),
    _ep("runs/restore", "POST", "run_id:string!", "Restore a deleted run"),
    _ep("runs/search", "POST",
        "experiment_ids:string[] filter:string run_view_type:view_type max_results:int32 order_by:string[] page_token:string",
        "Search runs", "runs:Run[] next_page_token:string"),
    _ep("runs/log-batch", "POST", "run_id:string! metrics:metric[] params:kv[] tags:kv[]",
        "Log metrics, params and tags to a run in one request"),
    _ep("runs/log-metric", "POST",
        "run_id:string run_uuid:string key:string! value:double! timestamp:int64 step:int64",
        "Log one metric point"),
    _ep("runs/log-parameter", "POST", "run_id:string run_uuid:string key:string! value:string!",
        "Log a param (write-once)"),
    _ep("runs/set-tag", "POST", "run_id:string run_uuid:string key:string! value:string!",
        "Set a tag on a run"),
    _ep("runs/delete-tag", "POST", "run_id:string! key:string!", "Delete a tag of a run"),
    _ep("runs/log-inputs", "POST", "run_id:string! datasets:inputs[] models:models[]",
        "Log dataset inputs of a run"),
    _ep("runs/outputs", "POST", "run_id:string! models:models[]!",
        "Log the models a run produced (LoggedModel ids and steps)"),
    _ep("runs/log-model", "POST", "run_id:string! model_json:string!",
        "Append an MLmodel summary to the run's mlflow.log-model.history tag"),
    _ep("metrics/get-history-bulk", "GET", "run_id:string[] metric_key:string max_results:int32",
        "Every point of one metric for up to 100 runs (the MLflow UI's charts)",
        "metrics:MetricWithRunId[]"),
    _ep("metrics/get-history-bulk-interval", "GET",
        "run_ids:string[] metric_key:string start_step:int32 end_step:int32 max_results:int32",
        "A sample of steps of one metric across runs, keeping each run's first and last step",
        "metrics:MetricWithRunId[]"),
    _ep("experiments/search-datasets", "POST", "experiment_ids:string[]",
        "The datasets logged as inputs to the runs of experiments",
        "dataset_summaries:DatasetSummary[]"),
    _ep("metrics/get-history", "GET",
        "run_id:string run_uuid:string metric_key:string! page_token:string max_results:int32",
        "The full history of one metric, paged", "metrics:Metric[] next_page_token:string"),
    _ep("artifacts/list", "GET", "run_id:string run_uuid:string path:string page_token:string",
        "List the artifacts of a run", "root_uri:string files:FileInfo[] next_page_token:string"),
)

# the model registry (MLflow's ModelRegistryService): names, versions, tags, aliases, stages
MAX_RESULTS_REGISTERED_MODELS = 1000  # MLflow's limits on one registry search page
MAX_RESULTS_MODEL_VERSIONS = 200_000

REGISTRY_ENDPOINTS: tuple[Endpoint, ...] = (
    _ep("registered-models/create", "POST", "name:string! tags:kv[] description:string",
        "Create a registered model", "registered_model:RegisteredModel"),
    _ep("registered-models/get", "GET", "name:string!",
        "Get a registered model with its latest version per stage",
        "registered_model:RegisteredModel"),
    _ep("registered-models/rename", "POST", "name:string! new_name:string!",
        "Rename a registered model (its versions follow)", "registered_model:RegisteredModel"),
    _ep("registered-models/update", "PATCH", "name:string! description:string",
        "Change the description of a registered model", "registered_model:RegisteredModel"),
    _ep("registered-models/delete", "DELETE", "name:string!", "Delete a registered model"),
    _ep("registered-models/search", "GET",
        "filter:string max_results:int64 order_by:string[] page_token:string",
        "Search registered models", "registered_models:RegisteredModel[] next_page_token:string"),
    _ep("registered-models/get-latest-versions", "POST GET", "name:string! stages:string[]",
        "The latest version of a registered model in each stage", "model_versions:ModelVersion[]"),
    _ep("registered-models/set-tag", "POST", "name:string! key:string! value:string!",
        "Set a tag on a registered model"),
    _ep("registered-models/delete-tag", "DELETE", "name:string! key:string!",
        "Delete a tag of a registered model"),
    _ep("registered-models/alias", "POST", "name:string! version:string! alias:string!",
        "Point an alias of a registered model at one of its versions"),
    _ep("registered-models/alias", "DELETE", "name:string! alias:string!",
        "Delete an alias of a registered model", "", op="registered-models/alias:delete"),
    _ep("registered-models/alias", "GET", "name:string! alias:string!",
        "The model version an alias points at", "model_version:ModelVersion",
        op="registered-models/alias:get"),
    _ep("model-versions/create", "POST",
        "name:string! source:string! run_id:string tags:kv[] run_link:string description:string model_id:string",
        "Create a new version of a registered model", "model_version:ModelVersion"),
    _ep("model-versions/get", "GET", "name:string! version:string!", "Get a model version",
        "model_version:ModelVersion"),
    _ep("model-versions/update", "PATCH", "name:string! version:string! description:string",
        "Change the description of a model version", "model_version:ModelVersion"),
    _ep("model-versions/delete", "DELETE", "name:string! version:string!",
        "Delete a model version"),
    _ep("model-versions/search", "GET",
        "filter:string max_results:int64 order_by:string[] page_token:string",
        "Search model versions", "model_versions:ModelVersion[] next_page_token:string"),
    _ep("model-versions/get-download-uri", "GET", "name:string! version:string!",
        "The URI the files of a model version are downloaded from", "artifact_uri:string"),
    _ep("model-versions/transition-stage", "POST",
        "name:string! version:string! stage:string! archive_existing_versions:bool",
        "Move a model version to a stage (MLflow's legacy stages)", "model_version:ModelVersion"),
    _ep("model-versions/set-tag", "POST", "name:string! version:string! key:string! value:string!",
        "Set a tag on a model version"),
    _ep("model-versions/delete-tag", "DELETE", "name:string! version:string! key:string!",
        "Delete a tag of a model version"),
)
# fmt: on

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
# fmt: off
LOGGED_MODEL_ENDPOINTS: tuple[Endpoint, ...] = (
    _ep("logged-models", "POST",
        "experiment_id:string! name:string model_type:string source_run_id:string params:kv[] tags:kv[]",
        "Create a logged model (status PENDING)", "model:LoggedModel"),
    _ep("logged-models/search", "POST",
        "experiment_ids:string[] filter:string datasets:models[] max_results:int32 order_by:models[] page_token:string",
        "Search logged models", "models:LoggedModel[] next_page_token:string"),
    _ep("logged-models/{model_id}", "GET", "model_id:path!", "Get a logged model",
        "model:LoggedModel"),
    _ep("logged-models/{model_id}", "PATCH", "model_id:path! status:string!",
        "Finalize a logged model (READY or FAILED)", "model:LoggedModel"),
    _ep("logged-models/{model_id}", "DELETE", "model_id:path!", "Delete a logged model"),
    _ep("logged-models/{model_id}/tags", "PATCH", "model_id:path! tags:kv[]",
        "Set tags on a logged model"),
    _ep("logged-models/{model_id}/tags/{tag_key}", "DELETE", "model_id:path! tag_key:path!",
        "Delete a tag of a logged model"),
    _ep("logged-models/{model_id}/params", "POST", "model_id:path! params:kv[]",
        "Log params of a logged model"),
    _ep("logged-models/{model_id}/artifacts/directories", "GET",
        "model_id:path! artifact_directory_path:string page_token:string",
        "List the files of a logged model", "root_uri:string files:FileInfo[]"),
)
# fmt: on
LOGGED_MODEL_BY_ROUTE: dict[tuple[str, str], Endpoint] = {
    (e.path, m): e for e in LOGGED_MODEL_ENDPOINTS for m in e.methods
}
