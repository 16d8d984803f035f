"""The request and response bodies of intake's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from services.intake.domain.model import Application, DeclaredIncome, Member
from services.intake.domain.region import region_problem
from services.intake.domain.resident_id import InvalidResidentId, parse_resident_id
from shared import clock


class DeclaredIncomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["wage", "pension", "business", "property", "transfer", "other"]
    monthly_amount_fen: StrictInt = Field(ge=0, le=10_000_000_00,
                                          description="Monthly amount in fen (1 yuan = 100 fen)")


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    resident_id: str = Field(description="18-character resident ID number (GB 11643)")
    relation: Literal["applicant", "spouse", "child", "parent", "sibling", "grandchild",
                      "grandparent", "other"]
    declared_incomes: list[DeclaredIncomeIn] = Field(default_factory=list, max_length=20)
    consent_signed_on: date | None = Field(
        default=None, description="Date this member signed the consent to verification; "
                                  "required for every adult")

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


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "region_code": "330282", "programme": "dibao",
        "members": [{"name": "王秀英", "resident_id": "330282195803150024",
                     "relation": "applicant", "consent_signed_on": "2026-11-20",
                     "declared_incomes": [{"kind": "pension", "monthly_amount_fen": 60000}]}]}})
    region_code: str = Field(description="6-digit county-level region code, e.g. 330282 (Cixi)")
    programme: Literal["dibao"]
    members: list[MemberIn] = Field(min_length=1, max_length=30)

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
                )
                for m in self.members
            ),
        )


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


class TimelineEntry(BaseModel):
    at: datetime
    event_type: str
    summary: str


class CaseOut(BaseModel):
    case_id: str
    status: str
    region_code: str
    programme: str
    submitted_at: datetime
    updated_at: datetime
    members: list[MemberOut]
    decision: dict[str, Any] | None
    timeline: list[TimelineEntry]
