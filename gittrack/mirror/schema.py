"""The SQL mirror's schema: SQLAlchemy tables, and the check that a target is ours.

Documented for users in ``docs/sql-schema.md``; keep the two in step. Column
names avoid words that some database reserves (``key`` is reserved in MySQL),
so the documented plain-SQL queries run unchanged on SQLite, PostgreSQL and
MySQL/MariaDB.

This module imports SQLAlchemy at import time; ``gittrack.mirror.sync`` imports it
lazily, so ``import gittrack`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gittrack.errors import SchemaConflict

SCHEMA_NAME = "gittrack-sql-mirror"
SCHEMA_VERSION = 1
META_TABLE = "gittrack_meta"

# gittrack_meta rows
META_SCHEMA = "schema"
META_VERSION = "schema_version"
META_LOCK = "sync_lock"
META_EXPERIMENTS = "experiments_commit"
META_LAST_SYNC = "last_sync"
META_GENERATION = "generation"  # changes with every sync that writes sync_state

KEY = 250  # MLflow's (and gittrack's) longest metric/param/tag key
RUN_ID = 256  # gittrack's 32 hex digits, or a run id given by the user (MLflow's limit)
SHA = 64  # room for SHA-256 repositories


@dataclass(frozen=True)
class Tables:
    """The mirror's tables, bound to one :class:`sqlalchemy.MetaData`."""

    metadata: sa.MetaData
    meta: sa.Table
    experiments: sa.Table
    experiment_tags: sa.Table
    runs: sa.Table
    params: sa.Table
    tags: sa.Table
    latest_metrics: sa.Table
    metrics: sa.Table
    artifacts: sa.Table
    sync_state: sa.Table

    @property
    def run_children(self) -> tuple[sa.Table, ...]:
        """Tables holding rows per run, all keyed by ``run_id``."""
        return (self.params, self.tags, self.latest_metrics, self.metrics, self.artifacts)


def build_tables(mariadb: bool = False) -> Tables:
    """Define the mirror's tables.

    Args:
        mariadb: MariaDB gets the binary *no-pad* collation so keys that differ
            only in case or trailing spaces stay distinct (MySQL's
            ``utf8mb4_bin`` would do for case, MariaDB pads).

    Returns:
        the :class:`Tables`; the mysql_* options are ignored by other dialects.
    """
    md = sa.MetaData()
    my: dict[str, Any] = {
        "mysql_engine": "InnoDB",
        "mysql_charset": "utf8mb4",
        "mysql_collate": "utf8mb4_nopad_bin" if mariadb else "utf8mb4_bin",
    }
    s, text, big, dbl = sa.String, sa.Text, sa.BigInteger, sa.Float(precision=53)

    meta = sa.Table(
        META_TABLE,
        md,
        sa.Column("name", s(64), primary_key=True),
        sa.Column("value", text),
        **my,
    )
    experiments = sa.Table(
        "experiments",
        md,
        sa.Column("experiment_id", s(64), primary_key=True),
        sa.Column("name", s(500), nullable=False),
        sa.Column("artifact_location", text),
        sa.Column("lifecycle_stage", s(16), nullable=False),
        sa.Column("creation_time", big),
        sa.Column("last_update_time", big),
        sa.Column("description", text),
        sa.Index("ix_experiments_name", "name"),
        **my,
    )
    experiment_tags = sa.Table(
        "experiment_tags",
        md,
        sa.Column("experiment_id", s(64), primary_key=True),
        sa.Column("name", s(KEY), primary_key=True),
        sa.Column("value", text),
        **my,
    )
    runs = sa.Table(
        "runs",
        md,
        sa.Column("run_id", s(RUN_ID), primary_key=True),
        sa.Column("experiment_id", s(64), nullable=False),
        sa.Column("run_name", s(KEY)),
        sa.Column("status", s(16), nullable=False),
        sa.Column("user_id", s(KEY)),
        sa.Column("start_time", big),
        sa.Column("end_time", big),
        sa.Column("lifecycle_stage", s(16), nullable=False),
        sa.Column("artifact_uri", text),
        sa.Column("parent_run_id", s(RUN_ID)),
        sa.Column("source_commit", s(SHA)),
        sa.Column("source_branch", s(KEY)),
        sa.Column("source_dirty", sa.Boolean),
        sa.Column("source_remote_url", text),
        sa.Column("host", s(KEY)),
        sa.Column("command", text),
        sa.Column("heartbeat", big),
        sa.Column("note", text),
        sa.Column("commit_sha", s(SHA), nullable=False),
        sa.Column("in_repository", sa.Boolean, nullable=False),
        sa.Index("ix_runs_experiment", "experiment_id", "lifecycle_stage", "start_time"),
        sa.Index("ix_runs_branch", "source_branch"),
        sa.Index("ix_runs_source_commit", "source_commit"),
        sa.Index("ix_runs_parent", "parent_run_id"),
        sa.Index("ix_runs_status", "status"),
        **my,
    )

    def keyed_by_run_and_name(table: str, *columns: Any) -> sa.Table:
        """A table of one row per (run, key): a run's params, tags and metrics."""
        return sa.Table(
            table,
            md,
            sa.Column("run_id", s(RUN_ID), primary_key=True),
            sa.Column("name", s(KEY), primary_key=True),
            *columns,
            **my,
        )

    params = keyed_by_run_and_name(
        "params",
        sa.Column("value", text, nullable=False),
        sa.Column("value_num", dbl),
        sa.Index("ix_params_name_num", "name", "value_num"),
    )
    tags = keyed_by_run_and_name(
        "tags",
        sa.Column("value", text, nullable=False),
        sa.Index("ix_tags_name", "name"),
    )
    latest_metrics = keyed_by_run_and_name(
        "latest_metrics",
        sa.Column("value", dbl),
        sa.Column("step", big, nullable=False),
        sa.Column("timestamp", big, nullable=False),
        sa.Column("min_value", dbl),
        sa.Column("max_value", dbl),
        sa.Column("point_count", big, nullable=False),
        sa.Index("ix_latest_metrics_name_value", "name", "value"),
    )
    metrics = keyed_by_run_and_name(
        "metrics",
        sa.Column("seq", big, primary_key=True, autoincrement=False),
        sa.Column("step", big, nullable=False),
        sa.Column("value", dbl),
        sa.Column("timestamp", big, nullable=False),
    )
    artifacts = sa.Table(
        "artifacts",
        md,
        sa.Column("run_id", s(RUN_ID), nullable=False),
        sa.Column("path", text, nullable=False),
        sa.Column("sha256", s(64)),
        sa.Column("size", big),
        sa.Column("location", s(16)),
        sa.Index("ix_artifacts_run", "run_id"),
        sa.Index("ix_artifacts_sha256", "sha256"),
        **my,
    )
    sync_state = sa.Table(
        "sync_state",
        md,
        sa.Column("run_id", s(RUN_ID), primary_key=True),
        sa.Column("commit_sha", s(SHA)),
        sa.Column("synced_at", big, nullable=False),
        sa.Column("error", text),
        **my,
    )
    return Tables(
        md,
        meta,
        experiments,
        experiment_tags,
        runs,
        params,
        tags,
        latest_metrics,
        metrics,
        artifacts,
        sync_state,
    )


def check_target(conn: Connection, tables: Tables) -> bool:
    """Decide whether ``conn``'s database may receive the mirror.

    Returns:
        True when the mirror's schema is complete, False when tables are
        missing (none, or some after a creation cut short) that
        :func:`create_schema` adds.

    Raises:
        SchemaConflict: tables with the mirror's names exist but were not
            created by gittrack, or were created by another schema version,
            or their columns differ.
    """
    shown = conn.engine.url.render_as_string(hide_password=True)
    insp = sa.inspect(conn)
    existing = set(insp.get_table_names())
    ours = set(tables.metadata.tables)
    clash = sorted(existing & ours)
    if META_TABLE not in existing:
        if clash:
            raise SchemaConflict(
                shown,
                f"it already holds table(s) {', '.join(clash)} that gittrack did not create "
                "(another application's schema, e.g. MLflow's)",
            )
        return False
    rows = dict(
        conn.execute(
            sa.select(tables.meta.c.name, tables.meta.c.value).where(
                tables.meta.c.name.in_([META_SCHEMA, META_VERSION, META_LOCK])
            )
        ).all()
    )
    has_lock_row = META_LOCK in rows
    if not rows and {c["name"] for c in insp.get_columns(META_TABLE)} == {"name", "value"}:
        # an empty gittrack_meta: a creation cut short, or another sync creating it
        # right now (MySQL commits DDL at once); create_schema completes it.
        rows = {META_SCHEMA: SCHEMA_NAME, META_VERSION: str(SCHEMA_VERSION)}
    if rows.get(META_SCHEMA) != SCHEMA_NAME:
        raise SchemaConflict(
            shown,
            f"its table {META_TABLE} does not describe a gittrack SQL mirror "
            f"(schema = {rows.get(META_SCHEMA)!r})",
        )
    version = rows.get(META_VERSION)
    if version != str(SCHEMA_VERSION):
        raise SchemaConflict(
            shown,
            f"it holds a gittrack SQL mirror of schema version {version}, "
            f"this gittrack writes version {SCHEMA_VERSION}",
        )
    if has_lock_row and set(ours) <= existing:
        return True  # ours and complete: no need to look at every table's columns
    for name in clash:
        have = {c["name"] for c in insp.get_columns(name)}
        want = set(tables.metadata.tables[name].c.keys())
        if have != want:
            diff = sorted(want ^ have)
            raise SchemaConflict(
                shown, f"its table {name} has other columns than the mirror's ({', '.join(diff)})"
            )
    return False


def create_schema(engine: Engine, tables: Tables) -> None:
    """Create the mirror's tables (those missing) and its meta rows.

    ``gittrack_meta`` and its schema rows come first, in their own transaction,
    so a creation cut short (MySQL cannot roll back DDL) leaves a target that
    the next sync recognises as its own and completes.
    """
    with engine.begin() as conn:
        tables.meta.create(conn, checkfirst=True)
        have = {r[0] for r in conn.execute(sa.select(tables.meta.c.name))}
        rows = [
            {"name": n, "value": v}
            for n, v in (
                (META_SCHEMA, SCHEMA_NAME),
                (META_VERSION, str(SCHEMA_VERSION)),
                (META_LOCK, ""),
            )
            if n not in have
        ]
        if rows:
            conn.execute(tables.meta.insert(), rows)
    with engine.begin() as conn:
        tables.metadata.create_all(conn, checkfirst=True)
