"""Read an MLflow SQL tracking store (SQLite, PostgreSQL, MySQL) directly with SQLAlchemy.

Reading the tables in a few bulk queries is much faster than MLflow's client (one
request per run and metric). The schema is MLflow's; ``alembic_version`` tells its
version, and only the versions listed in :data:`SUPPORTED_REVISIONS` are read.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlparse

from gittrack.errors import ImportRefused
from gittrack.importer.model import Point, SourceExperiment, SourceRun
from gittrack.importer.sources import LocalArtifacts, display_uri

# MLflow's schema revisions (alembic), oldest first: from 2.4's datasets/inputs tables
# (7f2a7d5fae7d) to MLflow 3.17 (dc11669786a5). Every table and column read here exists
# in all of them; logged_models (400f98739977, MLflow 3.0) is read when present.
SUPPORTED_REVISIONS: tuple[str, ...] = (
    "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4", "5b0e9adcef9c",
    "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273",
    "1a0cddfcaa16", "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea",
    "1bd49d398cd23", "b7c8d9e0f1a2", "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae",
    "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3", "1b5f0d9ad7c1", "e1f2a3b4c5d6",
    "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9", "7d34483879f0",
    "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3",
    "75868b020152", "dc11669786a5",
)  # fmt: skip
LOGGED_MODELS_REVISION = "400f98739977"
BATCH = 500  # runs per metric-history query


def _nan(value: Any, is_nan: Any) -> float:
    return math.nan if is_nan else float(value)


class SqlSource(LocalArtifacts):
    """An MLflow SQL store, read-only."""

    parallel = True  # each worker process may open its own connection

    def __init__(self, uri: str) -> None:
        self.uri = display_uri(uri)
        self._engine = _engine(uri)
        self._k = self._engine.dialect.identifier_preparer.quote("key")  # reserved in MySQL
        style = self._engine.dialect.paramstyle
        self._mark = "?" if style == "qmark" else "%s"
        try:
            with self._engine.connect() as conn:
                self.revision = _check_schema(conn, self.uri)
        except ImportRefused:
            self._engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import bindparam, text

        stmt = text(sql)
        for name, value in params.items():
            if isinstance(value, (list, tuple)):
                stmt = stmt.bindparams(bindparam(name, expanding=True))
        with self._engine.connect() as conn:
            return list(conn.execute(stmt, params))

    def experiments(self) -> list[SourceExperiment]:
        out: dict[str, SourceExperiment] = {}
        for eid, name, loc, stage, created in self._rows(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time "
            "FROM experiments"
        ):
            out[str(eid)] = SourceExperiment(
                str(eid), str(name), str(stage or "active"), str(loc or ""), {}, created
            )
        for key, value, eid in self._rows(
            f"SELECT {self._k}, value, experiment_id FROM experiment_tags"
        ):
            if str(eid) in out:
                out[str(eid)].tags[str(key)] = str(value or "")
        return list(out.values())

    def runs(self, experiment_ids: list[str]) -> list[SourceRun]:
        ids = [int(e) for e in experiment_ids]
        if not ids:
            return []
        runs: dict[str, SourceRun] = {}
        for row in self._rows(
            "SELECT run_uuid, experiment_id, name, status, start_time, end_time, user_id, "
            "lifecycle_stage, artifact_uri FROM runs WHERE experiment_id IN :ids",
            ids=ids,
        ):
            rid = str(row[0])
            runs[rid] = SourceRun(
                run_id=rid,
                experiment_id=str(row[1]),
                name=str(row[2] or ""),
                status=str(row[3] or "FINISHED"),
                start_time=int(row[4] or 0),
                end_time=int(row[5]) if row[5] is not None else None,
                user=str(row[6] or ""),
                lifecycle=str(row[7] or "active"),
                artifact_uri=str(row[8] or ""),
            )
        for rid, key, value in self._rows(f"SELECT run_uuid, {self._k}, value FROM params"):
            run = runs.get(rid)
            if run is not None:
                run.params[key] = value
        for rid, key, value in self._rows(f"SELECT run_uuid, {self._k}, value FROM tags"):
            run = runs.get(rid)
            if run is not None:
                run.tags[key] = value if value is not None else ""
        for rid, key, value, step, ts, is_nan in self._rows(
            f"SELECT run_uuid, {self._k}, value, step, timestamp, is_nan FROM latest_metrics"
        ):
            run = runs.get(rid)
            if run is not None:
                run.latest[key] = (_nan(value, is_nan), int(step or 0), int(ts or 0))
        self._read_inputs(runs)
        if self._has_logged_models():
            for mid, name, loc, rid in self._rows(
                "SELECT model_id, name, artifact_location, source_run_id FROM logged_models "
                "WHERE source_run_id IS NOT NULL ORDER BY creation_timestamp_ms"
            ):
                run = runs.get(rid)
                if run is not None:
                    run.models.append((str(name), str(loc or ""), str(mid)))
        return list(runs.values())

    def _has_logged_models(self) -> bool:
        return SUPPORTED_REVISIONS.index(self.revision) >= SUPPORTED_REVISIONS.index(
            LOGGED_MODELS_REVISION
        )

    def _read_inputs(self, runs: dict[str, SourceRun]) -> None:
        tags: dict[str, list[dict[str, str]]] = {}
        for uuid, name, value in self._rows("SELECT input_uuid, name, value FROM input_tags"):
            tags.setdefault(uuid, []).append({"key": str(name), "value": str(value)})
        for row in self._rows(
            "SELECT i.input_uuid, i.destination_id, d.name, d.digest, d.dataset_source_type, "
            "d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i "
            "JOIN datasets d ON i.source_id = d.dataset_uuid "
            "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
            "ORDER BY i.input_uuid"
        ):
            run = runs.get(row[1])
            if run is None:
                continue
            fields = ("name", "digest", "source_type", "source", "schema", "profile")
            dataset = {k: str(v) for k, v in zip(fields, row[2:], strict=True) if v is not None}
            run.inputs.append({"dataset": dataset, "tags": tags.get(row[0], [])})

    def histories(self, runs: list[SourceRun]) -> dict[str, list[Point]]:
        out: dict[str, list[Point]] = {r.run_id: [] for r in runs}
        ids = [r.run_id for r in runs]
        nan = math.nan
        # the DB-API cursor directly: millions of rows, SQLAlchemy's row objects cost 4x
        conn = self._engine.raw_connection()
        try:
            cur = conn.cursor()
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                marks = ", ".join([self._mark] * len(chunk))
                cur.execute(
                    f"SELECT run_uuid, {self._k}, value, step, timestamp, is_nan FROM metrics "
                    f"WHERE run_uuid IN ({marks}) ORDER BY run_uuid, {self._k}, timestamp, step",
                    chunk,
                )
                for rid, key, value, step, ts, is_nan in cur.fetchall():
                    out[rid].append((key, nan if is_nan else float(value), int(step), int(ts)))
            cur.close()
        finally:
            conn.close()
        return out


def _engine(uri: str) -> Any:
    """A SQLAlchemy engine; SQLite files are opened read-only and must exist."""
    import sqlalchemy

    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        import sqlite3

        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise ImportRefused(f"{uri!r} names no SQLite file (use sqlite:///path/to/mlflow.db)")
        if not os.path.isfile(path):
            raise ImportRefused(f"MLflow source {uri!r}: no such file {path}")

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

        return sqlalchemy.create_engine("sqlite://", creator=connect)
    try:
        return sqlalchemy.create_engine(uri)
    except Exception as exc:  # a missing driver, a malformed URI
        raise ImportRefused(f"Cannot open MLflow source {display_uri(uri)!r}: {exc}") from exc


def _check_schema(conn: Any, shown: str) -> str:
    """The store's alembic revision; raises ImportRefused for a database that is not an
    MLflow store or has a schema version this importer does not read."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except SQLAlchemyError as exc:
        msg = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
        raise ImportRefused(
            f"{shown} is not an MLflow tracking store (no alembic_version table: {msg})"
        ) from exc
    revision = str(row[0]) if row else ""
    if revision not in SUPPORTED_REVISIONS:
        raise ImportRefused(
            f"{shown} has MLflow schema version {revision or '(none)'}, which this importer "
            f"does not read. Supported: {SUPPORTED_REVISIONS[0]} (MLflow 2.4) to "
            f"{SUPPORTED_REVISIONS[-1]} (MLflow 3.17); upgrade the store with "
            "`mlflow db upgrade <uri>` first"
        )
    return revision
