"""The request and response bodies of intake's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from services.intake.domain.model import (
    DESCRIPTION_MAX_CHARS,
    Application,
    DeclaredIncome,
    LegalSupporter,
    Member,
    TemporaryRequest,
)
from services.intake.domain.region import region_problem
from shared import clock
from shared.events.catalogue import (
    ChildCare,
    ParentSituation,
    Programme,
    ReferralKind,
    Relation,
    Schooling,
    SelfCare,
)
from shared.inputs import FreeText, TextLine
from shared.resident_id import InvalidResidentId, parse_resident_id

CareMode = Literal["home", "centralised"]
# Far above any one-off grant (Qingdao's yearly cap per household is 30,000 yuan, and "one case,
# one discussion" goes above it), low enough to catch a yuan amount typed in fen twice over.
MAX_TEMPORARY_REQUEST_FEN = 100_000_000  # 1,000,000 yuan
MAX_SPENDING_FEN = 10_000_000_00  # as for incomes


class DeclaredIncomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["wage", "pension", "business", "property", "transfer", "other"]
    monthly_amount_fen: StrictInt = Field(ge=0, le=10_000_000_00,
                                          description="Monthly amount in fen (1 yuan = 100 fen)")


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: TextLine = Field(min_length=1, max_length=50)
    resident_id: str = Field(description="18-character resident ID number (GB 11643)")
    relation: Relation
    declared_incomes: list[DeclaredIncomeIn] = Field(default_factory=list, max_length=20)
    consent_signed_on: date | None = Field(
        default=None, description="Date this member signed the consent to verification; "
                                  "required for every adult")
    disability_grade: StrictInt | None = Field(
        default=None, ge=1, le=4, description="Disability grade (残疾等级) from the disability "
                                              "certificate, 1 most severe")
    able_to_work: StrictBool | None = Field(default=None, description="Able to work (劳动能力)")
    self_care: SelfCare | None = Field(
        default=None, description="Ability to look after oneself (生活自理能力); required for the "
                                  "applicant of extreme-hardship support")
    father: ParentSituation | None = Field(
        default=None, description="Orphans' allowance only: the father's situation (父亲情况), "
                                  "from certificates; required with mother and child_care")
    mother: ParentSituation | None = Field(
        default=None, description="Orphans' allowance only: the mother's situation (母亲情况)")
    child_care: ChildCare | None = Field(
        default=None, description="Orphans' allowance only: 集中养育 institution or 社会散居 "
                                  "family")
    schooling: Schooling | None = Field(
        default=None, description="Orphans' allowance only: in full-time school (在校就读), or "
                                  "admitted to university this year (考入大学)")

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    @field_validator("resident_id")
    @classmethod
    def _valid_resident_id(cls, v: str) -> str:
        try:
            return parse_resident_id(v, today=clock.today()).number
        except InvalidResidentId as exc:
            raise ValueError(str(exc)) from exc


class LegalSupporterIn(BaseModel):
    """A legal supporter outside the household: the relation only, never who it is."""

    model_config = ConfigDict(extra="forbid")
    relation: Relation
    able_to_support: StrictBool


class TemporaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["emergency", "spending"] = Field(description="急难型 emergency / 支出型 spending")
    requested_amount_fen: StrictInt = Field(gt=0, le=MAX_TEMPORARY_REQUEST_FEN)
    cause: Literal["accident", "illness", "disaster", "fire", "education", "other"]
    rigid_medical_spending_fen: StrictInt = Field(
        default=0, ge=0, le=MAX_SPENDING_FEN,
        description="Medical spending the household could not avoid, last 12 months")
    description: FreeText | None = Field(
        default=None, max_length=DESCRIPTION_MAX_CHARS,
        description="What happened, in the household's words; kept by intake, never published")

    @field_validator("description")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "region_code": "330282", "programme": "dibao",
        "members": [{"name": "王秀英", "resident_id": "330282195803150024",
                     "relation": "applicant", "consent_signed_on": "2026-11-20",
                     "declared_incomes": [{"kind": "pension", "monthly_amount_fen": 60000}]}]}})
    region_code: str = Field(description="6-digit county-level region code, e.g. 330282 (Cixi)")
    town_code: str | None = Field(
        default=None, pattern=r"^[0-9]{9}$",
        description="9-digit town or street code (乡镇/街道) within region_code, whose staff "
                    "handle the case; a town's clerk may leave it out: their own town is used")
    programme: Programme
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    legal_supporters: list[LegalSupporterIn] = Field(
        default_factory=list, max_length=20,
        description="Extreme hardship only: legal supporters outside the household")
    care_mode: CareMode | None = Field(
        default=None, description="Extreme hardship only: 分散 home or 集中 centralised care")
    temporary: TemporaryIn | None = Field(
        default=None, description="Temporary assistance only, and required there")
    referrals: list[ReferralKind] = Field(
        default_factory=list, max_length=4,
        description="Other departments' assistance the household also asks for (专项救助)")

    @field_validator("region_code")
    @classmethod
    def _county_level_region(cls, v: str) -> str:
        # Checked here as well as in the domain so that one 422 names every bad field.
        problem = region_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    def to_domain(self) -> Application:
        today = clock.today()
        return Application(
            region_code=self.region_code,
            town_code=self.town_code,
            programme=self.programme,
            submitted_on=today,
            members=tuple(
                Member(
                    name=m.name,
                    resident_id=parse_resident_id(m.resident_id, today=today),
                    relation=m.relation,
                    declared_incomes=tuple(DeclaredIncome(i.kind, i.monthly_amount_fen)
                                           for i in m.declared_incomes),
                    consent_signed_on=m.consent_signed_on,
                    disability_grade=m.disability_grade,
                    able_to_work=m.able_to_work,
                    self_care=m.self_care,
                    father=m.father,
                    mother=m.mother,
                    child_care=m.child_care,
                    schooling=m.schooling,
                )
                for m in self.members
            ),
            legal_supporters=tuple(LegalSupporter(s.relation, s.able_to_support)
                                   for s in self.legal_supporters),
            care_mode=self.care_mode,
            temporary=None if self.temporary is None else TemporaryRequest(
                kind=self.temporary.kind,
                requested_amount_fen=self.temporary.requested_amount_fen,
                cause=self.temporary.cause,
                rigid_medical_spending_fen=self.temporary.rigid_medical_spending_fen,
                description=self.temporary.description,
            ),
            referrals=tuple(self.referrals),
        )

    def fingerprint(self) -> dict[str, Any]:
        """The request as its Idempotency-Key remembers it. Fields added since the key store began
        are left out while they hold their defaults, so that a retry of a request sent before they
        existed still matches its key."""
        body = self.model_dump(mode="json")
        for key, default in _ADDED_FIELDS.items():
            if body.get(key) == default:
                del body[key]
        for member in body["members"]:
            for key, default in _ADDED_MEMBER_FIELDS.items():
                if member.get(key) == default:
                    del member[key]
        return body


_ADDED_FIELDS: dict[str, Any] = {"legal_supporters": [], "care_mode": None, "temporary": None,
                                 "referrals": [], "town_code": None}
_ADDED_MEMBER_FIELDS: dict[str, Any] = {"disability_grade": None, "able_to_work": None,
                                        "self_care": None, "father": None, "mother": None,
                                        "child_care": None, "schooling": None}


class CaseCreated(BaseModel):
    case_id: str
    status: str


class MemberOut(BaseModel):
    name: str
    resident_id_masked: str
    relation: str
    birth_date: date
    sex: str
    declared_incomes: list[dict[str, Any]]
    consent_signed_on: date | None
    disability_grade: int | None = None
    able_to_work: bool | None = None
    self_care: str | None = None
    father: str | None = None
    mother: str | None = None
    child_care: str | None = None
    schooling: str | None = None


class LegalSupporterOut(BaseModel):
    relation: str
    able_to_support: bool


class TemporaryOut(BaseModel):
    kind: str
    requested_amount_fen: int
    cause: str
    rigid_medical_spending_fen: int
    description: str | None


class TimelineEntry(BaseModel):
    at: datetime
    event_type: str
    summary: str


class CaseOut(BaseModel):
    case_id: str
    status: str
    region_code: str
    town_code: str | None = None
    programme: str
    submitted_at: datetime
    updated_at: datetime
    members: list[MemberOut]
    legal_supporters: list[LegalSupporterOut]
    care_mode: str | None
    temporary: TemporaryOut | None
    referrals: list[str]
    decision: dict[str, Any] | None
    timeline: list[TimelineEntry]
