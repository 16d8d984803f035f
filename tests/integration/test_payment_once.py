"""No household is paid twice: by the handler, and by the database."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from services.payment.adapters.tables import bus, entitlements, payments
from services.payment.service_layer.handlers import on_application_decided
from shared.events.catalogue import (
    ApplicationDecided,
    DecisionReason,
    PaymentHeld,
    PaymentScheduled,
    PolicyParameter,
)
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


CAP_FEN = 3_000_000  # Qingdao's 30,000 yuan (seed 002)


def cap_reason(cap_fen: int | None = CAP_FEN) -> list[DecisionReason]:
    """The yearly-cap check as approval reports it, with the figure it applied."""
    parameters = [] if cap_fen is None else [PolicyParameter(
        name="temporary.yearly_cap_fen", value=cap_fen, region="370200",
        effective_from="2020-01-01", source="seed 002")]
    return [DecisionReason(rule="yearly_cap", passed=True, detail="within the cap",
                           parameters=parameters)]


def temporary(decision_id: str, case_id: str, amount_fen: int, *, advance: bool = False,
              decided_at: datetime | None = None, cap_fen: int | None = CAP_FEN,
              members: tuple[str, ...] = ("p-abc", "p-child")) -> ApplicationDecided:
    return ApplicationDecided(
        case_id=case_id, decision_id=decision_id, outcome="approved", programme="temporary",
        region_code="330282", beneficiary_ref=members[0], household_size=len(members),
        monthly_amount_fen=0, start_month=None, policy_version="v", reasons=cap_reason(cap_fen),
        one_off_amount_fen=amount_fen, member_refs=list(members), advance=advance,
        decided_at=decided_at or datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


def handle(engine, event: ApplicationDecided) -> list[PaymentScheduled | PaymentHeld]:
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


def test_the_database_allows_one_reissue_per_payment_and_one_batch_payment_per_household(engine):
    with engine.begin() as conn:
        conn.execute(insert(payments).values(**row("a", status="reissued")))
        conn.execute(insert(payments).values(**row("b", reissue_of="a")))  # beside the original
        conn.execute(insert(payments).values(**row("c", kind="batch", run_id="batch:x")))
    assert insert_refused(engine, row("d", reissue_of="a"))
    assert insert_refused(engine, row("e", kind="batch", run_id="batch:x", case_id="c2"))
    assert insert_refused(engine, row("f", case_id="c3", amount_fen=0))  # no empty payments


def statuses(engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(payments).order_by(payments.c.scheduled_at))
        return [(r.case_id, r.status, r.amount_fen) for r in rows]


def test_the_yearly_cap_is_checked_again_here_across_cases_sharing_a_member(engine):
    # Approval counts the household's grants too; this is the last guard should two cases of
    # one household be decided side by side (each under the cap on its own).
    handle(engine, temporary("d1", CASE, 2_000_000, members=("p-abc", "p-child")))
    third = "330282-20261122-000000000003"
    [held] = handle(engine, temporary("d2", OTHER_CASE, 1_500_000,
                                      members=("p-grandma", "p-child")))
    assert isinstance(held, PaymentHeld)
    assert "3000000" in held.reason and "2000000" in held.reason
    # Another household is not affected; and up to the cap is allowed.
    [ok] = handle(engine, temporary("d3", third, 1_000_000, members=("p-other",)))
    assert isinstance(ok, PaymentScheduled)
    assert statuses(engine) == [(CASE, "scheduled", 2_000_000), (OTHER_CASE, "held", 1_500_000),
                                (third, "scheduled", 1_000_000)]


def test_exactly_the_cap_is_paid_and_a_new_year_starts_again(engine):
    handle(engine, temporary("d1", CASE, 2_000_000))
    [ok] = handle(engine, temporary("d2", OTHER_CASE, 1_000_000))
    assert isinstance(ok, PaymentScheduled)
    next_year = datetime(2027, 1, 10, 2, 0, tzinfo=UTC)
    [ok] = handle(engine, temporary("d3", "330282-20270110-000000000004", 2_500_000,
                                    decided_at=next_year))
    assert isinstance(ok, PaymentScheduled) and ok.period == "2027-01"


def test_a_temporary_decision_without_its_cap_figure_is_held_not_paid(engine):
    [held] = handle(engine, temporary("d1", CASE, 100_000, cap_fen=None))
    assert isinstance(held, PaymentHeld) and "cannot be checked" in held.reason
    assert statuses(engine) == [(CASE, "held", 100_000)]


def test_the_last_guard_follows_a_chain_of_shared_members_as_approval_does(engine):
    # X and Y together, X alone, Y alone: one household under one cap (temporary.toml), though
    # Y's own case shares no member with X's.
    handle(engine, temporary("d1", "330282-20261120-0000000000x1", 1_000_000, members=("p-x",)))
    handle(engine, temporary("d2", "330282-20261120-00000000x1y1", 1_500_000,
                             members=("p-x", "p-y")))
    [held] = handle(engine, temporary("d3", "330282-20261120-0000000000y1", 600_000,
                                      members=("p-y",)))
    assert isinstance(held, PaymentHeld) and "2500000" in held.reason
    [ok] = handle(engine, temporary("d4", "330282-20261120-0000000000y2", 500_000,
                                    members=("p-y",)))
    assert isinstance(ok, PaymentScheduled)  # exactly the cap
