"""Page tokens, one codec: opaque to clients, an offset into a stable ordering to gittrack.

A token is base64 of the JSON ``{"offset": n}`` (MLflow's shape), in the URL-safe
alphabet so it survives a query string unquoted; tokens in the standard alphabet
are read too. Used by the query engine (``search_runs``), the REST server
(experiments, metric history) and anything else that pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from gittrack.errors import InvalidParameter

T = TypeVar("T")
_TO_STANDARD = str.maketrans("-_", "+/")


def encode_token(offset: int) -> str:
    """The page token that resumes at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a page token stands for (0 for none or '').

    Raises:
        InvalidParameter: the token is not one gittrack gave (names the token).
    """
    if not token:
        return 0
    try:
        raw = base64.b64decode(str(token).translate(_TO_STANDARD), validate=True)
        data: Any = json.loads(raw)
        offset = data["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise ValueError(offset)
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError) as exc:
        raise InvalidParameter(
            f"Invalid page token {str(token)[:40]!r}: not a token gittrack gave"
        ) from exc
    if offset < 0:
        raise InvalidParameter(f"Invalid page token {str(token)[:40]!r}: negative offset")
    return offset


def check_max_results(max_results: Any, upper: int | None = None) -> int:
    """Return ``max_results`` if it is a positive integer (at most ``upper`` when given).

    Raises:
        InvalidParameter: for 0, negatives, bools, non-integers, or more than ``upper``.
    """
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or max_results < 1
        or (upper is not None and max_results > upper)
    ):
        if upper is None:
            raise InvalidParameter(
                f"Invalid value {max_results!r} for max_results: it must be a positive integer"
            )
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied: must be "
            f"between 1 and {upper}"
        )
    return max_results


def page(items: Sequence[T], max_results: int | None, token: str | None) -> tuple[list[T], str]:
    """One page of ``items`` and the token of the next page ('' when this is the last).

    Raises:
        InvalidParameter: a bad token or a non-positive ``max_results``.
    """
    start = decode_token(token)
    if max_results is None:
        return list(items[start:]), ""
    check_max_results(max_results)
    end = start + max_results
    return list(items[start:end]), encode_token(end) if end < len(items) else ""
