"""MLflow's rules for keys, values and ids, with errors that name the bad thing."""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from typing import Any

from gittrack.errors import InvalidParameter

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
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
    if posixpath.normpath(key) != key or key.startswith("/") or ".." in key.split("/"):
        raise InvalidParameter(
            f"Invalid {kind} name {key!r}: must be a normalized relative path "
            "(no '..', no leading '/', no './' or '//')"
        )
    if len(_good_keys) < 100_000:
        _good_keys.add(key)
    return key


def validate_param_value(key: str, value: Any) -> str:
    text = str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameter(
            f"Param {key!r}: value of {len(text)} characters is over the limit of "
            f"{MAX_PARAM_VALUE_LENGTH}"
        )
    return text


def validate_tag_value(key: str, value: Any) -> str:
    text = str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"Tag {key!r}: value of {len(text)} characters is over the limit of "
            f"{MAX_TAG_VALUE_LENGTH}"
        )
    return text


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


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameter(f"Invalid run id {run_id!r}: must match [a-zA-Z0-9][\\w-]{{0,255}}")
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.match(experiment_id):
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
