"""A Client that logs to a tracking server over MLflow's REST API.

:class:`RestClient` has the names of :class:`gittrack.api.client.Client` (which
are MlflowClient's), so the fluent API can use either. It speaks only MLflow's
REST API, so it logs into ``gittrack server`` and into ``mlflow server`` alike
— the metadata store's pluggable REST abstraction.

``log_metric`` queues the point (see :mod:`gittrack.rest.batcher`) unless called with
``synchronous=True`` (sent at once, the server's error raised at the call); everything
else is a request made at once. ``synchronous=False`` returns a ``RunOperations``
(:func:`gittrack.api.protocols.logged`, the one rule for every face). Reads (``get_run``,
``get_metric_history``, ``search_runs``) and ``set_terminated`` first flush
the run's queued points, so what a program logged is what it reads back.
"""

from __future__ import annotations

import getpass
import os
import posixpath
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from gittrack.api.protocols import RunArgs
from gittrack.core.validation import (
    metric_point,
    validate_key,
    validate_param_value,
    validate_tag_value,
)
from gittrack.errors import InvalidParameter, NotFound
from gittrack.rest import convert
from gittrack.rest.batcher import Batcher
from gittrack.rest.convert import kv as _kv
from gittrack.rest.http import HttpSession
from gittrack.rest.registry import RestRegistryMethods

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from gittrack.api.protocols import NewLocalRun, NewRun, Point

MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
REQUEST_TAG = "gittrack.request_id"  # the client's id of the runs/create call that made a run


def _now() -> int:
    return int(time.time() * 1000)


def _permanent(exc: BaseException) -> bool:
    from gittrack.errors import GittrackError

    return isinstance(exc, GittrackError) and 400 <= getattr(exc, "http_status", 500) < 500


class RestClient(RunArgs, RestRegistryMethods):
    """Tracking over HTTP to ``uri`` (``http://host:port``)."""

    def __init__(self, uri: str, *, token: str | None = None, flush_interval: float | None = None):
        self.uri = uri.rstrip("/")
        self.http = HttpSession(self.uri, token=token)
        interval = flush_interval
        if interval is None:
            interval = float(os.environ.get("GITTRACK_REST_FLUSH_SECONDS", "1"))
        self.batcher = Batcher(self._send_points, interval=interval, permanent=_permanent)

        self.store = self  # the fluent API reads runs through ``client.store.read_run``
        self._writers: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RestClient({self.uri!r})"

    # -- what the fluent API needs ------------------------------------------------------------

    def read_run(self, run_id: str) -> Any:
        return self.get_run(run_id)

    def _create_writer(
        self, experiment_id: str | None = None, *, commit: bool = True, **new: Unpack[NewRun]
    ) -> Any:
        """Create the run on the server now (``commit`` has no meaning over REST)."""
        from gittrack.rest.writer import RemoteRunWriter

        run = self.create_run(experiment_id or "0", **new)
        w = self._writers[run.info.run_id] = RemoteRunWriter(self, run)
        return w

    def writer(self, run_id: str, *, resume: bool = False) -> Any:
        """The writer of a run on the server (``resume`` sets a finished run RUNNING again)."""
        from gittrack.rest.writer import RemoteRunWriter

        w = self._writers.get(run_id)
        if w is None or w.closed:
            run = self.get_run(run_id)
            w = self._writers[run_id] = RemoteRunWriter(self, run)
        if resume and w.record["status"] != "RUNNING":
            self.update_run(run_id, status="RUNNING")
            w.record.update(status="RUNNING", end_time=None)
            w.closed = False
        return w

    # -- experiments ---------------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create experiment ``name``; return its id.

        When the server's answer is lost, the experiment is looked up by name before a
        retry: then an experiment of that name is returned even if someone else made it
        in the meantime (the call does not fail with "already exists").

        Raises:
            AlreadyExists: the name is taken (when the answer was not lost).
        """
        payload: dict[str, Any] = {"name": name, "tags": _kv(tags)}
        if artifact_location:
            payload["artifact_location"] = artifact_location

        def find_created() -> dict[str, Any] | None:
            # the answer was lost: a retry would say "already exists" about our own
            # experiment (servers that ignore request ids), so look for it first
            found = self.get_experiment_by_name(name)
            return None if found is None else {"experiment_id": found.experiment_id}

        answer = self.http.call("POST", "experiments/create", payload, recover=find_created)
        return str(answer["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Any:
        data = self.http.call("GET", "experiments/get", {"experiment_id": str(experiment_id)})
        return convert.experiment(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Any | None:
        try:
            data = self.http.call("GET", "experiments/get-by-name", {"experiment_name": name})
        except NotFound:
            return None
        return convert.experiment(data["experiment"])

    def search_experiments(
        self,
        view_type: Any = "ACTIVE_ONLY",
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
    ) -> list[Any]:
        view = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}.get(view_type, view_type)
        payload: dict[str, Any] = {"view_type": view, "max_results": 1000}
        if filter_string:
            payload["filter"] = filter_string
        if order_by:
            payload["order_by"] = list(order_by)
        out = self._all_pages(
            "POST", "experiments/search", lambda n: payload, "experiments", max_results or None
        )
        return [convert.experiment(e) for e in out]

    def delete_experiment(self, experiment_id: str) -> None:
        self.http.call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self.http.call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.http.call(
            "POST",
            "experiments/update",
            {"experiment_id": str(experiment_id), "new_name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.http.call(
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": str(experiment_id), "key": key, "value": str(value)},
        )

    # -- runs ------------------------------------------------------------------------------

    def _new_run(self, experiment_id: str | None, new: NewLocalRun) -> Any:
        """Create a run on the server (``snapshot`` is ignored: no source goes over REST).

        Raises:
            InvalidParameter: a ``run_id`` was given (the server chooses it).
        """
        if new.get("run_id"):
            raise InvalidParameter(
                f"run_id {new.get('run_id')!r} cannot be chosen on a tracking server: it gives "
                "each new run its id (leave run_id out)"
            )
        experiment_id = "0" if experiment_id is None else experiment_id
        tags = dict(new.get("tags") or {})
        start_time, run_name = new.get("start_time"), new.get("run_name")
        parent_run_id, description = new.get("parent_run_id"), new.get("description")
        user = new.get("user") or tags.get("mlflow.user") or getpass.getuser()
        tags.setdefault("mlflow.user", user)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        if description:
            tags["mlflow.note.content"] = description
        if run_name:
            tags.setdefault("mlflow.runName", run_name)
        payload: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "user_id": user,
            "start_time": start_time if start_time is not None else _now(),
            "tags": _kv(tags),
        }
        if run_name:
            payload["run_name"] = run_name
        # A lost answer must not become a second run: the request id tags the run, and
        # before a retry the run is looked for by that tag (any MLflow server can do it).
        request_id = uuid.uuid4().hex
        payload["tags"].append({"key": REQUEST_TAG, "value": request_id})

        def find_created() -> dict[str, Any] | None:
            found = self.http.call(
                "POST",
                "runs/search",
                {
                    "experiment_ids": [str(experiment_id)],
                    "filter": f"tags.`{REQUEST_TAG}` = '{request_id}'",
                    "run_view_type": "ALL",
                    "max_results": 1,
                },
            )
            runs = found.get("runs") or []
            return {"run": runs[0]} if runs else None

        answer = self.http.call(
            "POST", "runs/create", payload, request_id=request_id, recover=find_created
        )
        return convert.run(answer["run"])

    def get_run(self, run_id: str) -> Any:
        self._flush_quietly(run_id)
        return convert.run(self.http.call("GET", "runs/get", {"run_id": run_id})["run"])

    def get_parent_run(self, run_id: str) -> Any | None:
        parent = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        payload: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if status:
            payload["status"] = status
        if name:
            payload["run_name"] = name
        self.http.call("POST", "runs/update", payload)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """Deliver the run's queued points, then end it (raises DeliveryError if they failed)."""
        self.batcher.flush(run_id)
        self.http.call(
            "POST",
            "runs/update",
            {
                "run_id": run_id,
                "run_uuid": run_id,
                "status": status,
                "end_time": end_time if end_time is not None else _now(),
            },
        )

    def delete_run(self, run_id: str) -> None:
        self.http.call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self.http.call("POST", "runs/restore", {"run_id": run_id})

    def search_runs(
        self,
        experiment_ids: list[str] | str | None = None,
        filter_string: str = "",
        run_view_type: Any = "ACTIVE_ONLY",
        max_results: int = 100_000,
        order_by: list[str] | None = None,
    ) -> list[Any]:
        self._flush_quietly(None)
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        view = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}.get(run_view_type, run_view_type)
        payload: dict[str, Any] = {
            "experiment_ids": [str(e) for e in (experiment_ids or [])],
            "filter": filter_string or "",
            "run_view_type": view,
        }
        if order_by:
            payload["order_by"] = list(order_by)

        def page(have: int) -> dict[str, Any]:
            return {**payload, "max_results": min(1000, max_results - have)}

        return [
            convert.run(r)
            for r in self._all_pages("POST", "runs/search", page, "runs", max_results)
        ]

    # -- logging -------------------------------------------------------------------------------

    def _log_point(self, run_id: str, point: Point, now: bool) -> None:
        """Queue the point for the background sender (see :meth:`flush`); ``now``: send
        it at once, after the run's queued points, and raise the server's error here."""
        from gittrack.core.entities import Metric

        if now:
            self._flush_quietly(run_id)
            self._post_batch(run_id, [Metric(*point)], [], [])
        else:
            self.batcher.add(run_id, Metric(*point))

    def _send_key_value(self, endpoint: str, run_id: str, key: str, text: str) -> None:
        self.http.call(
            "POST", endpoint, {"run_id": run_id, "run_uuid": run_id, "key": key, "value": text}
        )

    def _log_param(self, run_id: str, key: str, value: Any, now: bool) -> None:
        """Sent at once, whatever ``now`` says (only metric points are queued)."""
        text = validate_param_value(validate_key(key, "param"), value)
        self._send_key_value("runs/log-parameter", run_id, key, text)

    def _set_tag(self, run_id: str, key: str, value: Any, now: bool) -> None:
        text = validate_tag_value(validate_key(key, "tag"), value)
        self._send_key_value("runs/set-tag", run_id, key, text)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.http.call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def _log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any], now: bool
    ) -> None:
        """Send metrics, params and tags now (after the run's queued points), split to
        MLflow's per-request limits."""
        from gittrack.core.entities import Metric

        self.batcher.flush(run_id)
        metrics = [Metric(*metric_point(m.key, m.value, m.timestamp, m.step)) for m in metrics]
        ps = [
            {"key": validate_key(p.key, "param"), "value": validate_param_value(p.key, p.value)}
            for p in params
        ]
        ts = [
            {"key": validate_key(t.key, "tag"), "value": validate_tag_value(t.key, t.value)}
            for t in tags
        ]
        while ps or ts or metrics:
            chunk_p, ps = ps[:MAX_PARAMS], ps[MAX_PARAMS:]
            chunk_t, ts = ts[:MAX_TAGS], ts[MAX_TAGS:]
            room = MAX_METRICS - len(chunk_p) - len(chunk_t)
            chunk_m, metrics = metrics[:room], metrics[room:]
            self._post_batch(run_id, chunk_m, chunk_p, chunk_t)

    def _post_batch(
        self,
        run_id: str,
        metrics: list[Any],
        params: list[Any],
        tags: list[Any],
        request_id: str | None = None,
    ) -> None:
        payload = {
            "run_id": run_id,
            "metrics": [
                {
                    "key": m.key,
                    "value": convert.wire_number(m.value),
                    "timestamp": m.timestamp,
                    "step": m.step,
                }
                for m in metrics
            ],
            "params": params,
            "tags": tags,
        }
        self.http.call("POST", "runs/log-batch", payload, request_id=request_id)

    def _send_points(self, run_id: str, points: list[Any], request_id: str) -> None:
        self._post_batch(run_id, points, [], [], request_id)

    def flush(self, run_id: str | None = None, timeout: float | None = None) -> None:
        """Wait until every queued point (of ``run_id``, or all) is acknowledged.

        Raises:
            DeliveryError: points could not be delivered within ``timeout`` seconds
                (default ``GITTRACK_REST_FLUSH_TIMEOUT`` or 300); they are saved locally.
        """
        self.batcher.flush(run_id, timeout=timeout)

    def _flush_quietly(self, run_id: str | None) -> None:
        if self.batcher.pending(run_id):
            self.batcher.flush(run_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Any]:
        self._flush_quietly(run_id)
        params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
        out = self._all_pages("GET", "metrics/get-history", lambda n: params, "metrics")
        return [convert.metric(m) for m in out]

    def _all_pages(
        self,
        method: str,
        endpoint: str,
        payload: Any,
        key: str,
        max_results: int | None = None,
    ) -> list[Any]:
        """Every item under ``key`` of every page (up to ``max_results``), following
        ``next_page_token``; ``payload(items_so_far)`` gives each request's fields."""
        out: list[Any] = []
        token = None
        while max_results is None or len(out) < max_results:
            body = dict(payload(len(out)))
            if token:
                body["page_token"] = token
            data = self.http.call(method, endpoint, body)
            out += data.get(key, [])
            token = data.get("next_page_token")
            if not token:
                break
        return out if max_results is None else out[:max_results]

    # -- artifacts ---------------------------------------------------------------------------

    def _artifact_base(self, run_id: str) -> str:
        uri = self.get_run(run_id).info.artifact_uri
        parts = urlsplit(uri)
        if parts.scheme != "mlflow-artifacts":
            raise InvalidParameter(
                f"Run {run_id} stores artifacts at {uri!r}; over REST only the server's "
                "artifact proxy (mlflow-artifacts:) is supported"
            )
        return parts.path.strip("/")

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload a file (streamed) through the server's artifact proxy."""
        name = os.path.basename(local_path)
        rel = posixpath.join(artifact_path, name) if artifact_path else name
        path = f"/api/2.0/mlflow-artifacts/artifacts/{self._artifact_base(run_id)}/{rel}"
        size = os.path.getsize(local_path)
        with open(local_path, "rb") as fh:
            self.http.request(
                "PUT",
                quote(path),
                body=fh,
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            )

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Upload every file under ``local_dir`` (as ``<artifact_path>/<relative path>``)."""
        for root, dirs, files in os.walk(local_dir):
            dirs.sort()
            rel = os.path.relpath(root, local_dir).replace(os.sep, "/")
            sub = "" if rel == "." else rel
            dest = posixpath.join(artifact_path or "", sub).strip("/") or None
            for name in sorted(files):
                self.log_artifact(run_id, os.path.join(root, name), dest)

    _PROXY = "/api/2.0/mlflow-artifacts/artifacts"

    def _proxy_list(self, remote: str) -> list[dict[str, Any]]:
        """The artifact proxy's listing of ``remote`` (``[]`` for a file or nothing)."""
        import json

        listing = json.loads(
            self.http.request("GET", self._PROXY, params={"path": remote}) or b"{}"
        )
        return list(listing.get("files") or [])

    def _proxy_fetch(self, remote: str, local: str) -> None:
        """Download the proxy's file or folder ``remote`` as ``local``.

        Raises:
            InvalidParameter: a listing names a child that is not one plain name.
            NotFound: nothing at ``remote``.
        """
        entries = self._proxy_list(remote)
        if not entries:  # a file (or nothing: the GET says which)
            self._proxy_file(remote, local)
            return
        os.makedirs(local, exist_ok=True)
        for e in entries:
            name = posixpath.basename(str(e["path"]).rstrip("/"))
            if not name or name in (".", "..") or "/" in name:
                raise InvalidParameter(f"artifact listing of {remote!r} names {e['path']!r}")
            if e.get("is_dir"):
                self._proxy_fetch(f"{remote}/{name}", os.path.join(local, name))
            else:  # the listing says it is a file: no listing of it
                self._proxy_file(f"{remote}/{name}", os.path.join(local, name))

    def _proxy_file(self, remote: str, local: str) -> None:
        """Download the proxy's file ``remote`` as ``local``.

        Raises:
            NotFound: no file at ``remote``.
        """
        data = self.http.request("GET", quote(f"{self._PROXY}/{remote}"))
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        with open(local, "wb") as fh:
            fh.write(data)

    def download_artifact_uri(self, uri: str, dst_path: str) -> str:
        """Download the file or folder at ``mlflow-artifacts:/<path>`` (the server's artifact
        proxy) into folder ``dst_path``; returns the local path of it.

        Raises:
            InvalidParameter: not an ``mlflow-artifacts:`` URI. NotFound: nothing there.
        """
        parts = urlsplit(uri)
        if parts.scheme != "mlflow-artifacts":
            raise InvalidParameter(
                f"{uri!r}: over REST only the server's artifact proxy (mlflow-artifacts:) "
                "can be read"
            )
        base = parts.path.strip("/")
        target = os.path.join(dst_path, posixpath.basename(base) or "artifacts")
        self._proxy_fetch(base, target)
        return target

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[Any]:
        """``FileInfo(path, is_dir, file_size)`` rows directly under ``path`` of the run's
        artifacts, read through the server's artifact proxy (as the local Client's)."""
        from gittrack.artifacts.manifest import FileInfo
        from gittrack.artifacts.paths import clean_artifact_path

        clean = clean_artifact_path(path)
        remote = posixpath.join(self._artifact_base(run_id), clean).rstrip("/")
        rows = []
        for e in self._proxy_list(remote):
            name = posixpath.join(clean, posixpath.basename(str(e["path"]).rstrip("/")))
            size = None if e.get("is_dir") else int(e.get("file_size") or 0)
            rows.append(FileInfo(name, bool(e.get("is_dir")), size))
        return sorted(rows, key=lambda r: r.path)

    def download_artifacts(self, run_id: str, path: str = "", dst_path: Any = None) -> str:
        """Download a file or folder of run ``run_id`` through the server's artifact proxy;
        returns its local path, ``<dst_path>/<path>`` as the local Client's (a new temporary
        folder when ``dst_path`` is None).

        Raises:
            ArtifactNotFound: nothing at ``path``. InvalidArtifactPath: a bad path, or
                ``dst_path`` cannot be made a folder.
        """
        from gittrack.artifacts.paths import clean_artifact_path
        from gittrack.artifacts.read import _destination
        from gittrack.errors import ArtifactNotFound

        clean = clean_artifact_path(path)
        dst = _destination(dst_path)
        remote = posixpath.join(self._artifact_base(run_id), clean).rstrip("/")
        local = os.path.join(dst, *clean.split("/")) if clean else str(dst)
        try:
            self._proxy_fetch(remote, local)
        except NotFound as exc:
            name, _, rest = clean.partition("/")
            model_uri = self._run_model_uri(run_id, name) if name else None
            if model_uri is None:
                raise ArtifactNotFound(f"no artifact at {clean!r} in run {run_id}") from exc
            base = urlsplit(model_uri).path.strip("/")
            self._proxy_fetch(posixpath.join(base, rest).rstrip("/"), local)
        return local

    def logged_model_artifact_uri(self, model_id: str) -> str:
        """Where the server keeps logged model ``model_id``'s files (``mlflow-artifacts:``).

        Raises:
            NotFound: no such model.
        """
        data = self.http.call("GET", f"logged-models/{quote(model_id, safe='')}")
        return str(data["model"]["info"]["artifact_uri"])

    def _run_model_uri(self, run_id: str, name: str) -> str | None:
        """The artifact URI of the newest model named ``name`` that run ``run_id`` logged, or
        None: MLflow 3's rule for ``runs:/<run>/<name>`` (the local Client's is
        :meth:`LoggedModelStore.of_run`), asked of the server's ``logged-models/search``."""
        from gittrack.query.search import _quote

        run = self.get_run(run_id).info
        body = {"experiment_ids": [run.experiment_id], "filter": f"name = '{_quote(name)}'"}
        found = [
            m["info"]
            for m in self._all_pages("POST", "logged-models/search", lambda n: body, "models")
            if m["info"].get("source_run_id") == run.run_id
        ]
        if not found:
            return None
        return str(max(found, key=lambda i: i.get("creation_timestamp_ms") or 0)["artifact_uri"])

    def download_artifact(self, run_id: str, path: str) -> bytes:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{self._artifact_base(run_id)}/{path}"
        return self.http.request("GET", quote(url))

    def close(self) -> None:
        self.batcher.close()
        self.http.close()
