"""Every event type OneDoor publishes, one Pydantic model each.

Money is integer fen. Persons appear only as pseudonymous references (``person_ref``), never by
name or resident ID number: this log is kept for years and replayed by auditors.

No text a person typed is published either (issue 21): staff notes, objections, survey findings,
justifications and partner departments' answers can hold anything — a phone number, an ID number
read out at the window — and the archive keeps every event forever. The service that owns such
text keeps it (approval's ``GET /cases/{id}``, for those entitled to the case) and its events say
only that there is some (``has_note``). Text that code composes from codes and figures (a rule's
detail, a composed reason) may travel. Events archived before this carried the text: their old
fields are still read, and dropped on the way in (``_without_typed_text``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import topics
from shared.events.base import Event, register
from shared.monitoring_reasons import (
    LEGACY_DOC,
    PARAMS_DOC,
    ReasonCode,
    ReasonParams,
    check_reason,
    legacy_reason,
)

IncomeKind = Literal["wage", "pension", "business", "property", "transfer", "other"]
# 低保, 特困, 低保边缘, 临时救助, 残疾人两项补贴, 孤儿和事实无人抚养儿童 (see DOMAIN.md §3)
Programme = Literal["dibao", "tekun", "marginal", "temporary", "disability", "orphan"]
ReferralKind = Literal["medical", "education", "housing", "employment"]
SelfCare = Literal["full", "partial", "none"]  # 生活自理能力: 全自理 / 半自理 / 全护理
# One parent's situation, for the orphans' and de-facto unsupported children's allowance: the
# situations 民发〔2019〕62号 and 民发〔2020〕125号 name (services/approval/policies/orphan.toml).
ParentSituation = Literal[
    "present",  # 在世, none of the situations below
    "deceased",  # 死亡 (or declared dead, 宣告死亡)
    "missing",  # 宣告失踪 (declared missing by a court)
    "severely_disabled",  # 重残
    "seriously_ill",  # 重病
    "imprisoned",  # 服刑在押
    "compulsory_isolation",  # 强制隔离戒毒
    "restricted_liberty",  # 被执行其他限制人身自由的措施
    "lost_contact",  # 失联 (no contact and no care for 6 months or more)
    "guardianship_revoked",  # 被撤销监护资格
    "deported",  # 被遣送(驱逐)出境
]
ChildCare = Literal["institution", "family"]  # 集中养育 (welfare institution) / 社会散居
Schooling = Literal["not_in_school", "in_school", "entering_university"]  # 在校就读 / 考入大学
Relation = Literal[
    "applicant", "spouse", "child", "parent", "sibling", "grandchild", "grandparent", "other"
]
Month = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]  # "YYYY-MM"
PaymentKind = Literal["monthly", "one_off", "batch", "back_pay"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _without_typed_text(data: Any, *fields: str) -> tuple[Any, bool]:
    """Data of an event archived before issue 21 without its typed-text ``fields`` (their text is
    never read again: the owning service keeps it), and whether any of them held some."""
    if not isinstance(data, dict) or not any(f in data for f in fields):
        return data, False
    data = dict(data)
    held = [data.pop(f) for f in fields if f in data]
    return data, any(isinstance(t, str) and t.strip() for t in held)


# The staff's decision reason used to quote the staff's note after this prefix's colon.
STAFF_DECISION = "staff_decision"
NOTE_ON_FILE = "note on file"


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


class SupporterFacts(_Part):
    """A legal supporter (法定赡养、抚养、扶养义务人) outside the household, and whether able to
    support; for the extreme-hardship test."""

    relation: Relation
    able_to_support: bool


class TemporaryRequest(_Part):
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


class KindIncome(_Part):
    """One kind of a member's income: declared, recorded by partners, and counted (the larger),
    with where the figures came from ("declared", department:kind)."""

    kind: IncomeKind
    declared_fen: int = Field(ge=0)
    recorded_fen: int = Field(ge=0)
    counted_fen: int = Field(ge=0)
    sources: list[str] = Field(default_factory=list)


class MemberIncome(_Part):
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


class AssetSummary(_Part):
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int
    # Financial assets beside deposits (金融资产), and the housing provident fund's balance,
    # each apart so that the assessment shows each with its source; reports before issue 22
    # have none.
    wealth_products_fen: int = Field(default=0, ge=0)
    insurance_value_fen: int = Field(default=0, ge=0)  # commercial insurance's cash value
    provident_fund_fen: int = Field(default=0, ge=0)


class ReportFlag(_Part):
    """Something a reviewer must see: a deceased or imprisoned member, a second property, a
    registered business, a registration outside the case's region, a provident fund balance."""

    kind: Literal["deceased", "imprisoned", "second_property", "business_registered",
                  "registered_elsewhere", "provident_fund"]
    person_ref: str | None = None  # None: the household's
    as_of: date | None = None
    source: str  # department:kind, or "report"


class SourceFreshness(_Part):
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


@register
class ConsentRecorded(Event):
    """The town recorded the signed consent that verification withheld its check for (approval's
    ``POST /cases/{id}/consent``): verification marks these members' consent and checks the
    household again, for the same occasion."""

    type = "onedoor.consent.recorded"
    version = 1
    topic = topics.DECISIONS

    occasion: WithheldOccasion
    member_refs: list[str] = Field(min_length=1)
    signed_on: date
    recorded_by_role: Literal["window_clerk", "town_reviewer"]  # never who, never a name
    recorded_at: datetime


class PolicyParameter(_Part):
    """One policy figure a rule used: its value, the region that set it and from when."""

    name: str
    value: int
    region: str
    effective_from: str  # YYYY-MM-DD
    source: str
    default: bool = False  # not a seed fact: a placeholder the region must set


class DecisionReason(_Part):
    """One rule the decision applied: whether it passed, why, and the figures it used."""

    rule: str
    passed: bool
    detail: str
    figures: dict[str, str] = Field(default_factory=dict)  # inputs, as the reviewer reads them
    label_zh: str = ""
    parameters: list[PolicyParameter] = Field(default_factory=list)


class Benefit(_Part):
    """One amount a decision grants: monthly from the start month, or once."""

    kind: Literal["dibao", "dibao_classified", "tekun_basic", "tekun_care",
                  "disability_living", "disability_nursing", "temporary", "recognition",
                  "orphan_institution", "orphan_family", "orphan_de_facto", "orphan_university"]
    person_ref: str | None = None  # the member it is for, when it is for one member
    monthly_amount_fen: int = Field(default=0, ge=0)
    one_off_amount_fen: int = Field(default=0, ge=0)


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
    town_code: str | None = Field(default=None, pattern=r"^[0-9]{9}$")  # as in the application
    monthly_amount_fen: int = Field(ge=0)
    start_month: Month | None
    policy_version: str | None
    reasons: list[DecisionReason]
    decided_at: datetime
    one_off_amount_fen: int = Field(default=0, ge=0)
    benefits: list[Benefit] = Field(default_factory=list)
    member_refs: list[str] = Field(default_factory=list)
    decided_by: Literal["district", "town", "system"] = "system"
    # Temporary assistance paid ahead of verification (急难对象先行救助).
    advance: bool = False
    # "One case, one discussion" (一事一议): a justification of an amount above the normal
    # ceiling was recorded. Its text stays in approval (``GET /decisions/{case_id}``).
    has_justification: bool = False

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        """Before issue 21 the justification travelled, and the staff decision's reason quoted
        the staff's note after its colon: both are dropped here."""
        data, justified = _without_typed_text(data, "justification")
        if justified:
            data["has_justification"] = True
        if isinstance(data, dict) and isinstance(data.get("reasons"), list):
            data = {**data, "reasons": [_staff_reason_without_note(r) for r in data["reasons"]]}
        return data


def _staff_reason_without_note(reason: Any) -> Any:
    if isinstance(reason, dict) and reason.get("rule") == STAFF_DECISION \
            and ":" in str(reason.get("detail", "")):
        who = str(reason["detail"]).split(":", 1)[0]
        return {**reason, "detail": f"{who} ({NOTE_ON_FILE})"}
    return reason


Stage = Literal[
    "awaiting_report",  # submitted; waiting for the verification report
    "awaiting_review",  # pre-assessed; the town reviews (镇街审核)
    "returned",  # returned to the window for more information
    "under_notice",  # public notice posted (公示)
    "awaiting_approval",  # the district (or the town, where delegated) approves (审批)
    "approved",
    "rejected",
    "advance_paid",  # emergency advance approved before verification (先行救助)
    "follow_up",  # an advance's later verification failed: staff must follow up
    "exiting",  # gradual exit (渐退): benefit continues until an end month
    "suspended",
    "terminated",
]


@register
class CaseStageChanged(Event):
    """A case moved from one workflow stage to another. ``sequence`` counts a case's changes
    from 1, so a reader can keep the latest whatever order topics deliver in."""

    type = "onedoor.case.stage_changed"
    version = 1
    topic = topics.DECISIONS

    sequence: int = Field(ge=1)
    from_stage: Stage | None
    to_stage: Stage
    action: str
    actor: str  # staff id and role ("town_reviewer:t-017"), or "system"
    # The acting staff wrote a note (a reason, an objection, a resolution); approval keeps it,
    # as this change of its ``GET /cases/{id}`` history.
    has_note: bool = False
    # What approval's code says of the change, composed from the assessment's figures (never
    # text a person typed): "eligible: 405.00 yuan/month", "not eligible: ...".
    explanation: str | None = None
    due_at: datetime | None = None  # the stage's time limit, when it has one
    changed_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        """Before issue 21 ``note`` held both: the system's composed text, and staff's own."""
        if isinstance(data, dict) and data.get("actor") == "system" and "note" in data:
            data = {**data, "explanation": data.get("explanation") or data["note"]}
            del data["note"]
            return data
        data, noted = _without_typed_text(data, "note")
        if noted:
            data["has_note"] = True
        return data


@register
class CaseAssessed(Event):
    """The automatic pre-assessment (or a reassessment) of a case, with its full trace."""

    type = "onedoor.case.assessed"
    version = 1
    topic = topics.DECISIONS

    assessment_id: str
    report_id: str | None
    eligible: bool | None  # None: cannot be decided automatically (e.g. no policy in force)
    programme: Programme
    region_code: str
    monthly_amount_fen: int = Field(ge=0)
    one_off_amount_fen: int = Field(ge=0)
    benefits: list[Benefit]
    policy_version: str | None
    reasons: list[DecisionReason]
    assessed_on: str  # YYYY-MM-DD, the policy date
    assessed_at: datetime


@register
class BenefitChanged(Event):
    """A running benefit changes: gradual exit, suspension, resumption, termination, amount."""

    type = "onedoor.benefit.changed"
    version = 1
    topic = topics.DECISIONS

    change: Literal["gradual_exit", "suspended", "resumed", "terminated", "amount_changed"]
    programme: Programme
    beneficiary_ref: str
    effective_month: Month  # first month the change applies to
    end_month: Month | None = None  # gradual exit: the last month still paid
    monthly_amount_fen: int = Field(ge=0)  # the monthly amount from effective_month
    # Composed by approval's code: the reassessment's figures, or which staff action it was
    # (the staff's own reason is the stage change's note, kept in approval).
    reason: str
    changed_at: datetime


@register
class HouseholdRecognised(Event):
    """A household was recognised in a status other departments' assistance follows (e.g.
    marginal low-income, 低保边缘家庭)."""

    type = "onedoor.household.recognised"
    version = 1
    topic = topics.DECISIONS

    status: Literal["dibao", "tekun", "marginal"]
    region_code: str
    member_refs: list[str]
    valid_from: Month
    recognised_at: datetime


@register
class ReassessmentRequested(Event):
    """Approval asks verification for a fresh report on a recipient (periodic review)."""

    type = "onedoor.reassessment.requested"
    version = 1
    topic = topics.DECISIONS

    occasion: Literal["periodic_review"]
    requested_at: datetime


@register
class HomeSurveyRecorded(Event):
    """A home survey (入户调查) of the case was recorded at the town, on the social worker's
    phone (issue 26). Codes and counts only: what the surveyors typed and the photos they took
    stay in approval (``GET /cases/{id}``: ``home_surveys``, and its photos for those entitled
    to the case). ``survey_id`` is approval's reference to the whole record."""

    type = "onedoor.survey.recorded"
    version = 1
    topic = topics.DECISIONS

    survey_id: str
    surveyed_on: date
    # What was seen against the application: as_declared | differs | could_not_verify.
    outcome: Literal["as_declared", "differs", "could_not_verify"]
    housing_tenure: Literal["owned", "rented", "public_rental", "borrowed", "self_built",
                            "other"]
    housing_state: Literal["sound", "ordinary", "poor", "dangerous"]  # dangerous: 危房
    members_living: int = Field(ge=0)
    members_present: int = Field(ge=0)
    able_to_work: int = Field(ge=0)
    partly_able: int = Field(ge=0)
    unable_to_work: int = Field(ge=0)
    cars: int = Field(ge=0)
    motorcycles: int = Field(ge=0)
    # The checklist's yes items, as approval's domain/survey.py names them.
    items: list[Literal["tv", "fridge", "washing_machine", "air_conditioner", "computer",
                        "water_heater", "luxury_goods", "food_clothing_secure",
                        "serious_illness", "disability", "student", "business_activity",
                        "livestock_or_land"]]
    photos: int = Field(ge=0)  # how many photos of documents approval keeps with it
    has_notes: bool = False  # the surveyors wrote notes; approval keeps them
    recorded_by_role: Literal["social_worker", "town_reviewer"]  # never who, never a name
    recorded_at: datetime


Tier = Literal["yellow", "orange", "red"]
WarningOutcome = Literal["assisted", "reassessed", "referred", "no_change", "unreachable"]
LeadOutcome = Literal["applied", "assisted_otherwise", "not_in_need", "declined", "unreachable"]
# What the department that owns a lead's record answered when asked who the lead is.
PersonLookupOutcome = Literal["resolved", "not_found", "department_unavailable"]


@register
class EarlyWarningRaised(Event):
    """Partner data or repeated assistance signals hardship in a watched household (预警)."""

    type = "onedoor.warning.raised"
    version = 1
    topic = topics.MONITORING

    warning_id: str
    region_code: str
    town_code: str | None
    indicator: str  # verification's domain.monitoring.INDICATORS
    tier: Tier
    cause: str  # the fact that raised it; one warning per case and cause
    # Why, as a code and its figures (shared/monitoring_reasons.py renders them in the reader's
    # language); ``reason`` is the "中文 | English" text of warnings raised before issue 26,
    # read from the archive and never written again.
    reason_code: ReasonCode
    reason_params: ReasonParams = Field(default_factory=dict, description=PARAMS_DOC)
    reason: str | None = Field(default=None, description=LEGACY_DOC)
    person_ref: str | None
    raised_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        return legacy_reason(data)

    @model_validator(mode="after")
    def _params_fit_the_code(self) -> EarlyWarningRaised:
        check_reason(self.reason_code, self.reason_params, self.reason)
        return self


@register
class EarlyWarningClosed(Event):
    type = "onedoor.warning.closed"
    version = 1
    topic = topics.MONITORING

    warning_id: str
    outcome: WarningOutcome
    closed_by: str  # the staff id
    closed_at: datetime


@register
class DiscoveryLeadRaised(Event):
    """Someone who has not applied shows signs of hardship (主动发现). A lead has no case yet:
    ``case_id`` is the lead's own id, so its events keep their order on one partition."""

    type = "onedoor.lead.raised"
    version = 1
    topic = topics.MONITORING

    lead_id: str
    person_ref: str
    region_code: str
    town_code: str
    kind: str
    reason_code: ReasonCode  # as EarlyWarningRaised's
    reason_params: ReasonParams = Field(default_factory=dict, description=PARAMS_DOC)
    reason: str | None = Field(default=None, description=LEGACY_DOC)
    raised_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        return legacy_reason(data)

    @model_validator(mode="after")
    def _params_fit_the_code(self) -> DiscoveryLeadRaised:
        check_reason(self.reason_code, self.reason_params, self.reason)
        return self


@register
class DiscoveryLeadClosed(Event):
    type = "onedoor.lead.closed"
    version = 1
    topic = topics.MONITORING

    lead_id: str
    outcome: LeadOutcome
    application_case_id: str | None  # the application it led to, when it did
    closed_by: str
    closed_at: datetime


@register
class DiscoveryLeadPersonLookedUp(Event):
    """A case worker asked the department that owns a lead's record who the lead is (issue 26),
    whatever it answered. Ids and codes only: the reason the worker typed and the person the
    department named stay out of every event (the reason is kept in verification, for
    auditors; the person is shown to the worker once and kept nowhere)."""

    type = "onedoor.lead.person_looked_up"
    version = 1
    topic = topics.MONITORING

    lookup_id: str
    lead_id: str
    region_code: str
    town_code: str
    department: str  # the department asked: the owner of the lead's evidence
    outcome: PersonLookupOutcome
    looked_up_by: str  # the staff id
    role: Literal["town_reviewer", "district_approver"]
    looked_up_at: datetime


@register
class ReferralRequested(Event):
    """A case asks another department for its own assistance (专项救助)."""

    type = "onedoor.referral.requested"
    version = 1
    topic = topics.REFERRALS

    referral_id: str
    kind: ReferralKind
    region_code: str
    member_refs: list[str]
    requested_at: datetime


@register
class ReferralAnswered(Event):
    """The department a referral went to answered it."""

    type = "onedoor.referral.answered"
    version = 1
    topic = topics.REFERRALS

    referral_id: str
    kind: ReferralKind
    outcome: Literal["granted", "declined", "in_progress"]
    amount_fen: int = Field(default=0, ge=0)
    # The department wrote a note; approval keeps it with the referral (``GET /cases/{id}``).
    has_note: bool = False
    answered_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        data, noted = _without_typed_text(data, "note")
        if noted:
            data["has_note"] = True
        return data


@register
class PaymentScheduled(Event):
    """Payment scheduled a household's payment for one programme and month."""

    type = "onedoor.payment.scheduled"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month  # the month a monthly payment is for; the month of a one-off payment
    # monthly; one_off (temporary assistance, emergency advances); batch (a subsidy to a whole
    # population, such as the price-linked subsidy: its programme is the recipient's); back_pay
    # (补发: the difference for a month already paid, when a change raised what it is due —
    # ``period`` is that month). Added with back pay: older records have the first three only.
    kind: PaymentKind = "monthly"
    amount_fen: int = Field(gt=0)
    beneficiary_ref: str
    region_code: str
    scheduled_at: datetime
    run_id: str | None = None  # the monthly cycle or batch that made it
    reissue_of: str | None = None  # the failed payment this one pays again
    # A back pay's reckoning: the month's total it brings the payments to (what payment saw the
    # case entitled to when it paid). An auditor checks the arithmetic against the payments
    # before it, and that the decisions did entitle the month to it — even when a later change,
    # not yet heard by payment, entitles the month to another amount by then. Absent on the
    # other kinds, and on back pay scheduled before it was added.
    tops_up_to_fen: int | None = Field(default=None, gt=0)


@register
class PaymentHeld(Event):
    """Payment's last guard stopped a payment (e.g. the yearly temporary-assistance cap would be
    exceeded): it is recorded, not sent, and a person must look."""

    type = "onedoor.payment.held"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month
    kind: PaymentKind
    amount_fen: int = Field(gt=0)
    reason: str
    held_at: datetime


@register
class PaymentSettled(Event):
    """A bank's answer for one payment: paid, or failed with the bank's reason (never the
    account). A failed payment goes back to the town to correct the account."""

    type = "onedoor.payment.settled"
    version = 1
    topic = topics.PAYMENTS

    payment_id: str
    programme: Programme
    period: Month
    kind: PaymentKind
    amount_fen: int = Field(gt=0)
    outcome: Literal["paid", "failed"]
    # Which kind of refusal (payment's domain/failures.py); the bank's own words, which may name
    # the holder, stay in payment with the payment (``GET /cases/{id}/payments``).
    reason_code: Literal["account_closed", "no_such_account", "name_mismatch", "account_frozen",
                         "other"] | None = None
    bank_file_id: str
    settled_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        # Archived before the words stayed in payment: read as a refusal of another kind.
        data, said = _without_typed_text(data, "reason")
        if said and isinstance(data, dict) and data.get("reason_code") is None:
            data["reason_code"] = "other"
        return data


# Every policy publication is keyed by this one pseudo-case id, so that all of them share a
# partition and are read in the order they were published.
POLICY_KEY = "policy"


@register
class PolicyPublished(Event):
    """A policy figure's new version, proposed by one policy officer and approved by another
    (four eyes), is published by approval: from ``effective_from`` it decides in its region.

    The source document and the reason are text an officer typed: approval keeps them
    (``GET /policy/history``). ``case_id`` is always ``POLICY_KEY``. An auditor's replay rebuilds
    each decision's policy from the packaged files and these events, in ``sequence`` order.
    """

    type = "onedoor.policy.published"
    version = 1
    topic = topics.POLICY

    proposal_id: str
    sequence: int = Field(ge=1)  # publication order, from 1, across every region
    name: str
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    effective_from: date
    value: int = Field(ge=0)
    replaces_value: int | None = None  # the figure in force on effective_from before this
    proposed_by: str  # staff ids ("policy_officer:p-002"), never names
    approved_by: str
    policy_version: str  # approval's policy digest once this is published
    published_at: datetime
