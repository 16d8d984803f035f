"""No household is paid twice: by the handler, and by the database."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from services.payment.adapters.tables import bus, entitlements, payments
from services.payment.service_layer.handlers import on_application_decided
from shared.events.catalogue import ApplicationDecided, PaymentScheduled
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

CASE = "330282-20261122-000000000001"
OTHER_CASE = "330282-20261122-000000000002"


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "payment") as engine:
        yield engine


def approval(decision_id: str, outcome: str = "approved") -> ApplicationDecided:
    return ApplicationDecided(
        case_id=CASE, decision_id=decision_id, outcome=outcome,
        programme="dibao", region_code="330282", beneficiary_ref="p-abc", household_size=2,
        monthly_amount_fen=81_000 if outcome == "approved" else 0,
        start_month="2026-11" if outcome == "approved" else None, policy_version="v",
        reasons=[], decided_at=datetime.now(UTC))


def temporary(decision_id: str, case_id: str, amount_fen: int, *, advance: bool = False,
              decided_at: datetime | None = None) -> ApplicationDecided:
    return ApplicationDecided(
        case_id=case_id, decision_id=decision_id, outcome="approved", programme="temporary",
        region_code="330282", beneficiary_ref="p-abc", household_size=2, monthly_amount_fen=0,
        start_month=None, policy_version="v", reasons=[], one_off_amount_fen=amount_fen,
        advance=advance, decided_at=decided_at or datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


def handle(engine, event: ApplicationDecided) -> list[PaymentScheduled]:
    with UnitOfWork(engine, bus, "/test") as uow:
        on_application_decided(event, Envelope(data=event, source="/test"), uow)
        uow.commit()
    return [e.data for e in uow.published]  # type: ignore[misc]


def paid(engine) -> list[tuple[str, str, str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(payments).order_by(payments.c.case_id, payments.c.kind))
        return [(r.case_id, r.programme, r.kind, r.period, r.amount_fen) for r in rows]


def test_two_approvals_of_one_case_schedule_one_payment(engine):
    handle(engine, approval("d1"))
    handle(engine, approval("d2"))  # a second decision event for the same case and month
    handle(engine, approval("d3", outcome="rejected"))
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()
    assert paid(engine) == [(CASE, "dibao", "monthly", "2026-11", 81_000)]
    assert events == 1


def test_a_decision_with_a_monthly_and_a_one_off_amount_schedules_both(engine):
    # 2026-11-30 17:30 UTC is already 1 December in China: the one-off belongs to December.
    decision = approval("d1").model_copy(update={
        "one_off_amount_fen": 150_000, "decided_at": datetime(2026, 11, 30, 17, 30, tzinfo=UTC)})
    events = handle(engine, decision)
    assert paid(engine) == [(CASE, "dibao", "monthly", "2026-11", 81_000),
                            (CASE, "dibao", "one_off", "2026-12", 150_000)]
    assert sorted((e.kind, e.period, e.amount_fen) for e in events) == [
        ("monthly", "2026-11", 81_000), ("one_off", "2026-12", 150_000)]


def test_a_redelivered_decision_pays_once(engine):
    decision = approval("d1").model_copy(update={"one_off_amount_fen": 150_000})
    assert len(handle(engine, decision)) == 2
    assert handle(engine, decision) == []  # the same event again, as if the inbox missed it
    assert [kind for _, _, kind, _, _ in paid(engine)] == ["monthly", "one_off"]


def test_an_emergency_advance_is_paid_once_in_the_month_it_was_decided(engine):
    advance = temporary("d1", CASE, 200_000, advance=True)
    [event] = handle(engine, advance)
    assert (event.kind, event.period, event.programme) == ("one_off", "2026-11", "temporary")
    # The later decision of the same case grants no second one-off payment.
    assert handle(engine, temporary("d2", CASE, 200_000)) == []
    assert paid(engine) == [(CASE, "temporary", "one_off", "2026-11", 200_000)]


def test_two_temporary_cases_of_one_household_in_one_month_are_both_paid(engine):
    handle(engine, temporary("d1", CASE, 200_000))
    handle(engine, temporary("d2", OTHER_CASE, 300_000))
    assert paid(engine) == [(CASE, "temporary", "one_off", "2026-11", 200_000),
                            (OTHER_CASE, "temporary", "one_off", "2026-11", 300_000)]


def test_two_cases_of_one_beneficiary_are_paid_once_a_month(engine):
    handle(engine, approval("d1"))
    assert handle(engine, approval("d2").model_copy(update={"case_id": OTHER_CASE})) == []
    assert paid(engine) == [(CASE, "dibao", "monthly", "2026-11", 81_000)]
    # The second case still records its entitlement; the monthly cycles meet the same
    # once-per-beneficiary index for every month.
    with engine.connect() as conn:
        cases = conn.execute(select(entitlements.c.case_id).order_by(entitlements.c.case_id))
        assert cases.scalars().all() == [CASE, OTHER_CASE]


def row(payment_id: str, **changes: object) -> dict[str, object]:
    return {"payment_id": payment_id, "case_id": "c1", "programme": "dibao", "kind": "monthly",
            "period": "2026-11", "amount_fen": 1, "beneficiary_ref": "p", "region_code": "330282",
            "status": "scheduled", "scheduled_at": datetime.now(UTC), **changes}


def insert_refused(engine, values: dict[str, object]) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(insert(payments).values(**values))
    except IntegrityError:
        return True
    return False


def test_the_database_refuses_a_second_payment_for_the_same_month(engine):
    with engine.begin() as conn:
        conn.execute(insert(payments).values(**row("a")))
    assert insert_refused(engine, row("b"))
    assert insert_refused(engine, row("c", case_id="c2"))  # same household, other case
    # A row written without a kind is monthly, the most constrained kind.
    no_kind = {k: v for k, v in row("d", case_id="c2").items() if k != "kind"}
    assert insert_refused(engine, no_kind)


def test_the_database_allows_one_one_off_per_case_and_several_per_household(engine):
    with engine.begin() as conn:
        conn.execute(insert(payments).values(**row("a")))
        conn.execute(insert(payments).values(**row("b", kind="one_off")))  # beside the monthly
        conn.execute(insert(payments).values(**row("c", kind="one_off", case_id="c2")))
    assert insert_refused(engine, row("d", kind="one_off", period="2026-12"))
    assert insert_refused(engine, row("e", kind="once", case_id="c3"))  # escapes no index
