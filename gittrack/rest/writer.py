"""The writer of a run logged over REST: what the fluent API holds for an active run.

It has the surface of :class:`gittrack.core.writer.RunWriter` that
:mod:`gittrack.api.fluent` uses (``run_id``, ``record``, ``closed``,
``log_metric``, ``log_param(s)``, ``set_tag``, ``delete_tag``, ``set_record``,
``end``, ``close``, ``checkpoint``), so ``gittrack.start_run`` and friends
work unchanged against a tracking server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gittrack.core.entities import RunStatus
from gittrack.errors import InvalidParameter, RunNotWritable

if TYPE_CHECKING:
    from gittrack.rest.client import RestClient


def _flatten(params: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise InvalidParameter(f"log_params expects a dict, got {type(params).__name__}")
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, Mapping) and v:
                walk(v, f"{prefix}{k}.")
            else:
                out[f"{prefix}{k}"] = v

    walk(params, "")
    return out


class RemoteRunWriter:
    """One run on a tracking server, written through a :class:`RestClient`."""

    def __init__(self, client: RestClient, run: Any) -> None:
        self.client = client
        self.run_id: str = run.info.run_id
        info = run.info
        self.record: dict[str, Any] = {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "name": info.run_name,
            "user": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle": info.lifecycle_stage,
        }
        self.closed = False
        self._pid = os.getpid()  # the fluent API ends at exit only runs of its own process

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def has_pending(self) -> bool:
        return bool(self.client.batcher.pending(self.run_id))

    def _check_open(self, action: str) -> None:
        if self.closed or self.record["status"] != RunStatus.RUNNING:
            raise RunNotWritable(
                f"Cannot {action} run {self.run_id}: it is {self.record['status']}"
            )

    def log_metric(self, key: str, value: Any, step: Any = None, timestamp: Any = None) -> None:
        """Queue one point for the background sender."""
        self._check_open("log metrics to")
        self.client.log_metric(self.run_id, key, value, timestamp=timestamp, step=step)

    def log_param(self, key: str, value: Any) -> None:
        self._check_open("log params to")
        self.client.log_param(self.run_id, key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from gittrack.core.entities import Param

        self._check_open("log params to")
        flat = _flatten(params)
        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in flat.items()])

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tag(self.run_id, key, value)
        if key == "mlflow.runName":
            self.record["name"] = str(value)

    def delete_tag(self, key: str) -> None:
        self.client.delete_tag(self.run_id, key)

    def set_record(self, **fields: Any) -> None:
        """Change the run's name or status on the server."""
        name, status = fields.get("name"), fields.get("status")
        if name is not None or status is not None:
            self.client.update_run(self.run_id, status=status, name=name)
        self.record.update(fields)

    def checkpoint(self, *, heartbeat: bool = False) -> None:
        """Deliver every queued point now."""
        self.client.flush(self.run_id)

    def end(self, status: str = RunStatus.FINISHED, end_time: int | None = None) -> None:
        """Deliver the queued points, then end the run with ``status``."""
        if self.closed:
            return
        if status not in RunStatus.TERMINAL:
            raise InvalidParameter(
                f"Invalid end status {status!r}: must be one of {', '.join(RunStatus.TERMINAL)}"
            )
        self.closed = True
        self.client.set_terminated(self.run_id, status=status, end_time=end_time)
        self.record["status"] = status

    def close(self) -> None:
        if not self.closed:
            self.checkpoint()
            self.closed = True
