"""The OpenAPI 3 document of the REST API, built from :mod:`gittrack.server.schema`."""

from __future__ import annotations

from typing import Any

from gittrack.server.schema import ENDPOINTS, LOGGED_MODEL_ENDPOINTS, RUN_STATUSES, VIEW_TYPES

_KV = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
    "required": ["key", "value"],
}
_METRIC = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "value": {"type": "number"},
        "timestamp": {"type": "integer", "format": "int64", "minimum": 0},
        "step": {"type": "integer", "format": "int64"},
    },
    "required": ["key", "value", "timestamp"],
}
_DATASET_INPUT = {
    "type": "object",
    "properties": {
        "tags": {"type": "array", "items": _KV},
        "dataset": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "digest": {"type": "string"},
                "source_type": {"type": "string"},
                "source": {"type": "string"},
                "schema": {"type": "string"},
                "profile": {"type": "string"},
            },
            "required": ["name", "digest", "source_type", "source"],
        },
    },
    "required": ["dataset"],
}

_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "path": {"type": "string"},
    "int64": {"type": "integer", "format": "int64"},
    "int32": {"type": "integer", "format": "int32"},
    "double": {"type": "number"},
    "bool": {"type": "boolean"},
    "view_type": {"type": "string", "enum": list(VIEW_TYPES)},
    "run_status": {"type": "string", "enum": list(RUN_STATUSES)},
    "string[]": {"type": "array", "items": {"type": "string"}},
    "kv[]": {"type": "array", "items": _KV},
    "metric[]": {"type": "array", "items": _METRIC},
    "inputs[]": {"type": "array", "items": _DATASET_INPUT},
    "models[]": {"type": "array", "items": {"type": "object"}},
}

_ERROR = {
    "description": "An error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["error_code", "message"],
            }
        }
    },
}


def _operation(endpoint: Any, method: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": method.lower()
        + "_"
        + endpoint.path.replace("/", "_").replace("-", "_").replace("{", "").replace("}", ""),
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "400": _ERROR,
            "401": _ERROR,
            "404": _ERROR,
            "409": _ERROR,
            "413": _ERROR,
        },
    }
    in_path = [
        {"name": name, "in": "path", "required": True, "schema": _TYPES[kind]}
        for name, (kind, _) in endpoint.fields.items()
        if kind == "path"
    ]
    if in_path:
        op["parameters"] = in_path
    if method in ("GET", "DELETE"):
        op["parameters"] = in_path + [
            {
                "name": name,
                "in": "query",
                "required": required,
                "schema": _TYPES[kind],
                **({"style": "form", "explode": True} if kind == "string[]" else {}),
            }
            for name, (kind, required) in endpoint.fields.items()
            if kind
            in ("string", "int64", "int32", "double", "bool", "view_type", "run_status", "string[]")
        ]
    else:
        body = {n: spec for n, spec in endpoint.fields.items() if spec[0] != "path"}
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {n: _TYPES[k] for n, (k, _) in body.items()},
                        "required": [n for n, (_, req) in body.items() if req],
                    }
                }
            },
        }
    return op


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 description of ``/api/2.0/mlflow/...`` as this server enforces it."""
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS + LOGGED_MODEL_ENDPOINTS:
        # one path may have several endpoints, one per method (registered-models/alias)
        ops = paths.setdefault(f"/api/2.0/mlflow/{ep.path}", {})
        ops.update({m.lower(): _operation(ep, m) for m in ep.methods})
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "gittrack tracking server and model registry (MLflow-compatible REST API)",
            "version": "2.0",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            }
        },
        "security": [{"bearer": []}, {"basic": []}, {}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
