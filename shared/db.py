"""Database engines: SQLite files by default, PostgreSQL by URL — chosen by settings alone.

OneDoor uses synchronous SQLAlchemy Core: measured here, one event's inbox+update+outbox
transaction runs ~6x faster with sqlite3 than with aiosqlite, and every transaction of a service
goes through its unit of work on a worker thread, so the event loop never waits on the database.

Many rows at once go through ``shared/bulk.py``; lists bound as one value and the jurisdiction
filter are ``shared/sql.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

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
    # LIFO: the connection used last is used next, with its page cache still warm. SQLite
    # keeps a cache per connection, and a writer going round the pool in turn (FIFO) would find
    # each one's cache cold, or emptied by the others' writes.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           hide_parameters=True, pool_use_lifo=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
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
    def _begin(conn: Connection) -> None:
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
    def _commit(conn: Connection) -> None:
        try:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None, "a connection committing has its driver's connection"
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
    def _rollback(conn: Connection) -> None:
        try:
            with contextlib.suppress(Exception):  # invalidated: the pool discards it anyway
                dbapi = conn.connection.dbapi_connection
                if dbapi is not None:
                    dbapi.rollback()
        finally:
            _release(conn)

    return engine


# Pages of write-ahead log after which a commit copies them back into the database: SQLite's
# default, and the one while a bulk job writes (~400 MB). A batch of a partner's file rewrites


# of the CPU and a third of the system time, measured).
_CHECKPOINT_PAGES, _BULK_CHECKPOINT_PAGES = 1_000, 100_000


@contextlib.contextmanager
def fewer_checkpoints(conn: Connection) -> Iterator[None]:
    """Within, this connection's commits copy the log back into the database only past
    ~400 MB of it (SQLite; elsewhere nothing changes). The next commit after, this one's or
    another's, copies it back as usual."""
    if conn.dialect.name != "sqlite":
        yield
        return
    # On the driver's connection: through SQLAlchemy, the statement after a commit would begin
    # a transaction (and take the writer's lock) just to set a pragma.
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.execute(f"PRAGMA wal_autocheckpoint={_BULK_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        dbapi.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite it does not take the write lock."""
    with engine.connect() as conn:
        yield conn.execution_options(onedoor_read_only=True)
