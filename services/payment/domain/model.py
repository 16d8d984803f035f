"""Disbursement (资金发放): what an approval entitles a household to, and the payments it makes.

An approved decision can grant a monthly amount from a start month (a running *entitlement*,
which the monthly cycles pay month by month) and a one-off amount (temporary assistance,
including emergency advances), or both. Benefit changes move the entitlement.

An entitlement keeps its whole schedule, as *periods*: from a month on, a status and an amount.
A change rewrites the schedule from its effective month, and what a month pays is read from the
period in force that month — so a cycle generated late, a preview of next month and an auditor's
question about last spring all get the amount that was in force for the month they ask about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

# back_pay (补发): the difference for a month already paid, when a change raised what it is due.
PaymentKind = Literal["monthly", "one_off", "batch", "back_pay"]
EntitlementStatus = Literal["active", "exiting", "suspended", "terminated"]
ChangeKind = Literal["gradual_exit", "suspended", "resumed", "terminated", "amount_changed"]
PAYING: frozenset[str] = frozenset({"active", "exiting"})


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
    household_size: int = 1
    decision_id: str = ""


@dataclass(frozen=True)
class ScheduledPayment:
    case_id: str
    programme: str
    kind: PaymentKind
    period: str  # YYYY-MM: the month paid for; for a one-off, the month it was decided
    amount_fen: int
    beneficiary_ref: str
    region_code: str
    # A back pay's key: the month's total it brings what was paid up to. The month is topped up
    # to a total once, however often the change that called for it is delivered.
    tops_up_to_fen: int | None = None

    @property
    def once_key(self) -> tuple[str, str]:
        """What may be paid only once within a month's cycle or a batch: a household per
        programme (monthly), a household (batch) — as the unique indexes have it."""
        return (self.beneficiary_ref, self.programme if self.kind == "monthly" else "")


@dataclass(frozen=True)
class Period:
    """From ``from_month`` until the next period: a status and the monthly amount. For an
    exiting or terminated period, ``end_month`` is the last month still paid."""

    from_month: str
    status: EntitlementStatus
    amount_fen: int
    end_month: str | None = None

    def pays(self, month: str) -> int:
        if self.status not in PAYING or (self.end_month is not None and month > self.end_month):
            return 0
        return self.amount_fen


@dataclass(frozen=True)
class Entitlement:
    """A running monthly benefit and its schedule (periods in month order, the first from the
    start month)."""

    case_id: str
    programme: str
    beneficiary_ref: str
    region_code: str
    start_month: str
    periods: tuple[Period, ...]
    updated_at: datetime  # when the decision or change that set this schedule was taken
    household_size: int = 1

    def in_force(self, month: str) -> Period | None:
        found = None
        for period in self.periods:
            if period.from_month > month:
                break
            found = period
        return found

    def amount_for(self, month: str) -> int:
        """What this entitlement pays for ``month``: zero before the start, while suspended,
        after the end of an exit or a termination."""
        period = self.in_force(month)
        return 0 if period is None else period.pays(month)

    @property
    def last_month(self) -> str | None:
        """The last month that can pay anything, if the schedule has an end (an exit or a
        termination); None while it runs on. Cycles skip entitlements that ended before them."""
        latest = self.periods[-1]
        if latest.status in ("exiting", "terminated"):
            return latest.end_month
        return None

    # The current state, for people reading a case: the latest period.
    @property
    def status(self) -> EntitlementStatus:
        return self.periods[-1].status

    @property
    def status_from(self) -> str:
        """The first month of the run of periods with the current status."""
        return self._run_start(lambda p: p.status)

    @property
    def end_month(self) -> str | None:
        return self.periods[-1].end_month

    @property
    def monthly_amount_fen(self) -> int:
        return self.periods[-1].amount_fen

    @property
    def amount_from(self) -> str:
        """The first month of the run of periods with the current amount."""
        return self._run_start(lambda p: p.amount_fen)

    def _run_start(self, value: Callable[[Period], object]) -> str:
        current, first = value(self.periods[-1]), self.periods[-1].from_month
        for period in reversed(self.periods):
            if value(period) != current:
                break
            first = period.from_month
        return first


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


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + 1:04d}-01" if number == 12 else f"{year:04d}-{number + 1:02d}"


def entitlement_for(award: Award) -> Entitlement | None:
    """The running entitlement an award starts; none when it grants no monthly amount."""
    if award.monthly_amount_fen <= 0:
        return None
    if award.start_month is None:
        # Monthly money without a month to start from: paying any month would be a guess.
        raise ValueError(f"case {award.case_id}: a monthly amount without a start month")
    return Entitlement(
        case_id=award.case_id, programme=award.programme, beneficiary_ref=award.beneficiary_ref,
        region_code=award.region_code, start_month=award.start_month,
        periods=(Period(award.start_month, "active", award.monthly_amount_fen),),
        updated_at=award.decided_at, household_size=award.household_size)


def monthly_payment(entitlement: Entitlement, month: str) -> ScheduledPayment | None:
    """The payment an entitlement makes for a month, if it pays anything that month."""
    amount = entitlement.amount_for(month)
    if amount <= 0:
        return None
    return ScheduledPayment(
        case_id=entitlement.case_id, programme=entitlement.programme, kind="monthly",
        period=month, amount_fen=amount, beneficiary_ref=entitlement.beneficiary_ref,
        region_code=entitlement.region_code)


def first_monthly_payment(entitlement: Entitlement) -> ScheduledPayment:
    payment = monthly_payment(entitlement, entitlement.start_month)
    assert payment is not None, "a new entitlement pays its start month"
    return payment


def one_off_payment(award: Award) -> ScheduledPayment | None:
    """The one-off payment of an award (temporary assistance, an emergency advance), if any."""
    if award.one_off_amount_fen <= 0:
        return None
    return ScheduledPayment(
        case_id=award.case_id, programme=award.programme, kind="one_off",
        period=month_of(award.decided_on), amount_fen=award.one_off_amount_fen,
        beneficiary_ref=award.beneficiary_ref, region_code=award.region_code)


def apply_change(entitlement: Entitlement, change: BenefitChange) -> Entitlement:
    """The entitlement after a benefit change: its schedule rewritten from the effective month.
    Applying the same change again gives the same entitlement, so a change delivered twice has
    no second effect."""
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
    # A change cannot reach back before the benefit began.
    month = max(change.effective_month, entitlement.start_month)
    base = entitlement.in_force(month) or entitlement.periods[0]
    period = _period_after(entitlement.case_id, base, change, month)
    moved = replace(entitlement, updated_at=change.changed_at)
    if period is None:
        return moved
    kept = tuple(p for p in entitlement.periods if p.from_month < month)
    return replace(moved, periods=_merged((*kept, period)))


def _period_after(case_id: str, base: Period, change: BenefitChange,
                  month: str) -> Period | None:
    """The period a change starts at ``month``, given the period in force there; None when the
    change changes nothing."""
    if change.kind == "gradual_exit":
        if change.end_month is None or change.end_month < previous_month(month):
            raise ChangeRefused(f"case {case_id}: gradual exit from {month} "
                                f"needs an end month from {previous_month(month)}")
        return Period(month, "exiting", change.monthly_amount_fen, change.end_month)
    if change.kind == "suspended":
        # The amount stays on the period: a suspension's own amount says nothing about what a
        # resumption would pay, and the period pays nothing while suspended anyway.
        return Period(month, "suspended", base.amount_fen, base.end_month)
    if change.kind == "resumed":
        if base.status != "suspended":
            return None
        # A gradual exit planned before the suspension still ends at its end month.
        status: EntitlementStatus = "exiting" if base.end_month else "active"
        return Period(month, status, change.monthly_amount_fen, base.end_month)
    if change.kind == "terminated":
        last = previous_month(month)
        end = min(last, base.end_month) if base.end_month else last
        return Period(month, "terminated", base.amount_fen, end)
    return replace(base, from_month=month, amount_fen=change.monthly_amount_fen)  # amount_changed


def _merged(periods: tuple[Period, ...]) -> tuple[Period, ...]:
    """Neighbouring periods that say the same thing, as one: a schedule stays as short as what
    it means, and the same change applied twice leaves the same schedule."""
    out: list[Period] = []
    for period in periods:
        if out and replace(out[-1], from_month=period.from_month) == period:
            continue
        out.append(period)
    return tuple(out)


def back_pay(entitlement: Entitlement, paid: Mapping[str, int]) -> list[ScheduledPayment]:
    """The back pay (补发) an entitlement owes for months already paid: for each month of
    ``paid`` (what was paid, or is on its way, for the month: its monthly payment and any back
    pay before), what the schedule now says the month is due less that — when it is more. A
    month due less than was paid pays nothing back and takes nothing back (no clawback)."""
    out = []
    for month, already in sorted(paid.items()):
        due = entitlement.amount_for(month)
        if due > already:
            out.append(ScheduledPayment(
                case_id=entitlement.case_id, programme=entitlement.programme, kind="back_pay",
                period=month, amount_fen=due - already,
                beneficiary_ref=entitlement.beneficiary_ref,
                region_code=entitlement.region_code, tops_up_to_fen=due))
    return out


def within_cap(paid_this_year_fen: int, amount_fen: int, cap_fen: int) -> bool:
    """The last guard on temporary assistance: what the household was paid this calendar year
    plus this payment stays within the yearly cap."""
    return paid_this_year_fen + amount_fen <= cap_fen
