"""The events on ``onedoor.decisions``, written by approval: its case workflow (stage changes,
assessments, decisions, benefit changes, recognitions, periodic reviews, home surveys and the
consents verification waited for).

Apart because it is approval's contract with payment, intake and verification. A decision's
reasons carry the rules and policy figures they used (``DecisionReason``, ``PolicyParameter``),
so an auditor re-runs them; what staff typed stays in approval (``has_note``), and the
``_upcast`` validators drop the text that events archived before issue 21 still hold.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.events import topics
from shared.events.base import Event, register
from shared.events.verifications import WithheldOccasion
from shared.events.vocabulary import Month, Part, Programme, without_typed_text

# The staff's decision reason used to quote the staff's note after this prefix's colon.
STAFF_DECISION = "staff_decision"
NOTE_ON_FILE = "note on file"


class PolicyParameter(Part):
    """One policy figure a rule used: its value, the region that set it and from when."""

    name: str
    value: int
    region: str
    effective_from: str  # YYYY-MM-DD
    source: str
    default: bool = False  # not a seed fact: a placeholder the region must set


class DecisionReason(Part):
    """One rule the decision applied: whether it passed, why, and the figures it used."""

    rule: str
    passed: bool
    detail: str
    figures: dict[str, str] = Field(default_factory=dict)  # inputs, as the reviewer reads them
    label_zh: str = ""
    parameters: list[PolicyParameter] = Field(default_factory=list)


class Benefit(Part):
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
        data, justified = without_typed_text(data, "justification")
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
        data, noted = without_typed_text(data, "note")
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
