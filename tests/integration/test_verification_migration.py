"""Migration 0002 keeps the reports made when a case could have only one, on SQLite and
PostgreSQL, and can be undone."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

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
