"""The one exception tree of gittrack.

Every error gittrack raises on purpose is a :class:`GittrackError`; each carries
the MLflow error code and HTTP status the server answers with::

    GittrackError                     INTERNAL_ERROR            500
    ├── InvalidParameter              INVALID_PARAMETER_VALUE   400
    │   ├── ParamChanged              INVALID_PARAMETER_VALUE   400
    │   └── InvalidArtifactPath       (absolute, '..', backslash, NUL, '.git' parts)
    ├── NotFound                      RESOURCE_DOES_NOT_EXIST   404
    │   └── RunNotFound
    │   └── ExperimentNotFound
    ├── AlreadyExists                 RESOURCE_ALREADY_EXISTS   400
    ├── Conflict                      RESOURCE_CONFLICT         409
    │   ├── AmbiguousRunId
    │   ├── RunNotWritable            (finished, deleted or owned by another process)
    │   └── RunLocked
    ├── RepositoryError               BAD_REQUEST               400
    │   └── NoRepository
    ├── RerunRefused                  BAD_REQUEST               400  (gittrack rerun cannot start)
    │   └── EnvironmentMismatch       (--env check: imported packages differ)
    ├── MissingDependency             INTERNAL_ERROR            500
    └── CorruptRecord                 INVALID_STATE             400
        └── BadArtifactEntry          INVALID_PARAMETER_VALUE   400 (a hostile artifacts.yaml)
"""

from __future__ import annotations


class GittrackError(Exception):
    """Root of all gittrack errors."""

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The MLflow REST error body for this error."""
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameter(GittrackError):
    """A key, value, id or argument that MLflow's rules refuse."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


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
    """An artifact path that leaves the run's artifact root, or a local path that
    cannot be logged."""


class NotFound(GittrackError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class RunNotFound(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run {run_id!r} not found")
        self.run_id = run_id


class ExperimentNotFound(NotFound):
    def __init__(self, what: str) -> None:
        super().__init__(f"Experiment {what} not found")


class AlreadyExists(GittrackError):
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class Conflict(GittrackError):
    error_code = "RESOURCE_CONFLICT"
    http_status = 409


class AmbiguousRunId(Conflict):
    def __init__(self, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(m[:12] for m in matches[:5])
        more = "" if len(matches) <= 5 else f" and {len(matches) - 5} more"
        super().__init__(
            f"Run id prefix {prefix!r} is ambiguous: it matches {len(matches)} runs "
            f"({shown}{more}); give more characters"
        )
        self.prefix, self.matches = prefix, matches


class RunNotWritable(Conflict):
    """Logging to a run that is finished, deleted, or not open for writing."""


class RunLocked(Conflict):
    """The run is being written by another live process."""


class RepositoryError(GittrackError):
    error_code = "BAD_REQUEST"
    http_status = 400


class NoRepository(RepositoryError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Not inside a git repository: {path}. gittrack records runs in the git "
            "repository your code lives in. Run `git init` there, change into your "
            "project's directory, or set GITTRACK_REPO=/path/to/repo."
        )
        self.path = path


class MissingDependency(GittrackError):
    """An optional package a feature needs is not installed; the message names the extra."""

    def __init__(self, package: str, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed: "
            f"pip install 'gittrack[{extra}]'"
        )
        self.package, self.extra = package, extra


class CorruptRecord(GittrackError):
    """A run record that cannot be read (bad YAML, missing file, unsafe tags, over a
    reading limit). A 400, not a 500: the request named a run nobody can read, the
    server is fine (and MLflow's client does not retry a 4xx)."""

    error_code = "INVALID_STATE"
    http_status = 400

    def __init__(self, run_id: str, what: str) -> None:
        super().__init__(f"Run {run_id}: record is unreadable: {what}")
        self.run_id, self.what = run_id, what


class BadArtifactEntry(CorruptRecord):
    """An ``artifacts.yaml`` entry that breaks the rules (a sha256 that is not 64
    lowercase hex digits, an unsafe path, a bad size or ``where``): it is refused
    wherever it is read, and a request for it is the client's 400, not a 500."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class RerunRefused(GittrackError):
    """``gittrack rerun`` cannot rerun this run: no recorded command, snapshot missing,
    command not found on this machine."""

    error_code = "BAD_REQUEST"
    http_status = 400


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
