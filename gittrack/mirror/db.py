"""The SQL mirror's database side: engines, the sync lock, bulk writes.

Bulk writes go through the driver, not row by row: ``COPY ... FROM STDIN`` on
PostgreSQL (psycopg), multi-row ``INSERT`` via ``executemany`` on MySQL/MariaDB
(PyMySQL rewrites it) and SQLite, and SQLAlchemy's ``executemany`` elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

LOCK_WAIT_SECONDS = 300  # how long a sync waits for another one holding the lock
CONNECT_TIMEOUT = 10
ID_BATCH = 500  # run ids per "IN (...)" list
MYSQL_STATEMENT = 2_000_000  # bytes per multi-row INSERT on MySQL/MariaDB


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; pick the installed driver when the URL names none.

    ``postgresql://`` means psycopg2 to SQLAlchemy and ``mysql://`` means
    mysqlclient; when those are absent but psycopg / PyMySQL (gittrack's
    ``postgres`` / ``mysql`` extras) are installed, use them.

    Raises:
        sqlalchemy.exc.ArgumentError: not a database URL.
    """
    u = sa.engine.make_url(url)
    if u.drivername in ("postgresql", "postgres") and not _importable("psycopg2"):
        if _importable("psycopg"):
            u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in ("mysql", "mariadb") and not _importable("MySQLdb"):
        if _importable("pymysql"):
            u = u.set(drivername=f"{u.drivername}+pymysql")
    return u


def make_engine(u: URL) -> Engine:
    """An engine for ``u`` with short connect timeouts and, for SQLite, a writer
    transaction (``BEGIN IMMEDIATE``) so two syncs take turns."""
    backend = u.get_backend_name()
    args: dict[str, Any] = {}
    if backend == "postgresql" and "connect_timeout" not in u.query:
        args["connect_timeout"] = CONNECT_TIMEOUT
    elif backend in ("mysql", "mariadb") and "connect_timeout" not in u.query:
        args["connect_timeout"] = CONNECT_TIMEOUT
    elif backend == "sqlite":
        args["timeout"] = LOCK_WAIT_SECONDS
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            parent = os.path.dirname(os.path.abspath(u.database))
            if not os.path.isdir(parent):
                raise sa.exc.OperationalError(
                    None, None, Exception(f"directory {parent} does not exist")
                )
    engine = sa.create_engine(u, connect_args=args, pool_pre_ping=True)
    if backend == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_implicit_tx(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def error_text(exc: BaseException) -> str:
    """The driver's own message (first line), without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or type(orig).__name__
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0].strip() if lines else text


def begin_locked(conn: Connection, meta: sa.Table, lock_name: str) -> None:
    """Start the sync transaction and take the sync lock (waits for another sync).

    SQLite: ``BEGIN IMMEDIATE`` (the engine's begin hook) takes the database's
    write lock. PostgreSQL and MySQL/MariaDB: READ COMMITTED, then the lock row
    of ``gittrack_meta`` is read ``FOR UPDATE``, which a second sync waits for;
    it then sees what the first one committed.

    Raises:
        sqlalchemy.exc.OperationalError / DBAPIError: lock wait timed out.
    """
    backend = conn.dialect.name
    if backend in ("postgresql", "mysql", "mariadb"):
        conn.execution_options(isolation_level="READ COMMITTED")
    conn.begin()
    if backend == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'")
    elif backend in ("mysql", "mariadb"):
        conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECONDS}")
    conn.execute(sa.select(meta.c.value).where(meta.c.name == lock_name).with_for_update())


def is_lock_timeout(exc: BaseException) -> bool:
    text = error_text(exc).lower()
    return "lock" in text and ("timeout" in text or "locked" in text)


def batches(seq: Sequence[Any], n: int = ID_BATCH) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def delete_runs(conn: Connection, table: sa.Table, run_ids: Sequence[str]) -> None:
    """Delete the rows of ``run_ids`` from ``table``."""
    col = table.c.run_id
    for chunk in batches(run_ids):
        conn.execute(table.delete().where(col.in_(list(chunk))))


def bulk_insert(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in bulk."""
    if not rows:
        return
    backend = conn.dialect.name
    driver = conn.dialect.driver
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(table)
    cols = ", ".join(prep.quote(c) for c in columns)
    raw = conn.connection.driver_connection
    assert raw is not None  # the connection is open: it has a DBAPI connection
    if backend == "postgresql" and driver == "psycopg":
        with raw.cursor() as cur:
            with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        return
    if backend == "sqlite" and driver == "pysqlite":
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {name} ({cols}) VALUES ({marks})", rows)
        return
    if backend in ("mysql", "mariadb") and driver == "pymysql":
        _mysql_insert(raw, f"INSERT INTO {name} ({cols}) VALUES ", rows)
        return
    conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])


def _mysql_insert(raw: Any, head: str, rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs of about 2 MB each, literals rendered here.

    PyMySQL's ``executemany`` renders each value through its generic escaper,
    which costs more than the server's work; the mirror's values are only
    str, int, float (finite: NaN and infinities were mapped before), bool and None.
    """
    escape = raw.escape  # quotes and escapes a str for this server's SQL mode
    seen: dict[str, str] = {}  # run ids and keys repeat on every row

    def lit(v: Any) -> str:
        if v is None:
            return "NULL"
        t = type(v)
        if t is int or t is float:
            return repr(v)
        if t is bool:
            return "1" if v else "0"
        text = seen.get(v)
        if text is None:
            text = seen[v] = escape(v)
        return text

    with raw.cursor() as cur:
        parts: list[str] = []
        size = 0
        for row in rows:
            text = "(" + ",".join([lit(v) for v in row]) + ")"
            parts.append(text)
            size += len(text) + 1
            if size >= MYSQL_STATEMENT:
                cur.execute(head + ",".join(parts))
                parts, size = [], 0
        if parts:
            cur.execute(head + ",".join(parts))
