"""The events on ``onedoor.applications``, written by intake: a household's application, with
its members as the other services need them (by pseudonymous reference and age, never by name,
ID number or birth date).

Apart because it is intake's whole contract with verification and approval; the members' facts
here are the ones approval's rules and verification's consent check read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events import topics
from shared.events.base import Event, register
from shared.events.vocabulary import (
    ChildCare,
    IncomeKind,
    ParentSituation,
    Part,
    Programme,
    ReferralKind,
    Relation,
    Schooling,
    SelfCare,
)


class DeclaredIncome(Part):
    kind: IncomeKind
    monthly_amount_fen: int = Field(ge=0)


class MemberFacts(Part):
    """One member as the other services need them. Age in whole years on the day of the
    application, not the birth date: birth date, sex and region together would give away most
    of the resident ID number, and this log is kept for years."""

    person_ref: str
    relation: Relation
    age_years: int = Field(ge=0, le=150)
    declared_incomes: list[DeclaredIncome]
    consent_signed: bool
    # Declared at the window from the member's certificates; None when not declared.
    disability_grade: int | None = Field(default=None, ge=1, le=4)  # 残疾等级, 1 most severe
    able_to_work: bool | None = None  # 劳动能力, for the extreme-hardship "three noes" test
    self_care: SelfCare | None = None  # for the extreme-hardship care subsidy
    # A child's guardianship facts, for the orphans' allowance (programme "orphan"), as declared
    # from certificates: each parent's situation, where the child is cared for, and schooling
    # (an adult child in school continues; one entering university may get a grant).
    father: ParentSituation | None = None
    mother: ParentSituation | None = None
    child_care: ChildCare | None = None
    schooling: Schooling | None = None


class SupporterFacts(Part):
    """A legal supporter (法定赡养、抚养、扶养义务人) outside the household, and whether able to
    support; for the extreme-hardship test."""

    relation: Relation
    able_to_support: bool


class TemporaryRequest(Part):
    """What a temporary-assistance (临时救助) application asks for."""

    kind: Literal["emergency", "spending"]  # 急难型 / 支出型
    requested_amount_fen: int = Field(gt=0)
    cause: Literal["accident", "illness", "disaster", "fire", "education", "other"]
    # Rigid medical spending over the last 12 months (支出型), deducted from income.
    rigid_medical_spending_fen: int = Field(default=0, ge=0)


@register
class ApplicationSubmitted(Event):
    """A household applied at a service window; intake has checked the form and the consent."""

    type = "onedoor.application.submitted"
    version = 1
    topic = topics.APPLICATIONS

    region_code: str = Field(pattern=r"^[0-9]{6}$")
    # The town or street (乡镇/街道, 9 digits, within region_code) whose staff handle the case;
    # None for cases taken before towns were recorded, which only their district's staff see.
    town_code: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    programme: Programme
    submitted_at: datetime
    members: list[MemberFacts] = Field(min_length=1)
    legal_supporters: list[SupporterFacts] = Field(default_factory=list)
    care_mode: Literal["home", "centralised"] | None = None  # 分散 / 集中供养, extreme hardship
    temporary: TemporaryRequest | None = None
    referrals: list[ReferralKind] = Field(default_factory=list)
