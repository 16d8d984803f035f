"""Payment's handlers: an approval in, the first monthly payment scheduled, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.payment.adapters.repository import PaymentRepository
from services.payment.domain.model import Entitlement, first_payment
from shared.events.catalogue import ApplicationDecided, PaymentScheduled
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork


def on_application_decided(event: ApplicationDecided, envelope: Envelope,
                           uow: UnitOfWork) -> None:
    if event.outcome != "approved" or event.start_month is None:
        return
    payment = first_payment(Entitlement(
        case_id=event.case_id, programme=event.programme, region_code=event.region_code,
        beneficiary_ref=event.beneficiary_ref, monthly_amount_fen=event.monthly_amount_fen,
        start_month=event.start_month))
    if payment is None:
        return
    repo = PaymentRepository(uow.conn)
    # The inbox already stops a redelivered event; this stops a second approval event for the
    # same case and month (and the unique key stops anything that gets past both).
    if repo.exists(payment):
        return
    now = datetime.now(UTC)
    payment_id = str(uuid.uuid4())
    repo.add(payment_id, payment, now)
    uow.publish(PaymentScheduled(
        case_id=payment.case_id, payment_id=payment_id, programme=payment.programme,  # type: ignore[arg-type]
        period=payment.period, amount_fen=payment.amount_fen,
        beneficiary_ref=payment.beneficiary_ref, region_code=payment.region_code,
        scheduled_at=now))


HANDLERS = {ApplicationDecided: on_application_decided}
