"""Intake's migration 0002 on a database that already holds cases (SQLite and PostgreSQL): the
old cases keep what they had and follow approval's stage changes from then on."""

import json
from datetime import UTC, date, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.intake.adapters.repository import CaseRepository
from services.intake.adapters.tables import bus
from services.intake.service_layer import handlers
from shared.db import make_engine
from shared.events.catalogue import CaseStageChanged
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork
from tests.conftest import ROOT

FOLDER = ROOT / "services" / "intake" / "migrations"


def migrate(url: str, to: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    config.attributes["url"] = url
    (command.downgrade if down else command.upgrade)(config, to)


def test_cases_stored_before_0002_survive_it_and_follow_the_workflow(database_url):
    migrate(database_url, "0001")
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO cases (case_id, region_code, programme, status, applicant_ref,"
                " submitted_at, updated_at) VALUES ('c-old', '330282', 'dibao', 'verified',"
                " 'p-old', :now, :now)"), {"now": now})
            conn.execute(text(
                "INSERT INTO members (case_id, position, person_ref, name, resident_id,"
                " relation, birth_date, sex, declared_incomes) VALUES ('c-old', 0, 'p-old',"
                " '钱九', '330282196001010011', 'applicant', :born, 'male', '[]')"),
                {"born": date(1960, 1, 1)})
        migrate(database_url, "head")
        with engine.connect() as conn:
            old = CaseRepository(conn).get("c-old")
        assert old is not None
        assert (old["case"]["status"], old["case"]["stage_seq"]) == ("verified", 0)
        assert json.loads(old["case"]["legal_supporters"]) == []
        assert json.loads(old["case"]["referrals"]) == []
        assert old["case"]["temporary"] is None and old["case"]["care_mode"] is None
        assert old["members"][0]["disability_grade"] is None

        event = CaseStageChanged(case_id="c-old", sequence=1, from_stage=None,
                                 to_stage="awaiting_review", action="migrate", actor="system",
                                 changed_at=now)
        with UnitOfWork(engine, bus, "/test") as uow:
            handlers.on_case_stage_changed(event, Envelope(data=event, source="/t"), uow)
            uow.commit()
        with engine.connect() as conn:
            assert CaseRepository(conn).status("c-old").status == "awaiting_review"  # type: ignore[union-attr]

        migrate(database_url, "0001", down=True)  # and back, keeping the case
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM cases")).scalar_one() == \
                "awaiting_review"
    finally:
        engine.dispose()
