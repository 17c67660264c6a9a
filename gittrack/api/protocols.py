"""What :class:`~gittrack.api.client.Client` and :class:`~gittrack.rest.client.RestClient`
share: the options of a new run, which the fluent API and ``gittrack run`` pass to either
client's ``_create_writer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict


class NewRun(TypedDict, total=False):
    """The options of a new run both clients take (each one optional)."""

    start_time: int | None  # ms since the epoch; now when None
    tags: Mapping[str, Any] | None
    run_name: str | None  # else the ``mlflow.runName`` tag, else a random name
    parent_run_id: str | None
    description: str | None  # the run's note (``mlflow.note.content``)
    snapshot: bool  # snapshot the source tree (a local repository only)


class NewLocalRun(NewRun, total=False):
    """The options of a new run in a local repository: :class:`NewRun` and its id and user."""

    run_id: str | None  # a new random id when None
    user: str | None  # else the ``mlflow.user`` tag, else git's user.name
