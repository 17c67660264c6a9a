"""The one exception tree of gittrack, and the one mapping of errors to HTTP answers.

Every error gittrack raises on purpose is a :class:`GittrackError`. Each class
carries the MLflow error code and the HTTP status the server answers it with,
holds its context as attributes and builds its own message::

    GittrackError                       INTERNAL_ERROR            500
    ├── InvalidParameter                INVALID_PARAMETER_VALUE   400
    │   ├── ParamChanged                a param re-logged with another value
    │   ├── InvalidArtifactPath         '..', '/...', '\\', or a local path that cannot be read
    │   └── RunNotWritable              finished, deleted or owned by another process
    ├── BadRequest                      BAD_REQUEST               400
    │   ├── MethodNotAllowed            BAD_REQUEST               405
    │   └── PayloadTooLarge             BAD_REQUEST               413
    ├── Unauthenticated                 UNAUTHENTICATED           401
    ├── NotFound                        RESOURCE_DOES_NOT_EXIST   404
    │   ├── RunNotFound
    │   ├── ExperimentNotFound
    │   ├── ArtifactNotFound            no such artifact in the run, or object in the store
    │   ├── LoggedModelNotFound         no logged model with that id (or no such tag on it)
    │   ├── RegisteredModelNotFound     no registered model with that name
    │   ├── ModelVersionNotFound        no such version (or it is deleted)
    │   └── EndpointNotFound            ENDPOINT_NOT_FOUND        404
    ├── NotSupported                    NOT_IMPLEMENTED           501
    ├── AlreadyExists                   RESOURCE_ALREADY_EXISTS   400
    ├── Conflict                        RESOURCE_CONFLICT         409
    │   ├── AmbiguousRunId
    │   ├── RunLocked
    │   └── ArtifactChanged             the file changed while it was being logged
    ├── RepositoryError                 BAD_REQUEST               400
    │   ├── NoRepository
    │   ├── IndexUnavailable            the run index cannot be opened or written
    │   ├── HookError                   a git hook cannot be installed, removed or run
    │   └── RemoteError                 a git remote cannot be reached, read or written
    │       ├── UnknownRemote
    │       └── RemoteMoved             refs moved on the remote while their objects were fetched
    ├── MissingDependency               INTERNAL_ERROR            500
    ├── RerunRefused                    BAD_REQUEST               400
    │   └── EnvironmentMismatch         packages the run imported differ here
    ├── ImportRefused                   BAD_REQUEST               400
    │   └── ImportLocked                another import into this repository is running
    ├── CorruptRecord                   INVALID_STATE             400
    │   ├── BadRecord                   a record field the SQL mirror cannot hold
    │   └── BadArtifactEntry            INVALID_PARAMETER_VALUE   400
    ├── EnvironmentCaptureError         INTERNAL_ERROR            500
    ├── ArtifactError                   INTERNAL_ERROR            500
    │   ├── ArtifactStoreError          BAD_REQUEST               400
    │   ├── ArtifactTransferError       TEMPORARILY_UNAVAILABLE   503
    │   └── CorruptArtifact             stored bytes differ from the recorded sha256
    ├── SyncError                       INTERNAL_ERROR            500
    │   ├── SyncTargetError             BAD_REQUEST               400
    │   ├── SchemaConflict              RESOURCE_CONFLICT         409
    │   └── SyncBusy                    RESOURCE_CONFLICT         409
    └── TrackingServerError             the code and status the tracking server answered
        ├── ServerUnreachable           TEMPORARILY_UNAVAILABLE   503
        └── DeliveryError               TEMPORARILY_UNAVAILABLE   503

The root has the shape of MLflow's ``MlflowException(message, error_code=...,
**kwargs)`` (``error_code`` by name or by its number in MLflow's
``databricks.proto``; extra keyword arguments go into the JSON body), so it can
stand in for it.

:func:`http_error` is the one place that turns an exception into the HTTP
status and MLflow JSON body ``{"error_code": ..., "message": ...}`` the REST
server and the web UI answer with; :func:`error_from_response` is its inverse
for the REST client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("gittrack.server")

# MLflow's error codes (databricks.proto ``ErrorCode``): name -> (number, HTTP status).
# The statuses are those MLflow's server answers with (mlflow/exceptions.py).
ERROR_CODES: dict[str, tuple[int, int]] = {
    "INTERNAL_ERROR": (1, 500),
    "TEMPORARILY_UNAVAILABLE": (2, 503),
    "IO_ERROR": (3, 500),
    "BAD_REQUEST": (4, 400),
    "DEADLINE_EXCEEDED": (7, 504),
    "CANCELLED": (8, 499),
    "RESOURCE_EXHAUSTED": (9, 429),
    "ABORTED": (10, 409),
    "NOT_FOUND": (11, 404),
    "ALREADY_EXISTS": (12, 409),
    "UNAUTHENTICATED": (13, 401),
    "INVALID_PARAMETER_VALUE": (1000, 400),
    "ENDPOINT_NOT_FOUND": (1001, 404),
    "MALFORMED_REQUEST": (1002, 400),
    "INVALID_STATE": (1003, 500),
    "PERMISSION_DENIED": (1004, 403),
    "FEATURE_DISABLED": (1005, 404),
    "CUSTOMER_UNAUTHORIZED": (1006, 401),
    "REQUEST_LIMIT_EXCEEDED": (1007, 429),
    "RESOURCE_CONFLICT": (1008, 409),
    "NOT_IMPLEMENTED": (1010, 501),
    "DATA_LOSS": (1011, 500),
    "RESOURCE_ALREADY_EXISTS": (3001, 400),
    "RESOURCE_DOES_NOT_EXIST": (3002, 404),
}
_CODE_NAMES = {number: name for name, (number, _) in ERROR_CODES.items()}


def code_name(code: str | int) -> str:
    """The name of an MLflow error code given by name or number (unknown numbers: INTERNAL_ERROR).

    >>> code_name(1000), code_name("RESOURCE_CONFLICT")
    ('INVALID_PARAMETER_VALUE', 'RESOURCE_CONFLICT')
    """
    if isinstance(code, str):
        return code
    return _CODE_NAMES.get(code, "INTERNAL_ERROR")


def status_of(code: str) -> int:
    """The HTTP status MLflow answers error code ``code`` with (500 for codes it does not know)."""
    return ERROR_CODES.get(code, (0, 500))[1]


def _restore(cls: type[GittrackError], args: tuple[Any, ...]) -> GittrackError:
    exc = cls.__new__(cls, *args)
    Exception.__init__(exc, *args)
    return exc


class GittrackError(Exception):
    """Root of all gittrack errors.

    Args:
        message: what went wrong, and where possible how to fix it.
        error_code: an MLflow error code (name or number) overriding the class's.
        http_status: an HTTP status overriding the one of the code.
        json_kwargs: more fields for the JSON error body, as MLflow allows.

    A subclass names its code in the class statement,
    ``class NotFound(GittrackError, code="RESOURCE_DOES_NOT_EXIST")``; its
    status follows from the code unless ``status=`` says otherwise.
    """

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init_subclass__(cls, code: str | None = None, status: int | None = None) -> None:
        super().__init_subclass__()
        if code is not None:
            cls.error_code = code
            cls.http_status = status_of(code)
        if status is not None:
            cls.http_status = status

    def __init__(
        self,
        message: object,
        error_code: str | int | None = None,
        *,
        http_status: int | None = None,
        **json_kwargs: Any,
    ) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = code_name(error_code)
            self.http_status = status_of(self.error_code)
        if http_status is not None:
            self.http_status = http_status
        self.json_kwargs = json_kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from the message, not by calling the subclass's own constructor again
        return _restore, (type(self), self.args), self.__dict__

    def to_json(self) -> dict[str, Any]:
        """The MLflow REST error body for this error: ``{"error_code", "message", ...}``."""
        return {"error_code": self.error_code, "message": self.message, **self.json_kwargs}

    def serialize_as_json(self) -> str:
        """:meth:`to_json` as a JSON string (MLflow's name for it)."""
        return json.dumps(self.to_json())

    def get_http_status_code(self) -> int:
        """The HTTP status this error is answered with (MLflow's name for it)."""
        return self.http_status

    @classmethod
    def invalid_parameter_value(cls, message: object, **json_kwargs: Any) -> GittrackError:
        """An error of this class with code ``INVALID_PARAMETER_VALUE`` (as MLflow's)."""
        return cls(message, "INVALID_PARAMETER_VALUE", **json_kwargs)


# --- 400: the request or its values --------------------------------------------------


class InvalidParameter(GittrackError, code="INVALID_PARAMETER_VALUE"):
    """A key, value, id or argument that MLflow's rules refuse."""


class ParamChanged(InvalidParameter):
    """A param re-logged with a different value (params are write-once)."""

    def __init__(self, run_id: str, key: str, old: str, new: str) -> None:
        super().__init__(
            f"Changing param values is not allowed. Param with key={key!r} was already "
            f"logged with value={old!r} for run ID={run_id!r}. Attempted logging new "
            f"value {new!r}."
        )
        self.run_id, self.key, self.old, self.new = run_id, key, old, new


class InvalidArtifactPath(InvalidParameter):
    """An artifact path or local path that cannot be logged or read."""


class BadRequest(GittrackError, code="BAD_REQUEST"):
    """A request the server cannot read: malformed JSON, a body that is not an object."""


class MethodNotAllowed(BadRequest, status=405):
    """An HTTP method the endpoint does not answer."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Method {method} is not allowed on {path}")
        self.method, self.path = method, path


class PayloadTooLarge(BadRequest, status=413):
    """A request body over the server's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than the server's limit of {limit} bytes")
        self.limit = limit


class Unauthenticated(GittrackError, code="UNAUTHENTICATED"):
    """A request to a server with a token that carries no or the wrong credentials."""

    def __init__(self, missing: bool) -> None:
        super().__init__(
            f"Credentials are {'missing' if missing else 'wrong'}: send 'Authorization: "
            "Bearer <token>' or basic auth with the server's token as password"
        )
        self.missing = missing


# --- 404 -----------------------------------------------------------------------------


class NotFound(GittrackError, code="RESOURCE_DOES_NOT_EXIST"):
    """A run, experiment, artifact or other thing named that does not exist."""


class RunNotFound(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run {run_id!r} not found")
        self.run_id = run_id


class ExperimentNotFound(NotFound):
    def __init__(self, what: str) -> None:
        super().__init__(f"Experiment {what} not found")
        self.what = what


class ArtifactNotFound(NotFound):
    """The run has no artifact at that path, or the store lacks the object."""


class LoggedModelNotFound(NotFound):
    """No logged model has that id (or it is deleted and deleted ones were not asked for),
    or the model has no such tag."""


class RegisteredModelNotFound(NotFound):
    """No registered model has that name (or it was deleted)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Registered Model with name={name} not found")
        self.name = name


class ModelVersionNotFound(NotFound):
    """The registered model has no such version (or it was deleted)."""

    def __init__(self, name: str, version: int | str) -> None:
        super().__init__(f"Model Version (name={name}, version={version}) not found")
        self.name, self.version = name, version


class EndpointNotFound(NotFound, code="ENDPOINT_NOT_FOUND"):
    """No endpoint answers this method and path."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"No endpoint {method} {path}")
        self.method, self.path = method, path


class NotSupported(GittrackError, code="NOT_IMPLEMENTED"):
    """Something MLflow's API offers that gittrack does not do (501)."""


class AlreadyExists(GittrackError, code="RESOURCE_ALREADY_EXISTS"):
    """An experiment (or other named thing) that exists already."""


# --- 409 -----------------------------------------------------------------------------


class Conflict(GittrackError, code="RESOURCE_CONFLICT"):
    """The request is fine but the state of what it names does not allow it."""


class AmbiguousRunId(Conflict):
    def __init__(self, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(m[:12] for m in matches[:5])
        more = "" if len(matches) <= 5 else f" and {len(matches) - 5} more"
        super().__init__(
            f"Run id prefix {prefix!r} is ambiguous: it matches {len(matches)} runs "
            f"({shown}{more}); give more characters"
        )
        self.prefix, self.matches = prefix, matches


class RunNotWritable(InvalidParameter):
    """Logging to a run that is finished, deleted, or not open for writing (MLflow answers
    a write to an inactive run with INVALID_PARAMETER_VALUE, 400)."""


def inactive_run_message(run_id: str) -> str:
    """MLflow's words for a write to a deleted run, with how to make it writable."""
    return (
        f"The run {run_id} must be in the 'active' state. Current state is deleted. "
        "Restore it first (restore_run)."
    )


class RunLocked(Conflict):
    """The run is being written by another live process."""


class ArtifactChanged(Conflict):
    """The file being logged changed while it was read; nothing was recorded."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} changed while it was being logged (its sha256 differs between reads); "
            "nothing was recorded. Log it again once it is no longer being written."
        )
        self.path = path


# --- the repository and git ---------------------------------------------------------


class RepositoryError(GittrackError, code="BAD_REQUEST"):
    """The git repository, its index, hooks or remotes cannot be used as asked."""


class NoRepository(RepositoryError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Not inside a git repository: {path}. gittrack records runs in the git "
            "repository your code lives in. Run `git init` there, change into your "
            "project's directory, or set GITTRACK_REPO=/path/to/repo."
        )
        self.path = path


class IndexUnavailable(RepositoryError):
    """The run index could not be opened or written (disk full, permissions)."""


class HookError(RepositoryError):
    """A hook could not be installed, removed or run (names the file and the cause)."""


class RemoteError(RepositoryError):
    """A git remote could not be reached, read or written (message says which and why)."""


class UnknownRemote(RemoteError):
    """A remote name that is not configured in the repository."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        listed = ", ".join(known) if known else "none"
        super().__init__(
            f"No such remote {name!r} (configured remotes: {listed}). "
            f"Add it with `git remote add {name} URL`, or give a URL."
        )
        self.name, self.known = name, list(known)


class RemoteMoved(RemoteError):
    """Refs changed on the remote while their objects were fetched (fetching again helps)."""


class MissingDependency(GittrackError):
    """An optional package a feature needs is not installed; the message names the extra."""

    def __init__(self, package: str, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed: "
            f"pip install 'gittrack[{extra}]'"
        )
        self.package, self.feature, self.extra = package, feature, extra


# --- gittrack rerun -----------------------------------------------------------------


class RerunRefused(GittrackError, code="BAD_REQUEST"):
    """``gittrack rerun`` cannot rerun this run: no recorded command, snapshot missing,
    command not found on this machine."""


class EnvironmentMismatch(RerunRefused):
    """Packages the run imported have other versions here than when it ran.

    ``changes`` maps distribution → (recorded version, current version or None);
    ``pip_command`` is the command line that installs the recorded versions.
    """

    def __init__(self, run_id: str, changes: dict[str, tuple[str, str | None]], pip: str) -> None:
        lines = [
            f"  {name}: {old} when it ran, {new or 'not installed'} now"
            for name, (old, new) in sorted(changes.items())
        ]
        super().__init__(
            f"Run {run_id[:8]} imported packages whose versions differ here:\n"
            + "\n".join(lines)
            + f"\nAlign them with:\n  {pip}\nor rerun with --env current to run anyway."
        )
        self.run_id, self.changes, self.pip_command = run_id, changes, pip


class ImportRefused(GittrackError, code="BAD_REQUEST"):
    """``gittrack import`` cannot read the source: missing, not an MLflow store, an
    unsupported schema version, or an unreachable server. Nothing was written."""


class ImportLocked(ImportRefused):
    """Another ``gittrack import`` is writing into this repository."""


# --- stored data ---------------------------------------------------------------------


class CorruptRecord(GittrackError, code="INVALID_STATE", status=400):
    """A run record that cannot be read (bad YAML, missing file, unsafe tags, over a
    reading limit). A 400, not MLflow's 500 for INVALID_STATE: the request named a run
    nobody can read, the server is fine (and MLflow's client does not retry a 4xx)."""

    def __init__(self, run_id: str | None, what: str) -> None:
        super().__init__(f"Run {run_id}: record is unreadable: {what}" if run_id else what)
        self.run_id, self.what = run_id, what


class BadRecord(CorruptRecord):
    """A record field the SQL mirror cannot hold; the message names the field (not the run)."""

    def __init__(self, what: str) -> None:
        super().__init__(None, what)


class BadArtifactEntry(CorruptRecord, code="INVALID_PARAMETER_VALUE", status=400):
    """An ``artifacts.yaml`` entry that breaks the rules (a sha256 that is not 64
    lowercase hex digits, an unsafe path, a bad size or ``where``): it is refused
    wherever it is read, and a request for it is the client's 400, not a 500."""


class EnvironmentCaptureError(GittrackError):
    """An interpreter's environment could not be captured, or a snapshot not read."""


class ArtifactError(GittrackError):
    """Root of artifact storage errors."""


class ArtifactStoreError(ArtifactError, code="BAD_REQUEST"):
    """The artifact store URL or its options cannot be used."""


class ArtifactTransferError(ArtifactError, code="TEMPORARILY_UNAVAILABLE"):
    """An upload or download failed after its retries; the run records nothing of it."""


class CorruptArtifact(ArtifactError):
    """Bytes read back do not match the sha256 the run recorded."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{what}: content does not match its recorded sha256 "
            f"(expected {expected[:16]}…, got {actual[:16]}…); refusing to use it. "
            "Run `gittrack fsck` to list damaged artifacts."
        )
        self.what, self.expected, self.actual = what, expected, actual


# --- the SQL mirror ------------------------------------------------------------------


class SyncError(GittrackError):
    """A sync that could not complete; the mirror is left as it was."""


class SyncTargetError(SyncError, code="BAD_REQUEST"):
    """The target database cannot be reached or logged into, or its URL is wrong."""


class SchemaConflict(SyncError, code="RESOURCE_CONFLICT"):
    """The target holds tables gittrack did not create (or another schema version)."""

    def __init__(self, target: str, why: str) -> None:
        super().__init__(
            f"Refusing to sync into {target}: {why}. Nothing was changed; "
            "sync into an empty database or schema, or one gittrack created."
        )
        self.target, self.why = target, why


class SyncBusy(SyncError, code="RESOURCE_CONFLICT"):
    """Another sync into the same target held the lock for too long."""

    def __init__(self, target: str) -> None:
        super().__init__(
            f"Another gittrack sync into {target} holds the lock; gave up waiting. "
            "Nothing was written."
        )
        self.target = target


# --- the REST client's view of a tracking server ------------------------------------


class TrackingServerError(GittrackError):
    """The tracking server answered with an error gittrack has no closer class for.

    Its ``error_code`` and ``http_status`` are the ones the server answered with.
    """


class ServerUnreachable(TrackingServerError, code="TEMPORARILY_UNAVAILABLE"):
    """The tracking server could not be reached (after retrying)."""


class DeliveryError(TrackingServerError, code="TEMPORARILY_UNAVAILABLE"):
    """Metric points that could not be delivered to the tracking server (saved locally)."""

    def __init__(self, run_id: str, count: int, reason: str, saved_to: str | None) -> None:
        where = f"; they were saved to {saved_to}" if saved_to else ""
        super().__init__(
            f"{count} metric points of run {run_id} could not be delivered to the tracking "
            f"server: {reason}{where}"
        )
        self.run_id, self.count, self.reason, self.saved_to = run_id, count, reason, saved_to


# --- errors <-> HTTP -----------------------------------------------------------------

# the class a REST error body's code becomes on the client side
_BY_CODE: dict[str, type[GittrackError]] = {
    "INVALID_PARAMETER_VALUE": InvalidParameter,
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "RESOURCE_CONFLICT": Conflict,
}


def as_gittrack_error(exc: BaseException, method: str = "", path: str = "") -> GittrackError | None:
    """``exc`` as a gittrack error: itself, or the one a foreign error is converted to.

    Converted: the HTTP exceptions Starlette raises for requests no route
    takes (404 → :class:`EndpointNotFound`, 405 → :class:`MethodNotAllowed`,
    others → :class:`BadRequest`); ``method`` and ``path`` name the request.

    Returns:
        The gittrack error, or None for an unexpected error (a bug).
    """
    if isinstance(exc, GittrackError):
        return exc
    status = getattr(exc, "status_code", None)
    if type(exc).__module__.startswith("starlette.") and isinstance(status, int):
        if status == 404:
            return EndpointNotFound(method, path)
        if status == 405:
            return MethodNotAllowed(method, path)
        return BadRequest(str(getattr(exc, "detail", "") or f"HTTP {status}"))
    return None


def http_error(exc: BaseException, method: str = "", path: str = "") -> tuple[int, dict[str, Any]]:
    """The one exception → HTTP mapping: the status and MLflow JSON error body for ``exc``.

    A gittrack error answers with its own status, code and message; foreign
    errors are converted by :func:`as_gittrack_error`; anything else is a 500
    ``INTERNAL_ERROR`` whose traceback goes to the log, not to the client.

    >>> http_error(RunNotFound("abc"))
    (404, {'error_code': 'RESOURCE_DOES_NOT_EXIST', 'message': "Run 'abc' not found"})
    """
    err = as_gittrack_error(exc, method, path)
    if err is None:
        log.error("internal error", exc_info=exc)
        return 500, {
            "error_code": "INTERNAL_ERROR",
            "message": f"Internal error: {type(exc).__name__}",
        }
    return err.http_status, err.to_json()


def error_from_response(status: int, body: bytes, what: str) -> GittrackError:
    """The gittrack error for a server's non-200 answer ``{"error_code", "message"}``.

    The inverse of :func:`http_error`, for the REST client: the code picks the
    class (:class:`TrackingServerError` keeping the code and status when no
    class is closer); ``what`` (the call made) starts the message.
    """
    try:
        data = json.loads(body)
        code, message = str(data.get("error_code", "")), str(data.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", body[:200].decode("utf-8", "replace")
    text = f"{what}: {message or f'HTTP {status}'}"
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(text)
    return TrackingServerError(text, code or "INTERNAL_ERROR", http_status=status)
