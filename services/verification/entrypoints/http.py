"""Verification's HTTP API: partner departments publish records (one by one in JSON, or in bulk
files: entrypoints/publications.py); staff read a case's report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from services.verification.adapters.access import accesses, log_access
from services.verification.adapters.pending import PendingRepository
from services.verification.adapters.repository import (
    HouseholdRepository,
    PartnerRepository,
    ReportRepository,
)
from services.verification.domain.partners import KINDS
from services.verification.domain.publication import TOWN_REQUIRED
from services.verification.service_layer import handlers
from shared.auth import Principal, area_of, check_jurisdiction, require
from shared.db import reading
from shared.events.catalogue import VerificationReported
from shared.service import Runtime, ServiceRuntime


def department_of(rt: ServiceRuntime, token: str) -> str | None:
    with reading(rt.engine) as conn:
        return PartnerRepository(conn).department_for_token(token)


def department(rt: Runtime, authorization: Annotated[str | None, Header()] = None) -> str:
    """The department whose credential signs the request (``Authorization: Bearer <token>``)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Bearer token required",
                            headers={"WWW-Authenticate": "Bearer"})
    found = department_of(rt, authorization[7:].strip())
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unknown credential",
                            headers={"WWW-Authenticate": "Bearer"})
    return found


router = APIRouter()


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: str = Field(min_length=1, max_length=100,
                           description="The department's own id: sending it again replaces it")
    kind: Literal["wage", "pension", "unemployment_benefit", "vehicle", "real_estate",
                  "deposit", "death", "imprisonment", "large_medical_bill"]
    resident_id: str = Field(pattern=r"^[0-9]{17}[0-9Xx]$")
    amount_fen: StrictInt = Field(ge=0, le=10**15,
                                  description="Monthly income, or value/balance, in fen; 0 for "
                                              "a death or an imprisonment")
    as_of: date
    town_code: str | None = Field(default=None, pattern=r"^[0-9]{9}$",
                                  description="The person's town of residence; required for "
                                              "large_medical_bill")

    @model_validator(mode="after")
    def _as_the_kind_needs(self) -> RecordIn:
        # The same rules as a bulk file's lines (domain.publication), said as pydantic says them.
        if KINDS[self.kind].measure == "fact" and self.amount_fen:
            raise ValueError(f"amount_fen: {self.kind} carries no amount")
        if self.kind in TOWN_REQUIRED and self.town_code is None:
            raise ValueError(f"town_code: required for {self.kind}, the town of residence")
        return self


class RecordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[RecordIn] = Field(min_length=1, max_length=10_000)

    @field_validator("records")
    @classmethod
    def _one_of_each_record_id(cls, records: list[RecordIn]) -> list[RecordIn]:
        seen: dict[str, int] = {}
        for i, record in enumerate(records):
            if record.record_id in seen:
                raise ValueError(f"records[{i}].record_id {record.record_id!r} is sent twice "
                                 f"(also records[{seen[record.record_id]}])")
            seen[record.record_id] = i
        return records


@router.post("/partner-records", tags=["partners"],
             summary="A partner department publishes records (协同部门数据推送)")
def publish_records(body: RecordsIn, rt: Runtime, request: Request,
                    dept: Annotated[str, Depends(department)]) -> dict[str, Any]:
    """All records are stored, or none: a kind the department does not own refuses the batch.

    The answer says nothing of the reports the records caused: which persons receive assistance
    is none of a partner's business."""
    incoming = [handlers.IncomingRecord(record_id=r.record_id, kind=r.kind,
                                        resident_id=r.resident_id.upper(),
                                        amount_fen=r.amount_fen, as_of=r.as_of,
                                        town_code=r.town_code)
                for r in body.records]
    try:
        with rt.uow() as uow:
            count = handlers.publish_records(
                dept, incoming, uow,
                pseudonym_key=rt.settings.pseudonym_key.get_secret_value().encode(),
                monitoring=request.app.state.monitoring)
    except handlers.KindNotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    return {"department": dept, "accepted": count}


@router.get("/partner-data-access", tags=["reports"],
            summary="Who read which case's partner data, when (auditors, within jurisdiction)")
def partner_data_access(rt: Runtime, who: Annotated[Principal, Depends(require("audit.read"))],
                        case_id: Annotated[str | None, Query(max_length=40)] = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Newest first: each report verification built (actor ``verification``, the occasion as
    purpose) and each report a person read (``report_read``), with the departments' data it
    held."""
    with reading(rt.engine) as conn:
        return {"accesses": accesses(conn, who.jurisdiction, case_id=case_id, limit=limit)}


@router.get("/pending-reports", tags=["reports"],
            summary="Cases whose report waits for a live partner source, and why")
def pending_reports(rt: Runtime, who: Annotated[Principal, Depends(require("case.read"))],
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Oldest first: each case's occasion, attempts, next attempt and the sources missing at
    the last one with their reason. A case waits; it is never reported on part of the data."""
    with reading(rt.engine) as conn:
        return {"pending": PendingRepository(conn).page(who.jurisdiction, limit)}


@router.get("/reports/{case_id}", tags=["reports"], summary="A case's verification report")
def get_report(case_id: str, rt: Runtime, request: Request,
               who: Annotated[Principal, Depends(require("case.read"))]) -> dict[str, Any]:
    """The case's latest report (the VerificationReported event as published), and under
    ``earlier_reports`` the ones before it, oldest first."""
    with reading(rt.engine) as conn:
        area = HouseholdRepository(conn).area(case_id)
        if area is not None:
            check_jurisdiction(who, area_of(*area), request=request)
        found = ReportRepository(conn).of_case(case_id)
        pending = PendingRepository(conn).get(case_id)
    if not found:
        waiting = "" if pending is None else (
            f"; it waits for live partner sources ({pending.missing or 'not asked yet'})")
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"no report for case {case_id}{waiting}")
    *earlier, latest = found
    body: dict[str, Any] = json.loads(latest.body)
    # Reading a report is reading partner data: logged, with the departments it holds.
    with rt.uow() as uow:
        log_access(uow.conn, [{
            "at": datetime.now(UTC), "actor": who.subject, "role": str(who.role),
            "purpose": "report_read", "case_id": case_id, "region_code": body["region_code"],
            "town_code": area[1] if area else None,
            "sources": handlers.report_sources(VerificationReported.model_validate(body))}])
        uow.commit()
    body["earlier_reports"] = [{"report_id": r.report_id, "occasion": r.occasion,
                                "reported_at": r.created_at.isoformat()} for r in earlier]
    return body
