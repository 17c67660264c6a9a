"""The one rule set for what gittrack accepts: keys, values, ids, artifact paths and
artifact entries, with errors that name the bad thing.

Every face calls these: the Python API, the REST server, the UI, the CLI, the
artifact readers (``download_artifacts``, ``load_model``, push/pull, the SQL
mirror). Keys follow MLflow (≤ 250 characters of ``[/\\w.\\- :]``, and a key must
not change when treated as a path: ``posixpath.normpath(key) == key``, not
``.``, not starting with ``..`` or ``/``). An artifact path is relative, uses
``/``, and stays inside the run's artifact root; an artifact entry's ``sha256``
is exactly 64 lowercase hex digits, so it can never name a file outside the
content-addressed store.
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
import re
import time
from collections.abc import Mapping
from typing import Any

from gittrack.errors import BadArtifactEntry, InvalidArtifactPath, InvalidParameter

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$", re.ASCII)  # MLflow's run ids
GITTRACK_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # the ids gittrack creates (uuid4 hex)
_HEX_PREFIX_RE = re.compile(r"^[0-9a-f]+$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")

# Keys already checked: logging the same key a million times checks it once.
_good_keys: set[str] = set()


def validate_key(key: Any, kind: str = "key") -> str:
    """Return ``key`` if MLflow accepts it as a metric, param or tag name.

    Raises:
        InvalidParameter: naming the key and the rule it breaks.
    """
    if key in _good_keys:
        return key
    if not isinstance(key, str):
        raise InvalidParameter(f"Invalid {kind} name {key!r}: must be a string")
    if not key:
        raise InvalidParameter(f"Invalid {kind} name '': must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(
            f"Invalid {kind} name {key[:40]!r}...: {len(key)} characters, "
            f"over the limit of {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.match(key):
        bad = sorted({c for c in key if not re.match(r"[/\w.\- :]", c)})
        raise InvalidParameter(
            f"Invalid {kind} name {key!r}: may only contain alphanumerics, underscores (_), "
            f"dashes (-), periods (.), spaces ( ), colons (:) and slashes (/); "
            f"found {''.join(bad)!r}"
        )
    if key_changes_as_path(key):
        raise InvalidParameter(
            f"Invalid {kind} name {key!r}: must be a normalized relative path "
            "(no '..', no leading '/', no './' or '//')"
        )
    if len(_good_keys) < 100_000:
        _good_keys.add(key)
    return key


def key_changes_as_path(key: str) -> bool:
    """Whether ``key`` would name another file when used as a path (MLflow's rule):
    it changes under ``posixpath.normpath``, is ``.``, or starts with ``..`` or ``/``."""
    norm = posixpath.normpath(key)
    return norm != key or norm == "." or norm.startswith("..") or norm.startswith("/")


def _value_text(kind: str, key: str, value: Any, limit: int) -> str:
    text = str(value)
    if len(text) > limit:
        raise InvalidParameter(
            f"{kind} {key!r}: value of {len(text)} characters is over the limit of {limit}"
        )
    return text


def validate_param_value(key: str, value: Any) -> str:
    """``value`` as the string MLflow stores for param ``key``.

    Raises:
        InvalidParameter: longer than 6,000 characters.
    """
    return _value_text("Param", key, value, MAX_PARAM_VALUE_LENGTH)


def validate_tag_value(key: str, value: Any) -> str:
    """``value`` as the string MLflow stores for tag ``key``.

    Raises:
        InvalidParameter: longer than 8,000 characters.
    """
    return _value_text("Tag", key, value, MAX_TAG_VALUE_LENGTH)


def metric_value(key: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if MLflow would refuse it.

    NaN and ±inf are accepted (and kept). Bools, strings and None are refused.
    """
    t = type(value)
    if t is float:
        return value
    if t is int:
        try:
            return float(value)
        except OverflowError:
            raise InvalidParameter(_too_large(key, value)) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise InvalidParameter(
            f"Metric {key!r}: value {value!r} of type {t.__name__} is not a number "
            "(int or float; bool is refused)"
        )
    if type(value).__name__ == "bool_":  # numpy.bool_
        raise InvalidParameter(f"Metric {key!r}: value {value!r} is a bool, not a number")
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise InvalidParameter(_too_large(key, value)) from None
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"Metric {key!r}: value {value!r} is not a real number") from exc


def _too_large(key: str, value: Any) -> str:
    whole = isinstance(value, numbers.Integral)
    text = str(int(value)) if whole else repr(value)
    size = f"{len(text.lstrip('-'))} digits" if whole else f"{len(text)} characters"
    shown = text if len(text) <= 24 else f"{text[:12]}...{text[-6:]} ({size})"
    return f"Metric {key!r}: value {shown} is too large for a 64-bit float (max ~1.8e308)"


def metric_step(key: str, step: Any) -> int:
    if type(step) is int and MIN_INT64 <= step <= MAX_INT64:
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidParameter(
            f"Metric {key!r}: step {step!r} of type {type(step).__name__} is not an integer"
        )
    step = int(step)
    if not MIN_INT64 <= step <= MAX_INT64:
        raise InvalidParameter(f"Metric {key!r}: step {step} is outside the int64 range")
    return step


def metric_timestamp(key: str, ts: Any) -> int:
    if type(ts) is int and 0 <= ts <= MAX_INT64:
        return ts
    if isinstance(ts, bool) or not isinstance(ts, numbers.Real):
        raise InvalidParameter(
            f"Metric {key!r}: timestamp {ts!r} is not a number of milliseconds since the epoch"
        )
    if isinstance(ts, float) and (math.isnan(ts) or math.isinf(ts)):
        raise InvalidParameter(f"Metric {key!r}: timestamp {ts!r} is not finite")
    ts = math.trunc(ts)
    if ts < 0:
        raise InvalidParameter(f"Metric {key!r}: timestamp {ts} is negative")
    if ts > MAX_INT64:
        raise InvalidParameter(f"Metric {key!r}: timestamp {ts} is outside the int64 range")
    return ts


def metric_point(
    key: Any, value: Any, timestamp: Any = None, step: Any = None
) -> tuple[str, float, int, int]:
    """``(key, value, timestamp, step)`` of one metric point, checked as MLflow checks it
    (key, value, timestamp, step, in that order) and normalised: ``value`` a float,
    ``timestamp`` and ``step`` ints; a ``timestamp`` of None is now (ms), a ``step`` of
    None is 0. The one builder of a point for every face: the REST client, the server's
    handlers and the writer when its own fast checks do not vouch for a point.

    Raises:
        InvalidParameter: naming the metric and the bad part (MLflow's messages).
    """
    if key not in _good_keys:
        validate_key(key, "metric")
    if type(value) is not float:
        value = metric_value(key, value)
    if timestamp is None:
        timestamp = int(time.time() * 1000)
    elif type(timestamp) is not int or not 0 <= timestamp <= MAX_INT64:
        timestamp = metric_timestamp(key, timestamp)
    if step is None:
        step = 0
    elif type(step) is not int or not MIN_INT64 <= step <= MAX_INT64:
        step = metric_step(key, step)
    return key, value, timestamp, step


def is_run_id(text: Any) -> bool:
    """Whether ``text`` is a run id MLflow accepts (``[a-zA-Z0-9][\\w-]{0,255}``, ASCII)."""
    return isinstance(text, str) and RUN_ID_RE.fullmatch(text) is not None


def is_gittrack_run_id(text: Any) -> bool:
    """Whether ``text`` is a run id as gittrack makes them: 32 lowercase hex digits."""
    return isinstance(text, str) and GITTRACK_RUN_ID_RE.fullmatch(text) is not None


def is_run_id_prefix(text: Any) -> bool:
    """Whether ``text`` can be (a prefix of) a gittrack run id: lowercase hex digits."""
    return isinstance(text, str) and _HEX_PREFIX_RE.fullmatch(text) is not None


def validate_run_id(run_id: Any) -> str:
    """Return ``run_id`` if MLflow accepts it as a run id.

    Raises:
        InvalidParameter: naming the id.
    """
    if not is_run_id(run_id):
        raise InvalidParameter(f"Invalid run id {run_id!r}: must match [a-zA-Z0-9][\\w-]{{0,255}}")
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.fullmatch(experiment_id):
        raise InvalidParameter(
            f"Invalid experiment id {experiment_id!r}: must match [a-zA-Z0-9][\\w-]{{0,63}}"
        )
    return experiment_id


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"Invalid experiment name {name!r}: must be a non-empty string")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(
            f"Invalid experiment name: {len(name)} characters, over the limit of "
            f"{MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return name


LOGGED_MODEL_NAME_BAD = ("/", ":", ".", "%", '"', "'")


def validate_logged_model_name(name: Any) -> str | None:
    """A LoggedModel's name as MLflow allows it (None: one is made up).

    Raises:
        InvalidParameter: empty, not a string, or holding one of :data:`LOGGED_MODEL_NAME_BAD`
            (MLflow's message).
    """
    if name is None:
        return None
    if not isinstance(name, str) or not name or any(c in name for c in LOGGED_MODEL_NAME_BAD):
        raise InvalidParameter(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {LOGGED_MODEL_NAME_BAD}"
        )
    return name


# -- artifacts: paths inside a run, and the entries of artifacts.yaml -------------------

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ARTIFACT_WHERE = ("git", "store")


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is a sha256 as gittrack names objects: 64 lowercase hex digits."""
    return isinstance(value, str) and SHA256_RE.fullmatch(value) is not None


def validate_sha256(value: Any, what: str = "sha256") -> str:
    """Return ``value`` if it is 64 lowercase hex digits.

    Raises:
        InvalidParameter: naming the value (cut to 80 characters).
    """
    if not is_sha256(value):
        raise InvalidParameter(
            f"Invalid {what} {str(value)[:80]!r}: must be 64 lowercase hex digits"
        )
    return value


def clean_artifact_path(path: Any, what: str = "artifact_path") -> str:
    """``path`` checked and normalised: '' for the root, no ``./`` prefix, no trailing slash.

    Raises:
        InvalidArtifactPath: not a string, absolute, ``..``, backslash, NUL, empty or
            ``.`` components, or a ``.git`` component (git refuses such tree entries).
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise InvalidArtifactPath(f"{what} must be a string, got {type(path).__name__}")
    if path in ("", ".", "./"):
        return ""
    if "\\" in path:
        raise InvalidArtifactPath(
            f"{what} {path!r} contains a backslash; use '/' to separate folders"
        )
    if "\x00" in path:
        raise InvalidArtifactPath(f"{what} {path!r} contains a NUL character")
    if path.startswith("/"):
        raise InvalidArtifactPath(
            f"{what} {path!r} is absolute; artifact paths are relative to the run's artifact root"
        )
    stripped = path[2:] if path.startswith("./") else path
    parts = stripped.rstrip("/").split("/")
    for part in parts:
        if part == "..":
            raise InvalidArtifactPath(
                f"{what} {path!r} contains '..'; artifacts cannot be written outside the run"
            )
        if part in ("", "."):
            raise InvalidArtifactPath(f"{what} {path!r} has an empty or '.' component")
        if part.lower() == ".git":
            raise InvalidArtifactPath(f"{what} {path!r} has a '.git' component, which git refuses")
    return "/".join(parts)


def artifact_entry_problem(entry: Any) -> str | None:
    """Why one ``artifacts.yaml`` entry (``{sha256, size, where}``) is malformed or
    unsafe, or None when it is fine (its path is checked by :func:`clean_artifact_path`)."""
    if not isinstance(entry, Mapping):
        return "entry is not a mapping"
    sha = entry.get("sha256")
    if not is_sha256(sha):
        return f"sha256 {str(sha)[:200]!r} is not 64 lowercase hex digits"
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return f"size {size!r} is not a non-negative integer"
    if entry.get("where") not in ARTIFACT_WHERE:
        return f"where {entry.get('where')!r} is not one of {ARTIFACT_WHERE}"
    return None


def artifact_path_ok(path: Any) -> bool:
    """Whether ``path`` is an artifact path in its normal form (what a manifest may hold)."""
    try:
        return clean_artifact_path(path, "path") == path
    except InvalidArtifactPath:
        return False


def artifact_entry_ok(path: Any, entry: Any) -> bool:
    """Whether one ``artifacts.yaml`` entry passes every rule (its path and its fields)."""
    return artifact_path_ok(path) and artifact_entry_problem(entry) is None


def artifact_manifest(run_id: str, manifest: Any) -> dict[str, dict[str, Any]]:
    """A run's ``artifacts.yaml`` (path → entry), every entry checked.

    This is what every reader of artifact entries calls before it uses a path or a
    sha256 (server, UI, CLI, ``load_model``, push/pull, the SQL mirror).

    Raises:
        InvalidArtifactPath: a path that is absolute, climbs out with ``..``, ... or is
            not in its normal form.
        BadArtifactEntry: an entry whose sha256, size or ``where`` is wrong, naming the
            run, the path and the bad value.
    """
    if manifest is None:
        return {}
    if not isinstance(manifest, Mapping):
        raise BadArtifactEntry(run_id, f"artifacts.yaml holds a {type(manifest).__name__}")
    for path, entry in manifest.items():
        what = f"Run {run_id}: artifacts.yaml path"
        if clean_artifact_path(path, what) != path:
            raise InvalidArtifactPath(f"{what} {path!r} is not in normal form")
        problem = artifact_entry_problem(entry)
        if problem is not None:
            raise BadArtifactEntry(
                run_id,
                f"artifacts.yaml entry {str(path)[:200]!r}: {problem}; refusing to read it",
            )
    return dict(manifest)


# -- the model registry: names, versions, aliases, tags (MLflow's rules) ------------------

MAX_REGISTERED_MODEL_NAME_LENGTH = 256  # MLflow's SQL column (String(256))
MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_MODEL_ALIAS_LENGTH = 255
MAX_REGISTRY_DESCRIPTION_LENGTH = 100_000
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
RESERVED_ALIAS_LATEST = "latest"


def validate_model_name(name: Any, what: str = "name") -> str:
    """Return ``name`` if MLflow accepts it as a registered model name.

    MLflow's rules: not empty or blank, no ``/`` or ``:``, unchanged as a path
    (``posixpath.normpath``), at most 256 characters (its SQL column); and, as it must be
    stored as UTF-8, no lone surrogates.

    Raises:
        InvalidParameter: naming the bad name (cut to 80 characters) and the rule.
    """
    if name is None or (isinstance(name, str) and name.strip() == ""):
        raise InvalidParameter(f"Missing value for required parameter '{what}'.")
    if not isinstance(name, str):
        raise InvalidParameter(
            f"Invalid registered model {what} {name!r}: must be a string, got {type(name).__name__}"
        )
    shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
    if len(name) > MAX_REGISTERED_MODEL_NAME_LENGTH:
        raise InvalidParameter(
            f"Invalid model name {shown}: {len(name)} characters, over the limit of "
            f"{MAX_REGISTERED_MODEL_NAME_LENGTH}"
        )
    if "/" in name or ":" in name:
        raise InvalidParameter(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:  # the bytes it was decoded from (argv, file names: surrogateescape)
            raw = str(name.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            raw = ascii(name)
        raise InvalidParameter(
            f"Invalid model name {raw}: not valid unicode (bytes that are not UTF-8, or a "
            "lone surrogate); names are stored as UTF-8"
        ) from None
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise InvalidParameter(f"Invalid model name {shown}: must not contain control characters")
    if key_changes_as_path(name):
        raise InvalidParameter(
            f"Invalid value {json.dumps(name)} for parameter '{what}' supplied: Names may be treated as "
            "files in certain cases, and must not resolve to other names when treated as such. "
            f"This name would resolve to {posixpath.normpath(name)!r}"
        )
    return name


def validate_model_version(version: Any) -> int:
    """``version`` as an int (MLflow takes ``"3"`` and ``3``).

    Raises:
        InvalidParameter: not an integer (MLflow's message).
    """
    if isinstance(version, bool):
        raise InvalidParameter(f"Parameter 'version' must be an integer, got '{version}'.")
    try:
        return int(version)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"Parameter 'version' must be an integer, got '{version}'."
        ) from None


def validate_alias_name(alias: Any, *, setting: bool = False) -> str:
    """Return ``alias`` if MLflow accepts it (``[\\w-]``, ≤ 255 characters); when
    ``setting`` also refuse the reserved ``latest`` and ``v<digits>``.

    Raises:
        InvalidParameter: MLflow's messages.
    """
    if alias is None or alias == "":
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_MODEL_ALIAS_LENGTH:
        raise InvalidParameter(
            f"'Registered model alias name' exceeds the maximum length of "
            f"{MAX_MODEL_ALIAS_LENGTH} characters"
        )
    if setting:
        if alias.lower() == RESERVED_ALIAS_LATEST:
            raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS_RE.match(alias):
            raise InvalidParameter(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_registry_tag(key: Any, value: Any) -> tuple[str, str]:
    """A registered model or model version tag, as MLflow checks it (the tag key rule of runs,
    value not None and at most 100,000 characters).

    Raises:
        InvalidParameter: naming the key.
    """
    if key is None:
        raise InvalidParameter("Missing value for required parameter 'key'.")
    validate_key(key, "tag")
    if value is None:
        raise InvalidParameter("Tag value cannot be None")
    text = str(value)
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"'value' exceeds the maximum length of {MAX_REGISTRY_TAG_VALUE_LENGTH} characters"
        )
    return key, text
