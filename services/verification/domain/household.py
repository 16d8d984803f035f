"""The household verification reports on, as it keeps it from the application: pseudonymous
members with their ages on the application day and what each declared, never names, resident ID
numbers or birth dates; and whether every adult member has consented to the check (授权核对).

Apart from the report (domain/model.py) because the consent decides whether any partner data is
looked at at all: it is checked before a report is built, and again when the town records a
consent or a periodic review finds a child come of age.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from shared.resident_id import ADULT_AGE, age_on


@dataclass(frozen=True)
class HouseholdMember:
    person_ref: str
    age_years: int  # on the day of the application
    declared_fen_by_kind: Mapping[str, int]  # monthly, in fen, per income kind
    consent_signed: bool

    @property
    def declared_monthly_fen(self) -> int:
        return sum(self.declared_fen_by_kind.values())


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


def check_consent(members: Iterable[HouseholdMember], *, applied_on: date | None = None,
                  on: date | None = None) -> list[str]:
    """The members whose consent to the check (授权核对) is missing, by reference, in the
    form's order: every adult must sign before any partner data about the household is looked
    at. None missing: the check may run.

    Ages are kept as they were on the application day (``applied_on``), birth dates never. On a
    later day (``on``: a periodic review) a member counts as an adult once they may have turned
    18 since: their age then, plus the years begun since. The check asks a child for their
    consent up to a year early rather than look at an adult's data without it."""
    def may_be(member: HouseholdMember) -> int:
        if applied_on is None or on is None or on <= applied_on:
            return member.age_years
        anniversary = (on.month, on.day) == (applied_on.month, applied_on.day)
        return member.age_years + age_on(applied_on, on) + (0 if anniversary else 1)

    return [m.person_ref for m in members if not m.consent_signed and may_be(m) >= ADULT_AGE]
