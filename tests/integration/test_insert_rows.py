"""shared.bulk.insert_rows, the bulk insert of the hot paths, stores exactly what SQLAlchemy's own
insert stores — same text for timestamps on SQLite, same values on PostgreSQL — so queries that
compare them (the ledger entries of a cycle's chunk) find them."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, select, text

from shared.bulk import insert_rows
from shared.db import make_engine

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True),
               Column("name", String(20)), Column("at", DateTime(timezone=True)),
               Column("blob", LargeBinary))


def test_insert_rows_stores_what_sqlalchemy_stores(database_url):
    engine = make_engine(database_url)
    at = datetime(2026, 11, 22, 12, 0, 1, 123456, tzinfo=UTC)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(things.insert(), [{"id": 1, "name": "core", "at": at, "blob": b"\x00x"}])
            insert_rows(conn, things, [
                {"id": 2, "name": "bulk", "at": at, "blob": b"\x00x"},
                {"id": 3, "name": None, "at": None, "blob": None},
                {"id": 4, "name": "east", "blob": b"", "at": at.astimezone(
                    timezone(timedelta(hours=8)))}])
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT CAST(at AS VARCHAR(40)) FROM things ORDER BY id")
                               ).scalars().all()
            same_moment = conn.execute(select(things.c.id).where(things.c.at == at)
                                       .order_by(things.c.id)).scalars().all()
            rows = conn.execute(select(things.c.name, things.c.blob).order_by(things.c.id)).all()
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    assert raw[0] == raw[1]
    assert raw[2] is None
    assert same_moment[:2] == [1, 2]
    assert [tuple(r) for r in rows[:3]] == [("core", b"\x00x"), ("bulk", b"\x00x"), (None, None)]
