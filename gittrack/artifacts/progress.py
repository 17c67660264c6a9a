"""Progress bars for transfers over a few MiB, shown only on a terminal."""

from __future__ import annotations

import sys
from typing import Any

SHOW_ABOVE = 8 * 1024 * 1024  # bytes


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str) -> Any:
    """A tqdm bar for ``total`` bytes when stderr is a terminal and ``total`` is large.

    Returns an object with ``update(n)`` and ``close()``; a silent one otherwise.
    """
    if total < SHOW_ABOVE or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
