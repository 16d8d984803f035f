"""The events on ``onedoor.payments``, written by payment: a payment scheduled, held by its last
guard, or settled by the bank (paid, or failed by a refusal's code).

Apart because it is payment's contract with intake (the case page) and the audit (who was paid
what, and why); the bank's own words and the account stay in payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.events import topics
from shared.events.base import Event, register
from shared.events.vocabulary import Month, PaymentKind, Programme, without_typed_text


@register
class PaymentScheduled(Event):
    """Payment scheduled a household's payment for one programme and month."""

    type = "onedoor.payment.scheduled"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month  # the month a monthly payment is for; the month of a one-off payment
    # monthly; one_off (temporary assistance, emergency advances); batch (a subsidy to a whole
    # population, such as the price-linked subsidy: its programme is the recipient's); back_pay
    # (补发: the difference for a month already paid, when a change raised what it is due —
    # ``period`` is that month). Added with back pay: older records have the first three only.
    kind: PaymentKind = "monthly"
    amount_fen: int = Field(gt=0)
    beneficiary_ref: str
    region_code: str
    scheduled_at: datetime
    run_id: str | None = None  # the monthly cycle or batch that made it
    reissue_of: str | None = None  # the failed payment this one pays again
    # A back pay's reckoning: the month's total it brings the payments to (what payment saw the
    # case entitled to when it paid). An auditor checks the arithmetic against the payments
    # before it, and that the decisions did entitle the month to it — even when a later change,
    # not yet heard by payment, entitles the month to another amount by then. Absent on the
    # other kinds, and on back pay scheduled before it was added.
    tops_up_to_fen: int | None = Field(default=None, gt=0)


@register
class PaymentHeld(Event):
    """Payment's last guard stopped a payment (e.g. the yearly temporary-assistance cap would be
    exceeded): it is recorded, not sent, and a person must look."""

    type = "onedoor.payment.held"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month
    kind: PaymentKind
    amount_fen: int = Field(gt=0)
    reason: str
    held_at: datetime


@register
class PaymentSettled(Event):
    """A bank's answer for one payment: paid, or failed with the bank's reason (never the
    account). A failed payment goes back to the town to correct the account."""

    type = "onedoor.payment.settled"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month
    kind: PaymentKind
    amount_fen: int = Field(gt=0)
    outcome: Literal["paid", "failed"]
    # Which kind of refusal (payment's domain/failures.py); the bank's own words, which may name
    # the holder, stay in payment with the payment (``GET /cases/{id}/payments``).
    reason_code: Literal["account_closed", "no_such_account", "name_mismatch", "account_frozen",
                         "other"] | None = None
    bank_file_id: str
    settled_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        # Archived before the words stayed in payment: read as a refusal of another kind.
        data, said = without_typed_text(data, "reason")
        if said and isinstance(data, dict) and data.get("reason_code") is None:
            data["reason_code"] = "other"
        return data
