"""Household economic status verification (居民家庭经济状况核对).

Partner departments publish records about persons; verification compares them with what the
household declared and summarises income and assets for the reviewer. Pure functions only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

# Which department may publish which kinds of record. A department publishing a kind that is not
# its own is refused: a bank has no say on a person's vehicles.
DEPARTMENT_KINDS: dict[str, frozenset[str]] = {
    "public_security": frozenset({"vehicle"}),
    "hr_social_security": frozenset({"wage", "pension"}),
    "real_estate_registry": frozenset({"real_estate"}),
    "bank": frozenset({"deposit"}),
}
INCOME_KINDS = frozenset({"wage", "pension"})  # amount is monthly income in fen
ASSET_KINDS = frozenset({"real_estate", "vehicle", "deposit"})  # amount is value/balance in fen
ADULT_AGE = 18


@dataclass(frozen=True)
class PartnerRecord:
    department: str
    record_id: str
    kind: str
    person_ref: str
    amount_fen: int
    as_of: date


@dataclass(frozen=True)
class HouseholdMember:
    person_ref: str
    age_years: int  # on the day of the application
    declared_monthly_fen: int
    consent_signed: bool


@dataclass(frozen=True)
class MemberIncome:
    person_ref: str
    declared_monthly_fen: int
    verified_monthly_fen: int
    counted_monthly_fen: int
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    members: tuple[MemberIncome, ...]
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int

    @property
    def household_monthly_income_fen(self) -> int:
        return sum(m.counted_monthly_fen for m in self.members)

    @property
    def per_capita_monthly_income_fen(self) -> int:
        total = Decimal(self.household_monthly_income_fen) / Decimal(len(self.members))
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class ConsentMissing(ValueError):
    """An adult member has not signed the consent: no partner data may be looked at."""


def check_consent(members: Iterable[HouseholdMember]) -> None:
    missing = [m.person_ref for m in members if m.age_years >= ADULT_AGE and not m.consent_signed]
    if missing:
        raise ConsentMissing(f"no signed consent from adult member(s) {', '.join(missing)}")


def build_report(members: list[HouseholdMember], records: Iterable[PartnerRecord]) -> Report:
    """Income per member and household assets, from the declaration and partner records.

    A member's counted income is the larger of what was declared and what partners report: an
    applicant cannot declare income away, and income a partner does not know of (casual work,
    say) still counts when declared.
    """
    by_person: dict[str, list[PartnerRecord]] = defaultdict(list)
    for record in records:
        by_person[record.person_ref].append(record)
    incomes = []
    real_estate = vehicles = deposits = 0
    for member in members:
        own = by_person.get(member.person_ref, [])
        verified = sum(r.amount_fen for r in own if r.kind in INCOME_KINDS)
        incomes.append(MemberIncome(
            person_ref=member.person_ref,
            declared_monthly_fen=member.declared_monthly_fen,
            verified_monthly_fen=verified,
            counted_monthly_fen=max(member.declared_monthly_fen, verified),
            sources=tuple(sorted({f"{r.department}:{r.kind}" for r in own})),
        ))
        real_estate += sum(1 for r in own if r.kind == "real_estate")
        vehicles += sum(1 for r in own if r.kind == "vehicle")
        deposits += sum(r.amount_fen for r in own if r.kind == "deposit")
    return Report(members=tuple(incomes), real_estate_count=real_estate, vehicle_count=vehicles,
                  deposits_fen=deposits)
