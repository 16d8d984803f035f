"""The report as approval receives it, from records stored on real SQLite and PostgreSQL:
income counted kind by kind, and the disabled persons' federation's grade on record (issue 22)."""

from __future__ import annotations

from datetime import date

import pytest

from services.verification.adapters.tables import bus
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer import handlers
from services.verification.service_layer.handlers import IncomingRecord
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_verification_reassessment import (
    MOTHER,
    SON,
    application,
    handle,
    ref,
    reported,
)


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "verification") as engine:
        yield engine


def publish(engine, department: str, kind: str, resident_id: str, *, fen: int = 0,
            grade: int | None = None) -> None:
    with UnitOfWork(engine, bus, "/test") as work:
        handlers.publish_records(
            department, [IncomingRecord(record_id=f"{kind}-{resident_id}", kind=kind,
                                        resident_id=resident_id, amount_fen=fen,
                                        as_of=date(2026, 11, 30), grade=grade)],
            work, pseudonym_key=b"test-key", monitoring=packaged_monitoring())


def test_a_declared_wage_does_not_hide_a_recorded_pension(engine):
    publish(engine, "hr_social_security", "pension", MOTHER, fen=60_000)
    handle(engine, application(wage=100_000))
    mother = next(m for m in reported(engine)[-1].members if m.person_ref == ref(MOTHER))
    assert mother.counted_monthly_fen == 160_000
    assert mother.employment_monthly_fen == 100_000
    assert [(k.kind, k.declared_fen, k.recorded_fen, k.counted_fen, k.sources)
            for k in mother.by_kind] == [
        ("pension", 0, 60_000, 60_000, ["hr_social_security:pension"]),
        ("wage", 100_000, 0, 100_000, ["declared"])]


def test_the_grade_on_record_reaches_the_report(engine):
    publish(engine, "disabled_persons_federation", "disability_grade", SON, grade=1)
    handle(engine, application(wage=30_000))
    grades = {m.person_ref: m.disability_grade for m in reported(engine)[-1].members}
    assert grades == {ref(MOTHER): None, ref(SON): 1}
