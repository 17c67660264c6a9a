"""The one retry loop: exponential backoff with jitter, never for a non-idempotent call.

Every place that tries again — REST requests, artifact store transfers, fetching
refs while a remote moves, preparing a mirror database, waiting for another
server worker's run lock — calls :func:`call_with_retry` with a :class:`Backoff`
and says whether the call is idempotent. A call that is not (a POST that
creates a run or appends points) runs exactly once whatever went wrong: a lost
answer must not become a duplicate. What to retry is the caller's choice
(``retryable``); what to raise once retries are spent is the caller's too (the
last exception is re-raised as it is).

Why not tenacity: the loop is twenty lines, gittrack's import must stay light,
and the rule that matters here — no retry unless the caller states the call is
idempotent — is a required argument rather than a convention.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """When to try again: ``retries`` more times (None: until ``deadline`` seconds have
    passed), waiting ``first`` seconds, then ``factor`` times longer each time, at most
    ``cap``; each wait is scaled by a random factor in ``[1 - jitter, 1]``."""

    retries: int | None = 3
    first: float = 0.2
    factor: float = 2.0
    cap: float = 10.0
    jitter: float = 0.5
    deadline: float | None = None

    def delays(self) -> Iterator[float]:
        """The waits before each retry, in order (finite unless ``retries`` is None)."""
        delay = self.first
        n = 0
        while self.retries is None or n < self.retries:
            yield min(self.cap, delay) * (1 - self.jitter * random.random())
            delay *= self.factor
            n += 1


def call_with_retry(
    fn: Callable[[], T],
    *,
    idempotent: bool,
    retryable: Callable[[BaseException], bool],
    backoff: Backoff,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """``fn()``, called again after each exception ``retryable`` accepts while ``backoff``
    allows; a call that is not ``idempotent`` is made once.

    ``on_retry(attempt, exc)`` is told before each wait (attempt counts from 1).

    Returns:
        What ``fn`` returned.
    Raises:
        Whatever ``fn`` raised last (a non-retryable exception at once).
    """
    if not idempotent:
        return fn()
    start = time.monotonic()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            if backoff.deadline is not None and time.monotonic() - start + delay > backoff.deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(delay)
