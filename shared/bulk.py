"""Many rows in and out of the database without SQLAlchemy's per-row machinery: the bulk paths
(a monthly cycle's payments, a partner's file of millions of records, the outbox of a big
transaction, the audit archive's pages) move hundreds of thousands of rows, where that machinery
cost more than the database. INSERT with the column types' conversions, COPY on PostgreSQL,
insert-if-new, and rows read as the driver gives them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError


def driver_rows(conn: Connection, statement: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query as the driver gives them: plain tuples, no ``Row`` and none of
    SQLAlchemy's conversions (so only for columns the driver already gives as wanted). For
    pages of reads of millions of rows, where building SQLAlchemy's rows cost as much as
    SQLite's own work."""
    compiled = statement.compile(dialect=conn.dialect)
    params: Any = compiled.construct_params()
    if compiled.positional:
        params = [params[name] for name in compiled.positiontup or ()]
    cursor = _cursor(conn)
    try:
        cursor.execute(str(compiled), params)
        # The DB-API says a sequence; sqlite3's and psycopg's are lists of tuples.
        return cast("list[tuple[Any, ...]]", cursor.fetchall())
    finally:
        cursor.close()


def _cursor(conn: Connection) -> DBAPICursor:
    """A cursor of the driver's own connection (SQLAlchemy's is open: it is in use)."""
    driver = conn.connection.dbapi_connection
    assert driver is not None, "a connection in use has its driver's connection"
    return driver.cursor()


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
    cursor = _cursor(conn)
    try:
        if dialect.name == "postgresql" and len(first) >= _COPY_FROM_ROWS:
            sql = _copied_in(cursor, table.name, names, rows, sql[sql.index(" ON CONFLICT"):]
                             if on_conflict else "")
        else:
            cursor.executemany(sql, rows)  # type: ignore[arg-type]  # the drivers take any iterable
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
