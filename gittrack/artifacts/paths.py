"""Joining artifact paths (the names artifacts have inside a run).

The rule for what an artifact path may be (relative, ``/``-separated, confined
to the run's artifact root) is :func:`gittrack.core.validation.clean_artifact_path`,
the one every face calls; it is re-exported here for the artifact modules.
"""

from __future__ import annotations

from gittrack.core.validation import clean_artifact_path as clean_artifact_path


def join_artifact_path(*parts: str | None) -> str:
    """Join already-clean path parts, skipping empty ones."""
    return "/".join(p for p in parts if p)


def parent_dirs(path: str) -> list[str]:
    """The folders above ``path``: ``'a/b/c'`` → ``['a', 'a/b']``."""
    bits = path.split("/")
    return ["/".join(bits[:i]) for i in range(1, len(bits))]
