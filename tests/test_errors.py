"""The exception tree: one module, codes and statuses as MLflow's, one mapping to HTTP."""

from __future__ import annotations

import ast
import inspect
import json
import pickle
import re
from pathlib import Path

import pytest

import gittrack
from gittrack import errors
from gittrack.errors import (
    EndpointNotFound,
    GittrackError,
    InvalidParameter,
    RunNotFound,
    SchemaConflict,
    TrackingServerError,
    UnknownRemote,
    error_from_response,
    http_error,
)

PACKAGE = Path(gittrack.__file__).parent


def _classes() -> list[type[GittrackError]]:
    return [
        c
        for c in vars(errors).values()
        if inspect.isclass(c) and issubclass(c, GittrackError) and c.__module__ == errors.__name__
    ]


def test_every_gittrack_error_class_is_in_gittrack_errors():
    """No other module extends the tree (foreign bases such as yaml.YAMLError aside)."""
    tree = {c.__name__ for c in _classes()}
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                if bases & tree:
                    outside.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert outside == []


def test_the_docstring_draws_every_class_with_its_code_and_status():
    names = re.findall(r"^\s+(?:[│ ]*[├└]── )?(\w+)\s", errors.__doc__ or "", re.M)
    assert sorted(n for n in names if n in vars(errors)) == sorted(c.__name__ for c in _classes())
    for line in (errors.__doc__ or "").splitlines():
        m = re.search(r"(\w+)\s+([A-Z_]{5,})\s+(\d{3})$", line)
        if m:
            cls = getattr(errors, m.group(1))
            assert (cls.error_code, cls.http_status) == (m.group(2), int(m.group(3))), line


def test_codes_and_statuses_follow_mlflow():
    for cls in _classes():
        assert cls.error_code in errors.ERROR_CODES, cls
    assert (InvalidParameter.error_code, InvalidParameter.http_status) == (
        "INVALID_PARAMETER_VALUE",
        400,
    )
    assert (errors.NotFound.http_status, errors.AlreadyExists.http_status) == (404, 400)
    assert (errors.Conflict.http_status, errors.Unauthenticated.http_status) == (409, 401)
    assert (errors.MethodNotAllowed.error_code, errors.MethodNotAllowed.http_status) == (
        "BAD_REQUEST",
        405,
    )
    assert errors.ArtifactTransferError.http_status == 503
    # one RemoteError: the git remote's; the tracking server's answer is another class
    assert issubclass(errors.RemoteError, errors.RepositoryError)
    assert not issubclass(TrackingServerError, errors.RemoteError)


def test_the_root_has_mlflows_exception_shape():
    e = GittrackError("bad lr", error_code="INVALID_PARAMETER_VALUE")
    assert (e.message, str(e), e.error_code, e.get_http_status_code()) == (
        "bad lr",
        "bad lr",
        "INVALID_PARAMETER_VALUE",
        400,
    )
    # MLflow code numbers (databricks.proto) and extra JSON fields, as MlflowException takes them
    e = GittrackError(ValueError("x"), 3002, field="lr")
    assert (e.message, e.error_code, e.http_status) == ("x", "RESOURCE_DOES_NOT_EXIST", 404)
    assert e.serialize_as_json() == (
        '{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "x", "field": "lr"}'
    )
    assert GittrackError("y", 424242).error_code == "INTERNAL_ERROR"
    e = GittrackError.invalid_parameter_value("bad key", key="a..b")
    assert (e.http_status, e.to_json()) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad key", "key": "a..b"},
    )
    assert (GittrackError("z").error_code, GittrackError("z").http_status) == (
        "INTERNAL_ERROR",
        500,
    )
    # a subclass instance may carry another code; its class keeps its own
    assert InvalidParameter("w", "RESOURCE_CONFLICT").http_status == 409
    assert InvalidParameter.http_status == 400


def test_errors_hold_their_context_and_build_their_message():
    e = UnknownRemote("upstream", ["origin"])
    assert (e.name, e.known) == ("upstream", ["origin"])
    assert e.message.startswith("No such remote 'upstream' (configured remotes: origin)")
    e = SchemaConflict("sqlite:///m.db", "it holds tables")
    assert (e.target, e.why) == ("sqlite:///m.db", "it holds tables")
    assert "Refusing to sync into sqlite:///m.db: it holds tables. Nothing was changed" in str(e)
    assert str(errors.BadRecord("run.yaml source is not a mapping")) == (
        "run.yaml source is not a mapping"
    )
    assert isinstance(errors.BadRecord("x"), errors.CorruptRecord)


@pytest.mark.parametrize(
    "exc",
    [
        RunNotFound("abc"),
        UnknownRemote("o", []),
        errors.CorruptArtifact("a.bin", "0" * 64, "1" * 64),
        errors.DeliveryError("r1", 5, "gone", None),
        TrackingServerError("teapot", "I_AM_A_TEAPOT", http_status=418),
    ],
)
def test_errors_survive_pickling_as_they_were(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert (str(back), back.error_code, back.http_status, back.__dict__) == (
        str(exc),
        exc.error_code,
        exc.http_status,
        exc.__dict__,
    )


def test_http_error_is_the_one_mapping():
    assert http_error(RunNotFound("abc")) == (
        404,
        {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'abc' not found"},
    )
    assert http_error(EndpointNotFound("GET", "/x")) == (
        404,
        {"error_code": "ENDPOINT_NOT_FOUND", "message": "No endpoint GET /x"},
    )
    # a bug: 500 without its text (which may hold paths or values)
    assert http_error(KeyError("secret/path")) == (
        500,
        {"error_code": "INTERNAL_ERROR", "message": "Internal error: KeyError"},
    )


def test_http_error_converts_starlette_http_exceptions():
    from starlette.exceptions import HTTPException

    assert http_error(HTTPException(404), "GET", "/nope") == (
        404,
        {"error_code": "ENDPOINT_NOT_FOUND", "message": "No endpoint GET /nope"},
    )
    assert http_error(HTTPException(405), "PUT", "/health") == (
        405,
        {"error_code": "BAD_REQUEST", "message": "Method PUT is not allowed on /health"},
    )
    assert http_error(HTTPException(400, "bad range"))[1]["message"] == "bad range"


def test_error_from_response_inverts_the_mapping():
    for exc, cls in [
        (RunNotFound("abc"), errors.NotFound),
        (InvalidParameter("bad"), InvalidParameter),
        (errors.AlreadyExists("dup"), errors.AlreadyExists),
        (errors.RunLocked("busy"), errors.Conflict),
    ]:
        status, body = http_error(exc)
        back = error_from_response(status, json.dumps(body).encode(), "runs/get")
        assert type(back) is cls
        assert (back.error_code, back.http_status) == (exc.error_code, exc.http_status)
        assert back.message == f"runs/get: {exc.message}"
    back = error_from_response(503, b"<html>busy</html>", "runs/get")
    assert isinstance(back, TrackingServerError)
    assert (back.error_code, back.http_status, back.message) == (
        "INTERNAL_ERROR",
        503,
        "runs/get: <html>busy</html>",
    )
