"""No household is paid twice for the same month: by the handler, and by the database."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from services.payment.adapters.tables import bus, payments
from services.payment.service_layer.handlers import on_application_decided
from shared.events.catalogue import ApplicationDecided
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "payment") as engine:
        yield engine


def approval(decision_id: str, outcome: str = "approved") -> ApplicationDecided:
    return ApplicationDecided(
        case_id="330282-20261122-000000000001", decision_id=decision_id, outcome=outcome,
        programme="dibao", region_code="330282", beneficiary_ref="p-abc", household_size=2,
        monthly_amount_fen=81_000 if outcome == "approved" else 0,
        start_month="2026-11" if outcome == "approved" else None, policy_version="v",
        reasons=[], decided_at=datetime.now(UTC))


def handle(engine, event: ApplicationDecided) -> None:
    with UnitOfWork(engine, bus, "/test") as uow:
        on_application_decided(event, Envelope(data=event, source="/test"), uow)
        uow.commit()


def test_two_approvals_of_one_case_schedule_one_payment(engine):
    handle(engine, approval("d1"))
    handle(engine, approval("d2"))  # a second decision event for the same case and month
    handle(engine, approval("d3", outcome="rejected"))
    with engine.connect() as conn:
        rows = conn.execute(select(payments)).mappings().all()
        events = conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()
    assert [(r["period"], r["amount_fen"]) for r in rows] == [("2026-11", 81_000)]
    assert events == 1


def test_two_cases_of_one_beneficiary_are_paid_once_a_month(engine):
    handle(engine, approval("d1"))
    other_case = approval("d2").model_copy(update={"case_id": "330282-20261122-000000000002"})
    handle(engine, other_case)
    with engine.connect() as conn:
        rows = conn.execute(select(payments.c.case_id)).scalars().all()
    assert rows == ["330282-20261122-000000000001"]


def test_the_database_refuses_a_second_payment_for_the_same_month(engine):
    row = {"case_id": "c1", "programme": "dibao", "period": "2026-11", "amount_fen": 1,
           "beneficiary_ref": "p", "region_code": "330282", "status": "scheduled",
           "scheduled_at": datetime.now(UTC)}
    with engine.begin() as conn:
        conn.execute(insert(payments).values(payment_id="a", **row))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(payments).values(payment_id="b", **row))
    with pytest.raises(IntegrityError), engine.begin() as conn:  # same household, other case
        conn.execute(insert(payments).values(payment_id="c", **{**row, "case_id": "c2"}))
