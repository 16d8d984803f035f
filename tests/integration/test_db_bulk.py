"""shared.bulk and shared.sql on real SQLite and PostgreSQL: a list of any length bound as one
value (among), rows written column by column with their conversions and ON CONFLICT
(insert_columns), and SQLite's checkpoints held back during a bulk write (fewer_checkpoints)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    MetaData,
    String,
    Table,
    bindparam,
    select,
)
from sqlalchemy.exc import IntegrityError

from shared.bulk import insert_columns
from shared.db import fewer_checkpoints, make_engine
from shared.sql import among

metadata = MetaData()
things = Table("things", metadata,
               Column("name", String(40), primary_key=True),
               Column("size", BigInteger, nullable=False),
               Column("day", Date, nullable=True),
               Column("at", DateTime(timezone=True), nullable=False),
               Column("note", String(20), nullable=True))

N = 40_000  # more values than SQLite binds in one statement (32,766); COPY on PostgreSQL


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def test_rows_by_column_with_conversions_and_a_list_longer_than_sqlite_binds(engine):
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    days = [date(2026, 11, 30), date(2026, 12, 1)]
    with engine.begin() as conn:
        insert_columns(conn, things, {"name": [f"t-{i}" for i in range(N)],
                                      "size": list(range(N)),
                                      "day": [days[i % 2] if i % 3 else None for i in range(N)]},
                       same={"at": at, "note": None})
    wanted = [f"t-{i}" for i in range(0, N, 2)] + ["t-missing"]
    with engine.connect() as conn:
        rows = conn.execute(select(things).where(among(things.c.name, "names"))
                            .order_by(things.c.size), {"names": wanted}).all()
    assert len(rows) == N // 2
    assert [(r.name, r.size) for r in rows[:2]] == [("t-0", 0), ("t-2", 2)]
    assert rows[1].day == days[0] and rows[0].day is None  # converted, and None kept
    assert all(r.at.replace(tzinfo=UTC) == at and r.note is None for r in rows)


@pytest.mark.parametrize("extra", [0, 1_500])  # and on PostgreSQL through COPY (1,000 or more)
def test_on_conflict_replaces_only_the_columns_named(engine, extra):
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    more = [f"m-{i}" for i in range(extra)]
    with engine.begin() as conn:
        insert_columns(conn, things, {"name": ["a", "b", *more], "size": [1, 2] + [0] * extra},
                       same={"at": at, "note": "first"})
    with engine.begin() as conn:
        insert_columns(conn, things, {"name": ["b", "c", *more],
                                      "size": [20, 30] + [7] * extra},
                       same={"at": at, "note": "second"}, on_conflict=("name",),
                       replace=("size",))
        # A second call in the same transaction starts from nothing staged.
        insert_columns(conn, things, {"name": ["d", *more], "size": [40] + [8] * extra},
                       same={"at": at, "note": "third"}, on_conflict=("name",),
                       replace=("size",))
    with engine.connect() as conn:
        rows = {r.name: (r.size, r.note) for r in conn.execute(select(things))}
    assert {k: rows.pop(k) for k in "abcd"} == {
        "a": (1, "first"), "b": (20, "first"), "c": (30, "second"), "d": (40, "third")}
    assert rows == {name: (8 if extra else 0, "first") for name in more}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # no ON CONFLICT: refused
        insert_columns(conn, things, {"name": ["a", *more], "size": [9] * (extra + 1)},
                       same={"at": at})


def test_equal_instants_in_other_zones_are_each_converted(engine):
    # By identity, not equality: 08:00 UTC and 16:00 +08:00 are equal but not the same value.
    utc = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    beijing = utc.astimezone(timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        insert_columns(conn, things, {"name": ["u", "b"], "size": [1, 2], "at": [utc, beijing]})
    with engine.connect() as conn:
        stored = dict(conn.execute(select(things.c.name, things.c.at)).all())
    expected = {"u": utc, "b": beijing}
    with make_engine(str(engine.url)).connect() as conn:  # what the type makes of each alone
        for name, value in expected.items():
            alone = conn.execute(select(bindparam("v", value, type_=things.c.at.type))).scalar()
            assert stored[name] == alone


def test_checkpoints_are_held_back_within_and_come_back_after(tmp_path):
    # SQLite's write-ahead log only: on PostgreSQL fewer_checkpoints changes nothing.
    engine = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            with fewer_checkpoints(conn):
                inside = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                insert_columns(conn, things, {"name": ["x"], "size": [1]},
                               same={"at": datetime.now(UTC)})
            after = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert (inside, after) == (100_000, 1_000)
        with engine.begin() as conn:  # no transaction was left holding the writer's turn
            insert_columns(conn, things, {"name": ["y"], "size": [2]},
                           same={"at": datetime.now(UTC)})
    finally:
        engine.dispose()
