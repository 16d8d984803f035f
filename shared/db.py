"""Database engines: SQLite files by default, PostgreSQL by URL — chosen by settings alone.

OneDoor uses synchronous SQLAlchemy Core: measured here, one event's inbox+update+outbox
transaction runs ~6x faster with sqlite3 than with aiosqlite, and every transaction of a service
goes through its unit of work on a worker thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, create_engine, event, func, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

# How long a writer waits for its turn before the attempt fails as an infrastructure error.
_WRITER_WAIT_S = 60.0


def normalize_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine for one service's database, tuned for the transaction pattern of the bus.

    ``hide_parameters``: a database error is logged with its statement but never with the
    values, which may be names or resident ID numbers."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                             hide_parameters=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Take transactions into our own hands (see _begin) and let readers run beside the writer.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite has one writer at a time. Waiting for its lock in SQLite's busy handler means
    # sleeping in growing steps (up to 100 ms each) and oversleeping; waiting on a lock of our own
    # hands the database to the next writer of this process the moment the last one finishes.
    # Other processes (a migration, a second copy by mistake) still meet the busy timeout.
    writer = threading.Lock()
    # Who holds it, tracked on the Connection itself: `conn.info` is unreadable once a connection
    # has been invalidated, and a release that cannot find its holder would freeze every writer.
    holders: weakref.WeakSet[Connection] = weakref.WeakSet()

    def _release(conn: Connection) -> None:
        if conn in holders:
            holders.discard(conn)
            writer.release()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another writer got in between; taking the write lock up front makes it wait instead.
        # Readers (see `reading`) need no lock at all: WAL gives them a snapshot.
        if conn.get_execution_options().get("onedoor_read_only"):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        if not writer.acquire(timeout=_WRITER_WAIT_S):
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError(
                f"no turn to write after {_WRITER_WAIT_S:.0f}s"))
        holders.add(conn)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    # These events run just before SQLAlchemy's own COMMIT/ROLLBACK, outside its error handling.
    # Ending the transaction here lets the lock go only once SQLite's is free; the dialect's call
    # after it is then a no-op (in autocommit mode sqlite3 ends only an open transaction).
    @event.listens_for(engine, "commit")
    def _commit(conn):  # type: ignore[no-untyped-def]
        try:
            dbapi = conn.connection.dbapi_connection
            try:
                dbapi.commit()
            except sqlite3.Error as exc:
                # Never leave the transaction open on a pooled connection: the next writer
                # would find the database locked. Raised as SQLAlchemy's OperationalError so
                # callers see an infrastructure failure, not a handler's.
                with contextlib.suppress(sqlite3.Error):
                    dbapi.rollback()
                raise OperationalError("COMMIT", None, exc) from exc
        finally:
            _release(conn)

    @event.listens_for(engine, "rollback")
    def _rollback(conn):  # type: ignore[no-untyped-def]
        try:
            with contextlib.suppress(Exception):  # invalidated: the pool discards it anyway
                conn.connection.dbapi_connection.rollback()
        finally:
            _release(conn)

    return engine


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite it does not take the write lock."""
    with engine.connect() as conn:
        yield conn.execution_options(onedoor_read_only=True)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows of one shape, with the column types' conversions applied once per value
    but without SQLAlchemy's per-row statement machinery: the bulk paths (a monthly cycle's
    payments, the outbox of a big transaction) write hundreds of thousands of rows, where that
    machinery cost more than the database. Rows must all have the same keys."""
    if not rows:
        return
    columns = [table.c[name] for name in rows[0]]
    dialect = conn.dialect
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join([marker] * len(columns))})")
    names = [c.name for c in columns]
    # Only some types convert (on SQLite, datetimes become text); the rest pass as they are.
    converting = [(i, p) for i, c in enumerate(columns)
                  if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    values = []
    for row in rows:
        value = [row[n] for n in names]
        for i, process in converting:
            if value[i] is not None:
                value[i] = process(value[i])
        values.append(tuple(value))
    conn.exec_driver_sql(sql, values)


def within(jurisdiction: str, region: ColumnElement[Any],
           town: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """The rows a principal of ``jurisdiction`` (a region-code prefix, "" everywhere) may see:
    those whose town, or district when no town is recorded, starts with it — the SQL form of
    ``Principal.covers(area_of(region, town))``, so a list never holds a case its reader would
    be refused one by one."""
    if jurisdiction == "":
        return true()
    area = region if town is None else func.coalesce(town, region)
    # substr, not LIKE: the prefix is digits, and LIKE's wildcards need no thought this way.
    return func.substr(area, 1, len(jurisdiction)) == jurisdiction


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
               key: str) -> set[str]:
    """Insert the rows that are new by the table's primary key and unique constraints, skip
    the others; returns the ``key`` column of the rows inserted (SQLite 3.35+ and PostgreSQL:
    ON CONFLICT DO NOTHING … RETURNING). One statement, safe against a concurrent writer."""
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(table).values(list(rows)).on_conflict_do_nothing()
                 .returning(table.c[key]))
    return {row[0] for row in conn.execute(statement)}
