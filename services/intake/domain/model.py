"""The application a household makes at the window, and the rules intake holds it to.

Intake checks the form — identity, relations, consent — not eligibility: eligibility is for
verification and approval, from partner data and policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.intake.domain.region import region_problem
from services.intake.domain.resident_id import ResidentId, age_on

ADULT_AGE = 18
INCOME_KINDS = ("wage", "pension", "business", "property", "transfer", "other")
PROGRAMMES = ("dibao",)
RELATIONS = ("applicant", "spouse", "child", "parent", "sibling", "grandchild", "grandparent",
             "other")


@dataclass(frozen=True)
class Problem:
    """A field that is wrong, and why; ``path`` as in the request body: ("members", 2, "name")."""

    path: tuple[str | int, ...]
    reason: str


class InvalidApplication(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.path))}: {p.reason}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class DeclaredIncome:
    kind: str
    monthly_amount_fen: int


@dataclass(frozen=True)
class Member:
    name: str
    resident_id: ResidentId
    relation: str
    declared_incomes: tuple[DeclaredIncome, ...] = ()
    consent_signed_on: date | None = None

    def is_adult_on(self, day: date) -> bool:
        return age_on(self.resident_id.birth_date, day) >= ADULT_AGE

    @property
    def declared_monthly_fen(self) -> int:
        return sum(i.monthly_amount_fen for i in self.declared_incomes)


@dataclass(frozen=True)
class Application:
    region_code: str
    programme: str
    members: tuple[Member, ...]
    submitted_on: date = field(default_factory=date.today)

    def problems(self) -> list[Problem]:
        """Every rule the application breaks (all of them, not only the first)."""
        found: list[Problem] = []
        region = region_problem(self.region_code)
        if region:
            found.append(Problem(("region_code",), region))
        if self.programme not in PROGRAMMES:
            found.append(Problem(("programme",), f"must be one of {', '.join(PROGRAMMES)}"))
        applicants = [i for i, m in enumerate(self.members) if m.relation == "applicant"]
        if len(applicants) != 1:
            found.append(Problem(("members",), "exactly one member must have relation 'applicant'"
                                 f" (found {len(applicants)})"))
        seen: dict[str, int] = {}
        for i, member in enumerate(self.members):
            number = member.resident_id.number
            if number in seen:
                found.append(Problem(("members", i, "resident_id"),
                                     f"same resident ID number as member {seen[number]}"))
            seen.setdefault(number, i)
            if member.is_adult_on(self.submitted_on):
                if member.consent_signed_on is None:
                    found.append(Problem(
                    ("members", i, "consent_signed_on"),
                    "every adult member must sign the consent to verification"))
                elif member.consent_signed_on > self.submitted_on:
                    found.append(Problem(("members", i, "consent_signed_on"),
                                         "consent cannot be signed after the application date"))
        if applicants and not self.members[applicants[0]].is_adult_on(self.submitted_on):
            found.append(Problem(("members", applicants[0], "relation"),
                                 "the applicant must be an adult"))
        return found

    def already_in_open_cases(self, refs: list[str], open_cases: dict[str, str]) -> list[Problem]:
        """Problems for members (refs in member order) who are in another open case."""
        return [Problem(("members", i, "resident_id"),
                        f"already a member of open case {open_cases[ref]} for {self.programme}")
                for i, ref in enumerate(refs) if ref in open_cases]

    @property
    def applicant(self) -> Member:
        return next(m for m in self.members if m.relation == "applicant")


# Case status, in the order a case moves through it. A case never moves backwards: events from
# different topics can arrive in any order, so the status is the furthest one seen.
STATUS_RANK = {
    "submitted": 0,
    "verified": 1,
    "undecidable": 2,
    "rejected": 3,
    "approved": 3,
    "payment_scheduled": 4,
}


# A case in any other status holds its members: they cannot be in a second case of the same
# programme, so a household is never approved — and paid — twice for one month.
CLOSED_STATUSES = ("rejected",)


def later_status(current: str, candidate: str) -> str:
    return candidate if STATUS_RANK[candidate] > STATUS_RANK[current] else current
