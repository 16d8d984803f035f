"""Household economic status verification (居民家庭经济状况核对).

Partner departments publish records about persons; verification compares them with what the
household declared and summarises income and assets for the reviewer. Pure functions only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

# The kinds the report counts (the registry, partners.DEPARTMENTS, has more: kept, not yet read).
# Unemployment benefit is transfer income, which counts like a pension.
INCOME_KINDS = frozenset({"wage", "pension", "unemployment_benefit"})  # monthly income in fen
ASSET_KINDS = frozenset({"real_estate", "vehicle", "deposit"})  # amount is value/balance in fen
# Income from work, against which the employment-cost deduction (就业成本扣减) applies: as the
# household declares it, and as partner records show it.
DECLARED_WORK_KINDS = frozenset({"wage", "business"})
RECORDED_WORK_KINDS = frozenset({"wage"})
ADULT_AGE = 18


@dataclass(frozen=True)
class PartnerRecord:
    department: str
    record_id: str
    kind: str
    person_ref: str
    amount_fen: int  # 0 for kinds without an amount (partners.Measure)
    as_of: date
    grade: int | None = None  # for graded kinds (disability grade), else None
    town_code: str | None = None  # the person's town of residence, where the department says


@dataclass(frozen=True)
class HouseholdMember:
    person_ref: str
    age_years: int  # on the day of the application
    declared_fen_by_kind: Mapping[str, int]  # monthly, in fen, per income kind
    consent_signed: bool

    @property
    def declared_monthly_fen(self) -> int:
        return sum(self.declared_fen_by_kind.values())

    @property
    def declared_work_fen(self) -> int:
        return sum(fen for kind, fen in self.declared_fen_by_kind.items()
                   if kind in DECLARED_WORK_KINDS)


@dataclass(frozen=True)
class Household:
    """What verification keeps of an application to report on the case again later (new partner
    data, periodic reviews): pseudonymous members only, never names or resident ID numbers."""

    case_id: str
    region_code: str
    programme: str
    applicant_ref: str
    submitted_at: datetime
    members: tuple[HouseholdMember, ...]
    town_code: str | None = None  # the town whose staff handle the case, when recorded


@dataclass(frozen=True)
class MemberIncome:
    person_ref: str
    declared_monthly_fen: int
    verified_monthly_fen: int
    counted_monthly_fen: int
    sources: tuple[str, ...]
    employment_monthly_fen: int = 0  # the part of the counted income that comes from work


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

    @property
    def figures(self) -> tuple[object, ...]:
        """What a decision rests on: every income figure per member, and the assets. Sources
        are left out: a second department confirming the same amounts changes no decision."""
        incomes = sorted((m.person_ref, m.declared_monthly_fen, m.verified_monthly_fen,
                          m.counted_monthly_fen, m.employment_monthly_fen) for m in self.members)
        return (tuple(incomes), self.real_estate_count, self.vehicle_count, self.deposits_fen)


class ConsentMissing(ValueError):
    """An adult member has not signed the consent: no partner data may be looked at."""


def check_consent(members: Iterable[HouseholdMember]) -> None:
    missing = [m.person_ref for m in members if m.age_years >= ADULT_AGE and not m.consent_signed]
    if missing:
        raise ConsentMissing(f"no signed consent from adult member(s) {', '.join(missing)}")


def build_report(members: Iterable[HouseholdMember], records: Iterable[PartnerRecord]) -> Report:
    """Income per member and household assets, from the declaration and partner records.

    A member's counted income is the larger of what was declared and what partners report: an
    applicant cannot declare income away, and income a partner does not know of (casual work,
    say) still counts when declared. The same holds for the part that comes from work.
    """
    by_person: dict[str, list[PartnerRecord]] = defaultdict(list)
    for record in records:
        by_person[record.person_ref].append(record)
    incomes = []
    real_estate = vehicles = deposits = 0
    for member in members:
        own = by_person.get(member.person_ref, [])
        verified = sum(r.amount_fen for r in own if r.kind in INCOME_KINDS)
        counted = max(member.declared_monthly_fen, verified)
        work = max(member.declared_work_fen,
                   sum(r.amount_fen for r in own if r.kind in RECORDED_WORK_KINDS))
        incomes.append(MemberIncome(
            person_ref=member.person_ref,
            declared_monthly_fen=member.declared_monthly_fen,
            verified_monthly_fen=verified,
            counted_monthly_fen=counted,
            sources=tuple(sorted({f"{r.department}:{r.kind}" for r in own})),
            # Never more than what is counted: the employment-cost deduction must not reduce
            # income that was never counted.
            employment_monthly_fen=min(work, counted),
        ))
        real_estate += sum(1 for r in own if r.kind == "real_estate")
        vehicles += sum(1 for r in own if r.kind == "vehicle")
        deposits += sum(r.amount_fen for r in own if r.kind == "deposit")
    return Report(members=tuple(incomes), real_estate_count=real_estate, vehicle_count=vehicles,
                  deposits_fen=deposits)
