"""Disbursement (资金发放): what an approval entitles a household to, month by month."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entitlement:
    """What an approved decision grants: an amount per month from a start month."""

    case_id: str
    programme: str
    region_code: str
    beneficiary_ref: str
    monthly_amount_fen: int
    start_month: str  # YYYY-MM


@dataclass(frozen=True)
class ScheduledPayment:
    case_id: str
    programme: str
    period: str
    amount_fen: int
    beneficiary_ref: str
    region_code: str


def first_payment(entitlement: Entitlement) -> ScheduledPayment | None:
    """The first monthly payment of an entitlement; none when there is nothing to pay."""
    if entitlement.monthly_amount_fen <= 0:
        return None
    return ScheduledPayment(
        case_id=entitlement.case_id,
        programme=entitlement.programme,
        period=entitlement.start_month,
        amount_fen=entitlement.monthly_amount_fen,
        beneficiary_ref=entitlement.beneficiary_ref,
        region_code=entitlement.region_code,
    )
