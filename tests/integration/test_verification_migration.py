"""Verification's migrations that move data, on SQLite and PostgreSQL, done and undone: 0002
keeps the reports made when a case could have only one; 0006 keys partner records by person."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from services.verification.adapters.repositories.partners import PartnerRepository, person_key
from shared.db import make_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "verification" / "migrations"


def migrate(url: str, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    (command.downgrade if down else command.upgrade)(config, revision)


def test_reports_of_one_per_case_become_the_first_of_many(database_url):
    migrate(database_url, "0001")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO reports (case_id, report_id, body, created_at) "
                              "VALUES ('c1', 'r1', '{}', :at)"), {"at": datetime.now(UTC)})
        migrate(database_url, "0002")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT case_id, report_id, seq, occasion FROM reports")).all()
            pk = inspect(conn).get_pk_constraint("reports")["constrained_columns"]
        assert [tuple(r) for r in rows] == [("c1", "r1", 1, "application")]
        assert pk == ["report_id"]

        insert = text("INSERT INTO reports (report_id, case_id, seq, occasion, body, created_at) "
                      "VALUES (:rid, 'c1', :seq, :occasion, '{}', :at)")
        with engine.begin() as conn:
            conn.execute(insert, {"rid": "r2", "seq": 2, "occasion": "periodic_review",
                                  "at": datetime.now(UTC)})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"rid": "r3", "seq": 3, "occasion": "application",
                                  "at": datetime.now(UTC)})

        engine.dispose()
        migrate(database_url, "0001", down=True)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT case_id, report_id FROM reports")).all()
            pk = inspect(conn).get_pk_constraint("reports")["constrained_columns"]
        assert [tuple(r) for r in rows] == [("c1", "r1")]
        assert pk == ["case_id"]
        engine.dispose()
        migrate(database_url, "head")  # and up again
    finally:
        engine.dispose()


def test_partner_records_get_their_person_key_and_are_found_by_it(database_url):
    migrate(database_url, "0005")
    engine = make_engine(database_url)
    insert = text("INSERT INTO partner_records (department, record_id, kind, person_ref, "
                  "amount_fen, as_of, received_at) VALUES ('bank', :rid, 'deposit', :ref, 1, "
                  ":day, :at)")
    try:
        with engine.begin() as conn:
            for rid, ref in (("d-1", "p-mother"), ("d-2", "p-mother"), ("d-3", "p-son")):
                conn.execute(insert, {"rid": rid, "ref": ref, "day": date(2026, 11, 30),
                                      "at": datetime.now(UTC)})
        migrate(database_url, "0006")
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT record_id, person_key FROM partner_records")
                                     ).all())
            indexes = {i["name"] for i in inspect(conn).get_indexes("partner_records")}
        engine.dispose()
        migrate(database_url, "head")  # the repository reads the columns of later revisions
        with engine.connect() as conn:
            found = PartnerRepository(conn).for_persons(["p-mother"])
        assert keys == {"d-1": person_key("p-mother"), "d-2": person_key("p-mother"),
                        "d-3": person_key("p-son")}
        assert sorted(r.record_id for r in found) == ["d-1", "d-2"]
        assert "ix_partner_records_person_key" in indexes
        assert "ix_partner_records_person_ref" not in indexes

        engine.dispose()
        migrate(database_url, "0005", down=True)
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("partner_records")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("partner_records")}
            count = conn.execute(text("SELECT count(*) FROM partner_records")).scalar_one()
        assert "person_key" not in columns and "ix_partner_records_person_ref" in indexes
        assert count == 3
        engine.dispose()
        migrate(database_url, "head")
    finally:
        engine.dispose()
