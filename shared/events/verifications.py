"""The events on ``onedoor.verifications``, written by verification: a household's report — its
income member by member and kind by kind, its assets, the flags a reviewer must see and how
current each department's data was — or why verification may not check it.

Apart because it is verification's contract with approval and intake, and the largest part of an
assessment's input: approval's rules and the audit's replay read these parts field by field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from shared.events import topics
from shared.events.base import Event, register
from shared.events.vocabulary import IncomeKind, ParentSituation, Part, Programme


class KindIncome(Part):
    """One kind of a member's income: declared, recorded by partners, and counted (the larger),
    with where the figures came from ("declared", department:kind)."""

    kind: IncomeKind
    declared_fen: int = Field(ge=0)
    recorded_fen: int = Field(ge=0)
    counted_fen: int = Field(ge=0)
    sources: list[str] = Field(default_factory=list)


class MemberIncome(Part):
    person_ref: str
    declared_monthly_fen: int
    verified_monthly_fen: int
    counted_monthly_fen: int
    sources: list[str]
    # The part of the counted income that comes from work (wages, business), against which the
    # employment-cost deduction applies.
    employment_monthly_fen: int = 0
    # The count kind by kind (reports before it was kept by kind have none).
    by_kind: list[KindIncome] = Field(default_factory=list)
    # The disabled persons' federation's grade on record: it decides over the declared grade.
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    # Each parent's situation as the children's welfare information system records it (孤儿、
    # 事实无人抚养儿童): it decides over the declared one.
    father_on_record: ParentSituation | None = None
    mother_on_record: ParentSituation | None = None
    # Added with the other partner kinds (issue 22); reports before them have none. The tax
    # department's monthly taxable income: evidence beside the count, never in it.
    taxable_income_fen: int | None = Field(default=None, ge=0)
    # The household registration (户籍所在地) on record lies outside the case's region.
    registered_elsewhere: bool = False
    # The court's record of a prison sentence being served: approval leaves the member out of
    # the household (民发〔2021〕57号 art. 8).
    imprisoned_since: date | None = None


class AssetSummary(Part):
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int
    # Financial assets beside deposits (金融资产), and the housing provident fund's balance,
    # each apart so that the assessment shows each with its source; reports before issue 22
    # have none.
    wealth_products_fen: int = Field(default=0, ge=0)
    insurance_value_fen: int = Field(default=0, ge=0)  # commercial insurance's cash value
    provident_fund_fen: int = Field(default=0, ge=0)


class ReportFlag(Part):
    """Something a reviewer must see: a deceased or imprisoned member, a second property, a
    registered business, a registration outside the case's region, a provident fund balance."""

    kind: Literal["deceased", "imprisoned", "second_property", "business_registered",
                  "registered_elsewhere", "provident_fund"]
    person_ref: str | None = None  # None: the household's
    as_of: date | None = None
    source: str  # department:kind, or "report"


class SourceFreshness(Part):
    """How current one department's data about the household was when the report was made."""

    department: str
    records: int = Field(ge=0)
    oldest_as_of: date
    newest_as_of: date
    stale: bool  # some figure older than the department's freshness window


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
    # Why this report was made: the application, new partner data, or a periodic review.
    occasion: Literal["application", "partner_data", "periodic_review"] = "application"
    # Added after the first release (older reports have none).
    flags: list[ReportFlag] = Field(default_factory=list)
    sources: list[SourceFreshness] = Field(default_factory=list)


# The occasions on which verification may not check a household (the application, a periodic
# review), and why: only the consent missing (授权核对) so far.
WithheldOccasion = Literal["application", "periodic_review"]


@register
class VerificationWithheld(Event):
    """Verification may not check the household, and says why instead of reporting: by a
    ``reason`` code (``consent_missing``: an adult member has not signed the consent to the check
    of their data, 授权核对 — an application's, or a child come of age since it, at a periodic
    review) and the members concerned, by reference. No partner data was looked at. Approval
    hands the case to the town (an application back at its window, a review in its queue), and
    its ``ConsentRecorded`` has the check run again."""

    type = "onedoor.verification.withheld"
    version = 1
    topic = topics.VERIFICATIONS

    reason: Literal["consent_missing"]
    occasion: WithheldOccasion
    member_refs: list[str] = Field(min_length=1)  # who must sign, in the form's order
    withheld_at: datetime
