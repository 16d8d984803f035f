"""Payment's event handlers: an approval in, its first monthly and its one-off payment scheduled,
each exactly once; benefit changes move the running entitlement."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from services.payment.adapters.payments import NewPayment
from services.payment.adapters.repository import PaymentRepository
from services.payment.domain.model import (
    Award,
    BenefitChange,
    Entitlement,
    ScheduledPayment,
    apply_change,
    back_pay,
    entitlement_for,
    first_monthly_payment,
    one_off_payment,
    within_cap,
)
from shared import clock
from shared.bus.routing import Routes
from shared.events.catalogue import (
    ApplicationDecided,
    BenefitChanged,
    PaymentHeld,
    PaymentScheduled,
)
from shared.events.envelope import Envelope, new_id
from shared.uow import UnitOfWork

CAP_FIGURE = "temporary.yearly_cap_fen"


class UnknownEntitlement(LookupError):
    """A benefit change for a case with no running entitlement here."""


def on_application_decided(event: ApplicationDecided, envelope: Envelope,
                           uow: UnitOfWork) -> None:
    if event.outcome != "approved":
        return
    decided_at = clock.as_utc(event.decided_at)
    award = Award(
        case_id=event.case_id, programme=event.programme, region_code=event.region_code,
        beneficiary_ref=event.beneficiary_ref, monthly_amount_fen=event.monthly_amount_fen,
        start_month=event.start_month, one_off_amount_fen=event.one_off_amount_fen,
        decided_on=clock.local_date(decided_at), decided_at=decided_at,
        household_size=event.household_size, decision_id=event.decision_id)
    # Pure work first: the transaction (on SQLite, the write lock) starts at uow.conn.
    entitlement = entitlement_for(award)
    one_off = one_off_payment(award)
    if entitlement is None and one_off is None:
        return
    repo = PaymentRepository(uow.conn)
    repo.record_area(event.case_id, event.region_code, event.town_code)
    repo.add_members(event.case_id, event.member_refs or [event.beneficiary_ref])
    candidates: list[ScheduledPayment] = []
    if entitlement is not None and repo.entitlement(entitlement.case_id) is None:
        repo.add_entitlement(entitlement)
        # The first month is paid with the entitlement it opens. A case that already has one
        # (a second decision event) keeps it as it is: its later changes must not be undone, and
        # its months are the monthly cycles' to pay.
        candidates.append(first_monthly_payment(entitlement))
    if one_off is not None:
        candidates.append(one_off)
    now = datetime.now(UTC)
    for payment in candidates:
        # The inbox already stops a redelivered event; this stops a second decision for the same
        # case, or a second case of the household in the same month — and the unique indexes
        # stop anything that gets past both.
        if repo.exists(payment):
            continue
        hold = _over_cap(repo, event, payment) if payment.programme == "temporary" else None
        new = NewPayment(payment_id=new_id(), payment=payment,
                         decision_id=event.decision_id,
                         status="held" if hold else "scheduled", hold_reason=hold)
        repo.add(new, now)
        if hold:
            uow.publish(PaymentHeld(
                case_id=payment.case_id, payment_id=new.payment_id,
                programme=payment.programme,
                period=payment.period, kind=payment.kind, amount_fen=payment.amount_fen,
                reason=hold, held_at=now))
            continue
        uow.publish(scheduled_event(new, now))


def _over_cap(repo: PaymentRepository, event: ApplicationDecided,
              payment: ScheduledPayment) -> str | None:
    """Payment's own check of the yearly temporary-assistance cap, against what it has itself
    scheduled for the household this year: the last guard, should two cases of one household be
    approved side by side. The cap is the figure the decision applied (policy data, in force on
    the decision day), carried in its reasons."""
    caps = [p.value for r in event.reasons for p in r.parameters if p.name == CAP_FIGURE]
    if not caps:
        return f"the decision carries no {CAP_FIGURE}: the cap cannot be checked"
    if repo.conn.dialect.name == "postgresql":
        # Two consumers could check two cases of one household at once; on SQLite the write
        # lock already serialises them. Temporary one-offs are few, so one lock is enough.
        repo.conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('payment.temporary_cap'))"))
    year = int(payment.period[:4])
    paid = repo.temporary_paid_in_year(payment.case_id, year)
    if within_cap(paid, payment.amount_fen, min(caps)):
        return None
    return (f"yearly cap: the household has {paid} fen of temporary assistance in {year}; "
            f"{payment.amount_fen} fen more would pass the cap of {min(caps)} fen")


def scheduled_event(new: NewPayment, at: datetime) -> PaymentScheduled:
    p = new.payment
    return PaymentScheduled(
        case_id=p.case_id, payment_id=new.payment_id, programme=p.programme,
        period=p.period, kind=p.kind, amount_fen=p.amount_fen,
        beneficiary_ref=p.beneficiary_ref, region_code=p.region_code, scheduled_at=at,
        run_id=new.run_id, reissue_of=new.reissue_of, tops_up_to_fen=p.tops_up_to_fen)


def on_benefit_changed(event: BenefitChanged, envelope: Envelope, uow: UnitOfWork) -> None:
    change = BenefitChange(
        kind=event.change, programme=event.programme, effective_month=event.effective_month,
        end_month=event.end_month, monthly_amount_fen=event.monthly_amount_fen,
        changed_at=clock.as_utc(event.changed_at))
    repo = PaymentRepository(uow.conn)
    current = repo.entitlement(event.case_id, for_update=True)
    if current is None:
        # Raised, not parked: a case's decision and its changes share a topic and a key, so
        # they arrive in order, and a change for a case with no entitlement is not early but
        # inconsistent (e.g. for a decision that granted no monthly amount). The consumer
        # retries it a few times and then dead-letters it with this reason, where an operator
        # sees it (/dead-letters, /health); a parked change would wait unseen for ever.
        raise UnknownEntitlement(
            f"{event.change} for case {event.case_id}, which has no monthly entitlement here")
    changed = apply_change(current, change)
    if changed != current:
        repo.save_entitlement(changed)
    pay_back(uow, repo, changed, change.effective_month)


def pay_back(uow: UnitOfWork, repo: PaymentRepository, entitlement: Entitlement,
             from_month: str) -> None:
    """Back pay (补发) for the months from ``from_month`` payment has paid already, where the
    schedule now says more is due: the difference, once a month, in the next bank file.

    Reckoned from what payment itself recorded (approval says what is due; payment knows what
    was paid), so a change delivered again, a second change or a restart pays a month only up to
    what it is due — and the unique index on (month, total) stops whatever races past."""
    month = max(from_month, entitlement.start_month)
    paid = repo.paid_by_month(entitlement.case_id, entitlement.programme, month)
    now = datetime.now(UTC)
    for payment in back_pay(entitlement, paid):
        new = NewPayment(payment_id=new_id(), payment=payment)
        repo.add(new, now)
        uow.publish(scheduled_event(new, now))


HANDLERS = (Routes()
            .on(ApplicationDecided, on_application_decided)
            .on(BenefitChanged, on_benefit_changed))
