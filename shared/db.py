"""Database engines: SQLite files by default, PostgreSQL by URL — chosen by settings alone.

OneDoor uses synchronous SQLAlchemy Core: measured here, one event's inbox+update+outbox
transaction runs ~6x faster with sqlite3 than with aiosqlite, and every transaction of a service
goes through its unit of work on a worker thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Select,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    func,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType, TypeEngine

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


# Pages of write-ahead log after which a commit copies them back into the database: SQLite's
# default, and the one while a bulk job writes (~400 MB). A batch of a partner's file rewrites
# tens of thousands of index pages, and consecutive batches mostly the same ones; copied back
# after every batch, each page was copied as often as it was written (at 6 million records, 15%
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


def driver_rows(conn: Connection, statement: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query as the driver gives them: plain tuples, no ``Row`` and none of
    SQLAlchemy's conversions (so only for columns the driver already gives as wanted). For
    pages of reads of millions of rows, where building SQLAlchemy's rows cost as much as
    SQLite's own work."""
    compiled = statement.compile(dialect=conn.dialect)
    params: Any = compiled.construct_params()
    if compiled.positional:
        params = [params[name] for name in compiled.positiontup or ()]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        cursor.close()


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows of one shape (all with the same keys); see ``insert_values``."""
    if rows:
        names = list(rows[0])
        insert_values(conn, table, names, [tuple(row[n] for n in names) for row in rows])


def insert_values(conn: Connection, table: Table, names: Sequence[str],
                  values: Sequence[Sequence[Any]], *, on_conflict: Sequence[str] = (),
                  replace: Sequence[str] = ()) -> None:
    """INSERT many rows given as tuples in the order of ``names``; see ``insert_columns``."""
    if values:
        insert_columns(conn, table, dict(zip(names, zip(*values, strict=True), strict=True)),
                       on_conflict=on_conflict, replace=replace)


def insert_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]], *,
                   same: Mapping[str, Any] | None = None, on_conflict: Sequence[str] = (),
                   replace: Sequence[str] = ()) -> None:
    """INSERT many rows given column by column (``same``: columns with one value in every row),
    with the column types' conversions applied but without SQLAlchemy's per-row statement
    machinery: the bulk paths (a monthly cycle's payments, a partner's file of millions of
    records, the outbox of a big transaction) write hundreds of thousands of rows, where that
    machinery cost more than the database. Built for those: a conversion is made once per
    distinct object in a column (by identity: equal values may convert differently, as two
    equal instants in different time zones do on SQLite), and the rows are made one at a time
    as the driver takes them, so that none is held longer (each row held is work for the
    garbage collector: a fifth of a bulk ingestion's time, measured).

    With ``on_conflict`` (a unique key's columns), a row whose key is taken overwrites the
    ``replace`` columns of the row there, in place: an index on columns not replaced is left
    as it is (SQLite and PostgreSQL alike)."""
    same = same or {}
    first = next(iter(columns.values()), ())
    if not first:
        return
    dialect = conn.dialect
    names = [*columns, *same]
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join([marker] * len(names))})")
    if on_conflict:
        sql += (f" ON CONFLICT ({', '.join(on_conflict)}) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in replace))
    bound: list[Iterable[Any]] = []
    for name, values in columns.items():
        # Only some types convert (on SQLite, dates and datetimes become text).
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            bound.append(values)
            continue
        done = {key: None if value is None else process(value)
                for key, value in {id(v): v for v in values}.items()}
        bound.append(map(done.__getitem__, map(id, values)))
    for name, value in same.items():
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        bound.append(repeat(value if process is None or value is None else process(value)))
    # An iterator: the rows are made as they are sent (not strict: ``same`` repeats).
    rows = zip(*bound, strict=False)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if dialect.name == "postgresql" and len(first) >= _COPY_FROM_ROWS:
            sql = _copied_in(cursor, table.name, names, rows, sql[sql.index(" ON CONFLICT"):]
                             if on_conflict else "")
        else:
            cursor.executemany(sql, rows)
    except dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy raises it (IntegrityError, OperationalError…), values hidden.
        raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                                  hide_parameters=True) from exc
    finally:
        cursor.close()


_COPY_FROM_ROWS = 1_000  # fewer go in one statement: COPY's three more round trips cost more


def _copied_in(cursor: Any, table: str, names: Sequence[str], rows: Iterable[Sequence[Any]],
               on_conflict: str) -> str:
    """PostgreSQL: the rows COPYed into a temporary table like ``table`` (this session's, kept
    empty between uses), then inserted from there in one statement. A row per INSERT cost the
    server several times what COPY does (1,000,000 partner records: 17,526/s with
    ``executemany``). Returns the last statement, for an error's message."""
    staged, columns = f"onedoor_bulk_{table}", ", ".join(names)
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} "
                   f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {staged} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    insert = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged}{on_conflict}"
    cursor.execute(insert)
    cursor.execute(f"TRUNCATE {staged}")  # a second call in this transaction starts empty
    return insert


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
    ON CONFLICT DO NOTHING … RETURNING), safe against a concurrent writer."""
    if not rows:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # A statement per so many rows that their values stay below SQLite's limit of 32,766 bound
    # values (a batch of a partner's file may raise tens of thousands of warnings).
    step = max(1, 30_000 // len(rows[0]))
    inserted: set[str] = set()
    for start in range(0, len(rows), step):
        statement = (dialect.insert(table).values(list(rows[start:start + step]))
                     .on_conflict_do_nothing().returning(table.c[key]))
        inserted.update(row[0] for row in conn.execute(statement))
    return inserted


class _ListOf(TypeDecorator[list[Any]]):
    """A list of strings or integers bound as one value: JSON text on SQLite (read back with
    json_each), an array on PostgreSQL."""

    impl = Text
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


class _Among(FunctionElement[bool]):
    name = "among"
    # Untyped: a Boolean would be written "... = 1" on SQLite, which has no boolean type.
    type = NullType()
    inherit_cache = True


def among(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN (the list bound as name)``, with the list bound as ONE value however long.
    An expanding ``in_()`` binds each item on its own: SQLAlchemy rendered 5,000 names per
    statement at ~2 µs each, more than the query cost in bulk ingestion, and SQLite refuses more
    than 32,766 bound values."""
    return _Among(column, bindparam(name, type_=_ListOf(column.type)))


def _among_clauses(element: _Among, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    column, values = list(element.clauses)
    assert isinstance(values, BindParameter)
    return compiler.process(column, **kw), compiler.process(values, **kw)


@compiles(_Among, "sqlite")
def _among_sqlite(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _among_clauses(element, compiler, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = _among_clauses(element, compiler, **kw)
    return f"{column} = ANY({values})"
