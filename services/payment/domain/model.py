"""Disbursement (资金发放): what an approval entitles a household to, and the payments it makes.

An approved decision can grant a monthly amount from a start month (a running *entitlement*,
which later monthly cycles pay month by month) and a one-off amount (temporary assistance,
including emergency advances), or both. Benefit changes move the entitlement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

PaymentKind = Literal["monthly", "one_off"]
EntitlementStatus = Literal["active", "exiting", "suspended", "terminated"]
ChangeKind = Literal["gradual_exit", "suspended", "resumed", "terminated", "amount_changed"]


class ChangeRefused(ValueError):
    """A benefit change that cannot apply to the entitlement as it stands; a person must look."""


@dataclass(frozen=True)
class Award:
    """An approved decision, as payment reads it."""

    case_id: str
    programme: str
    region_code: str
    beneficiary_ref: str
    monthly_amount_fen: int
    start_month: str | None  # YYYY-MM
    one_off_amount_fen: int
    decided_on: date  # the calendar day in China, which gives a one-off payment its month
    decided_at: datetime


@dataclass(frozen=True)
class ScheduledPayment:
    case_id: str
    programme: str
    kind: PaymentKind
    period: str  # YYYY-MM: the month paid for; for a one-off, the month it was decided
    amount_fen: int
    beneficiary_ref: str
    region_code: str


@dataclass(frozen=True)
class Entitlement:
    """A running monthly benefit. ``amount_from`` and ``status_from`` are the first months the
    current amount and status apply to; ``end_month`` is the last month still paid, if known."""

    case_id: str
    programme: str
    beneficiary_ref: str
    region_code: str
    monthly_amount_fen: int
    start_month: str
    status: EntitlementStatus
    amount_from: str
    status_from: str
    end_month: str | None
    updated_at: datetime  # when the decision or change that set this state was taken


@dataclass(frozen=True)
class BenefitChange:
    kind: ChangeKind
    programme: str
    effective_month: str  # the first month the change applies to
    end_month: str | None  # gradual exit: the last month still paid
    monthly_amount_fen: int  # the monthly amount from effective_month
    changed_at: datetime


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def entitlement_for(award: Award) -> Entitlement | None:
    """The running entitlement an award starts; none when it grants no monthly amount."""
    if award.monthly_amount_fen <= 0:
        return None
    if award.start_month is None:
        # Monthly money without a month to start from: paying any month would be a guess.
        raise ValueError(f"case {award.case_id}: a monthly amount without a start month")
    return Entitlement(
        case_id=award.case_id, programme=award.programme, beneficiary_ref=award.beneficiary_ref,
        region_code=award.region_code, monthly_amount_fen=award.monthly_amount_fen,
        start_month=award.start_month, status="active", amount_from=award.start_month,
        status_from=award.start_month, end_month=None, updated_at=award.decided_at)


def first_monthly_payment(entitlement: Entitlement) -> ScheduledPayment:
    return ScheduledPayment(
        case_id=entitlement.case_id, programme=entitlement.programme, kind="monthly",
        period=entitlement.start_month, amount_fen=entitlement.monthly_amount_fen,
        beneficiary_ref=entitlement.beneficiary_ref, region_code=entitlement.region_code)


def one_off_payment(award: Award) -> ScheduledPayment | None:
    """The one-off payment of an award (temporary assistance, an emergency advance), if any."""
    if award.one_off_amount_fen <= 0:
        return None
    return ScheduledPayment(
        case_id=award.case_id, programme=award.programme, kind="one_off",
        period=month_of(award.decided_on), amount_fen=award.one_off_amount_fen,
        beneficiary_ref=award.beneficiary_ref, region_code=award.region_code)


def apply_change(entitlement: Entitlement, change: BenefitChange) -> Entitlement:
    """The entitlement after a benefit change. Applying the same change again gives the same
    entitlement, so a change delivered twice has no second effect."""
    if change.programme != entitlement.programme:
        raise ChangeRefused(f"case {entitlement.case_id}: a {change.programme} change for a "
                            f"{entitlement.programme} entitlement")
    if change.changed_at < entitlement.updated_at:
        # Older than the state we hold: one partition keeps a case's events in order, so this is
        # a re-sent old change, and applying it would undo a later one.
        return entitlement
    if entitlement.status == "terminated" and change.kind != "terminated":
        # Reviving a terminated benefit would start paying again; that takes a new case.
        raise ChangeRefused(f"case {entitlement.case_id}: {change.kind} after termination")
    moved = replace(entitlement, updated_at=change.changed_at)
    month = change.effective_month
    if change.kind in ("gradual_exit", "resumed", "amount_changed") and (
            change.monthly_amount_fen != entitlement.monthly_amount_fen):
        # Only changes under which the benefit is paid carry the amount paid; a suspension's or
        # termination's amount says nothing about what a resumption would pay.
        moved = replace(moved, monthly_amount_fen=change.monthly_amount_fen, amount_from=month)
    if change.kind == "gradual_exit":
        if change.end_month is None or change.end_month < previous_month(month):
            raise ChangeRefused(f"case {entitlement.case_id}: gradual exit from {month} "
                                f"needs an end month from {previous_month(month)}")
        return replace(moved, status="exiting", status_from=month, end_month=change.end_month)
    if change.kind == "suspended":
        return replace(moved, status="suspended", status_from=month)
    if change.kind == "resumed":
        if entitlement.status != "suspended":
            return moved
        # A gradual exit planned before the suspension still ends at its end month.
        status: EntitlementStatus = "exiting" if entitlement.end_month else "active"
        return replace(moved, status=status, status_from=month)
    if change.kind == "terminated":
        last = previous_month(month)
        end = min(last, entitlement.end_month) if entitlement.end_month else last
        return replace(moved, status="terminated", status_from=month, end_month=end)
    return moved  # amount_changed
