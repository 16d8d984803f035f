"""Every event type OneDoor publishes, one Pydantic model each.

Money is integer fen. Persons appear only as pseudonymous references (``person_ref``), never by
name or resident ID number: this log is kept for years and replayed by auditors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import topics
from shared.events.base import Event, register

IncomeKind = Literal["wage", "pension", "business", "property", "transfer", "other"]
Programme = Literal["dibao"]
Relation = Literal[
    "applicant", "spouse", "child", "parent", "sibling", "grandchild", "grandparent", "other"
]
Month = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]  # "YYYY-MM"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeclaredIncome(_Part):
    kind: IncomeKind
    monthly_amount_fen: int = Field(ge=0)


class MemberFacts(_Part):
    """One member as the other services need them. Age in whole years on the day of the
    application, not the birth date: birth date, sex and region together would give away most
    of the resident ID number, and this log is kept for years."""

    person_ref: str
    relation: Relation
    age_years: int = Field(ge=0, le=150)
    declared_incomes: list[DeclaredIncome]
    consent_signed: bool


@register
class ApplicationSubmitted(Event):
    """A household applied at a service window; intake has checked the form and the consent."""

    type = "onedoor.application.submitted"
    version = 1
    topic = topics.APPLICATIONS

    region_code: str = Field(pattern=r"^[0-9]{6}$")
    programme: Programme
    submitted_at: datetime
    members: list[MemberFacts] = Field(min_length=1)


class MemberIncome(_Part):
    person_ref: str
    declared_monthly_fen: int
    verified_monthly_fen: int
    counted_monthly_fen: int
    sources: list[str]


class AssetSummary(_Part):
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int


@register
class VerificationReported(Event):
    """Verification compared the declaration with partner departments' records for a case."""

    type = "onedoor.verification.reported"
    version = 1
    topic = topics.VERIFICATIONS

    report_id: str
    region_code: str
    programme: Programme
    applicant_ref: str
    household_size: int = Field(ge=1)
    members: list[MemberIncome]
    assets: AssetSummary
    household_monthly_income_fen: int
    per_capita_monthly_income_fen: int
    reported_at: datetime


class DecisionReason(_Part):
    """One rule the decision applied: whether it passed, why, and the figures it used."""

    rule: str
    passed: bool
    detail: str
    figures: dict[str, str] = Field(default_factory=dict)


@register
class ApplicationDecided(Event):
    """Approval decided a case. ``undecidable`` means a person must act (e.g. no policy yet)."""

    type = "onedoor.application.decided"
    version = 1
    topic = topics.DECISIONS

    decision_id: str
    outcome: Literal["approved", "rejected", "undecidable"]
    programme: Programme
    region_code: str
    beneficiary_ref: str
    household_size: int
    monthly_amount_fen: int = Field(ge=0)
    start_month: Month | None
    policy_version: str | None
    reasons: list[DecisionReason]
    decided_at: datetime


@register
class PaymentScheduled(Event):
    """Payment scheduled a household's payment for one programme and month."""

    type = "onedoor.payment.scheduled"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month
    amount_fen: int = Field(gt=0)
    beneficiary_ref: str
    region_code: str
    scheduled_at: datetime
