"""Page tokens: opaque to clients, an offset into a stable ordering to the server."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from gittrack.errors import InvalidParameter

T = TypeVar("T")


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a page token stands for (0 for none).

    Raises:
        InvalidParameter: the token was not made by this server.
    """
    if not token:
        return 0
    try:
        data: Any = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        offset = data["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(offset)
    except (ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidParameter(f"Invalid page_token {token[:40]!r}") from exc
    return offset


def page(items: Sequence[T], max_results: int | None, token: str | None) -> tuple[list[T], str]:
    """One page of ``items`` and the token of the next page ('' when this is the last).

    Raises:
        InvalidParameter: a bad token or a non-positive ``max_results``.
    """
    start = decode_token(token)
    if max_results is None:
        return list(items[start:]), ""
    if max_results <= 0:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results': must be > 0"
        )
    end = start + max_results
    return list(items[start:end]), encode_token(end) if end < len(items) else ""
