"""The application a household makes at the window, and the rules intake holds it to.

Intake checks the form — identity, relations, consent, which facts each programme needs — not
eligibility: eligibility is for verification and approval, from partner data and policy.

The shape of each field (its type, range, length, allowed values) is checked where the request is
parsed (``entrypoints/schemas.py``), so one answer names every malformed field; the rules here
are those that relate fields to one another and to the programme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.intake.domain.region import region_problem, town_problem
from shared import clock
from shared.resident_id import ADULT_AGE, ResidentId, age_on

INCOME_KINDS = ("wage", "pension", "business", "property", "transfer", "other")
# 低保, 特困, 低保边缘, 临时救助, 残疾人两项补贴, 孤儿和事实无人抚养儿童 (DOMAIN.md §3)
PROGRAMMES = ("dibao", "tekun", "marginal", "temporary", "disability", "orphan")
RELATIONS = ("applicant", "spouse", "child", "parent", "sibling", "grandchild", "grandparent",
             "other")
DESCRIPTION_MAX_CHARS = 500


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
    # Declared at the window from the member's certificates; None when not declared.
    disability_grade: int | None = None  # 残疾等级 1–4, 1 most severe
    able_to_work: bool | None = None  # 劳动能力
    self_care: str | None = None  # 生活自理能力: "full" 全自理, "partial" 半自理, "none" 全护理
    # A child's guardianship facts, for the orphans' allowance only (codes as in the event
    # catalogue): each parent's situation, where the child is cared for, schooling.
    father: str | None = None
    mother: str | None = None
    child_care: str | None = None  # "institution" 集中养育 or "family" 社会散居
    schooling: str | None = None  # "not_in_school", "in_school", "entering_university"

    @property
    def guardianship_declared(self) -> bool:
        return any(v is not None for v in (self.father, self.mother, self.child_care,
                                           self.schooling))

    def is_adult_on(self, day: date) -> bool:
        return age_on(self.resident_id.birth_date, day) >= ADULT_AGE

    @property
    def declared_monthly_fen(self) -> int:
        return sum(i.monthly_amount_fen for i in self.declared_incomes)


@dataclass(frozen=True)
class LegalSupporter:
    """A legal supporter outside the household (法定赡养、抚养、扶养义务人). Only the relation is
    asked: the extreme-hardship test needs whether someone can support, not who they are."""

    relation: str
    able_to_support: bool


@dataclass(frozen=True)
class TemporaryRequest:
    """What a temporary-assistance (临时救助) application asks for."""

    kind: str  # "emergency" 急难型 or "spending" 支出型
    requested_amount_fen: int
    cause: str  # accident, illness, disaster, fire, education, other
    rigid_medical_spending_fen: int = 0  # last 12 months, for spending-type hardship (支出型)
    # The household's own account of what happened. Kept at intake with the names, never
    # published: free text can say anything about anyone.
    description: str | None = None


@dataclass(frozen=True)
class Application:
    region_code: str
    programme: str
    members: tuple[Member, ...]
    submitted_on: date = field(default_factory=clock.today)  # the day in China, as everywhere
    legal_supporters: tuple[LegalSupporter, ...] = ()  # extreme hardship only
    care_mode: str | None = None  # extreme hardship only: "home" 分散 or "centralised" 集中供养
    temporary: TemporaryRequest | None = None  # temporary assistance only, and required there
    # Other departments' assistance the household also asks for (专项救助): medical,
    # education, housing, employment.
    referrals: tuple[str, ...] = ()
    town_code: str | None = None  # the town or street whose staff handle the case

    def problems(self) -> list[Problem]:
        """Every rule the application breaks (all of them, not only the first)."""
        found: list[Problem] = []
        region = region_problem(self.region_code)
        if region:
            found.append(Problem(("region_code",), region))
        elif self.town_code is not None and (town := town_problem(self.town_code,
                                                                  self.region_code)):
            found.append(Problem(("town_code",), town))
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
        found += self._programme_problems(applicants[0] if len(applicants) == 1 else None)
        seen_kinds: set[str] = set()
        for i, kind in enumerate(self.referrals):
            if kind in seen_kinds:
                found.append(Problem(("referrals", i), f"'{kind}' is listed twice"))
            seen_kinds.add(kind)
        return found

    def _programme_problems(self, applicant: int | None) -> list[Problem]:
        """The facts each programme needs, and those that belong to one programme only."""
        found: list[Problem] = []
        if self.programme == "temporary" and self.temporary is None:
            found.append(Problem(("temporary",), "required for temporary assistance: what the"
                                 " household asks for, and why"))
        elif self.programme != "temporary" and self.temporary is not None:
            found.append(Problem(("temporary",), "only for programme 'temporary'"))
        if self.programme == "tekun":
            # Extreme-hardship support (特困供养) is for a person, not a household.
            if len(self.members) != 1:
                found.append(Problem(("members",), "extreme-hardship support is for one person:"
                                     f" list the applicant only (found {len(self.members)})"))
            if applicant is not None and self.members[applicant].self_care is None:
                # The care subsidy is set by the ability to look after oneself.
                found.append(Problem(("members", applicant, "self_care"),
                                     "required for extreme-hardship support"))
        else:
            if self.legal_supporters:
                found.append(Problem(("legal_supporters",),
                                     "only for extreme-hardship support (programme 'tekun')"))
            if self.care_mode is not None:
                found.append(Problem(("care_mode",),
                                     "only for extreme-hardship support (programme 'tekun')"))
        if self.programme == "disability" and all(
                m.disability_grade is None for m in self.members):
            found.append(Problem(("members",), "the disability subsidies need at least one member"
                                 " with a disability_grade"))
        found += self._guardianship_problems()
        return found

    def _guardianship_problems(self) -> list[Problem]:
        """The orphans' allowance is for the children whose guardianship facts are declared:
        both parents' situations and the care, for each of them; the facts belong to it only."""
        found: list[Problem] = []
        if self.programme != "orphan":
            for i, m in enumerate(self.members):
                for name in ("father", "mother", "child_care", "schooling"):
                    if getattr(m, name) is not None:
                        found.append(Problem(("members", i, name),
                                             "only for the orphans' allowance (programme "
                                             "'orphan')"))
            return found
        if not any(m.guardianship_declared for m in self.members):
            found.append(Problem(("members",), "the orphans' allowance needs at least one child"
                                 " with both parents' situations (father, mother) and the care"
                                 " (child_care)"))
        for i, m in enumerate(self.members):
            if not m.guardianship_declared:
                continue
            for name in ("father", "mother", "child_care"):
                if getattr(m, name) is None:
                    found.append(Problem(("members", i, name),
                                         "required for a child of the orphans' allowance"))
        return found

    def already_in_open_cases(self, refs: list[str],
                              open_cases: dict[str, str | None]) -> list[Problem]:
        """Problems for members (refs in member order) who are in another open case. The case
        is named where ``open_cases`` gives its id: only to staff whose jurisdiction covers it
        (None otherwise), so that a clerk elsewhere learns no other town's case."""
        return [Problem(("members", i, "resident_id"),
                        f"already has an open case for {self.programme}"
                        + (f": {open_cases[ref]}" if open_cases[ref] else ""))
                for i, ref in enumerate(refs) if ref in open_cases]

    @property
    def applicant(self) -> Member:
        return next(m for m in self.members if m.relation == "applicant")


# A case that is not closed holds its members: they cannot be in a second case of the same
# programme, so a household is never approved — and paid — twice for one need.
CLOSED_STATUSES = ("rejected", "terminated")
# Temporary assistance is paid once: when it is granted (or advanced) the need is met, and the
# next emergency is a new case. "follow_up" stays open: an advance whose verification failed is
# still being dealt with.
ONE_OFF_CLOSED_STATUSES = (*CLOSED_STATUSES, "approved", "payment_scheduled", "advance_paid")


def closed_statuses(programme: str) -> tuple[str, ...]:
    return ONE_OFF_CLOSED_STATUSES if programme == "temporary" else CLOSED_STATUSES


# Where a case is, as the window shows it. Approval owns the workflow: its CaseStageChanged
# events number each case's stage changes from 1, and the status is the stage of the highest
# number seen. Intake reads four topics (and their partitions) whose relative order is
# arbitrary, and redelivers after failures, so arrival order means nothing; the sequence does.
# Two statuses are intake's own, and only fill gaps approval's stages leave:
#  - "submitted" → "verified" when the report arrives before approval's first stage change;
#  - "approved"/"advance_paid" → "payment_scheduled" when payment confirms the money is on its
#    way. A payment seen in any other status (it overtook the approval) is only recorded.
SUBMITTED = "submitted"
VERIFIED = "verified"
PAYMENT_SCHEDULED = "payment_scheduled"
PAYABLE_STATUSES = ("approved", "advance_paid")


@dataclass(frozen=True)
class CaseStatus:
    status: str = SUBMITTED
    stage_seq: int = 0  # the sequence of the stage change the status comes from; 0: none yet

    def after_stage_change(self, sequence: int, stage: str, paid: bool = False) -> CaseStatus:
        if sequence > self.stage_seq:
            # The payments topic can overtake the decisions topic: a payment already seen
            # shows once the case is approved.
            if paid and stage in PAYABLE_STATUSES:
                return CaseStatus(PAYMENT_SCHEDULED, sequence)
            return CaseStatus(stage, sequence)
        return self  # older than what we show, or a repeat

    def after_verification(self) -> CaseStatus:
        # Once approval has staged the case, its stages say more than "verified" does.
        if self.stage_seq == 0 and self.status == SUBMITTED:
            return CaseStatus(VERIFIED, 0)
        return self

    def after_payment_scheduled(self) -> CaseStatus:
        if self.status in PAYABLE_STATUSES:
            # Keeps stage_seq: a later stage change (suspension, exit) still replaces it.
            return CaseStatus(PAYMENT_SCHEDULED, self.stage_seq)
        return self
