"""Verification's HTTP API: partner departments publish records (one by one in JSON, or in bulk
files: entrypoints/publications.py); staff read a case's report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.concurrency import run_in_threadpool

from services.verification.adapters.access import accesses
from services.verification.adapters.pending import PendingRepository
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.domain.partners import DEPARTMENT_KINDS, KINDS, SITUATIONS
from services.verification.domain.publication import (
    MAX_RECORD_ID,
    Rejected,
    Upsert,
    read_fields,
)
from services.verification.service_layer import partner_data, report_reads
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.events.catalogue import VerificationReported
from shared.http import CheckedRoute
from shared.service import Runtime, ServiceRuntime, current_runtime


def department_of(rt: ServiceRuntime, token: str) -> str | None:
    with reading(rt.engine) as conn:
        return PartnerRepository(conn).department_for_token(token)


def department(rt: Runtime, authorization: Annotated[str | None, Header()] = None) -> str:
    """The department whose credential signs the request (``Authorization: Bearer <token>``;
    the scheme's name in any case, as RFC 7235 has it and the staff APIs take it)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Bearer token required",
                            headers={"WWW-Authenticate": "Bearer"})
    found = department_of(rt, token.strip())
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unknown credential",
                            headers={"WWW-Authenticate": "Bearer"})
    return found


async def _department_gate(request: Request) -> None:
    # The same check, made before a 422 (shared/http.py): a stranger learns nothing of a body.
    await run_in_threadpool(department, current_runtime(request),
                            request.headers.get("authorization"))


department.gate = _department_gate  # type: ignore[attr-defined]  # read by CheckedRoute


router = APIRouter(route_class=CheckedRoute)


class RecordIn(BaseModel):
    """A record. Its fields are judged by the code that judges a bulk file's lines
    (domain.publication.read_fields), so that both paths take and refuse the same records for
    the same reasons; only their names are checked here."""

    model_config = ConfigDict(extra="forbid")
    # Each field any value, documented as what it should be: read_fields judges it, with a
    # file's words.
    record_id: Annotated[Any, WithJsonSchema({
        "type": "string", "maxLength": MAX_RECORD_ID,
        "description": "The department's own id: sending it again replaces it"})]
    kind: Annotated[Any, WithJsonSchema({
        "type": "string", "examples": ["deposit"],
        "description": "A kind of the registry the department owns"})]
    resident_id: Annotated[Any, WithJsonSchema({
        "type": "string", "pattern": "^[0-9]{17}[0-9Xx]$",
        "description": "18-character resident ID number (GB 11643)"})]
    amount_fen: Annotated[Any, WithJsonSchema({
        "type": "integer", "minimum": 0,
        "description": "Monthly income, or value/balance, in fen; none (or 0) for a death or "
                       "an imprisonment"})] = None
    grade: Annotated[Any, WithJsonSchema({
        "type": "integer", "minimum": 1, "maximum": 4, "description": "For graded kinds"})] = None
    as_of: Annotated[Any, WithJsonSchema({"type": "string", "format": "date"})]
    town_code: Annotated[Any, WithJsonSchema({
        "type": "string", "pattern": "^[0-9]{9}$",
        "description": "The person's town of residence; required for large_medical_bill"})] = None
    situation: Annotated[Any, WithJsonSchema({
        "type": "string", "enum": list(SITUATIONS),
        "description": "A parent's situation, for father_situation and mother_situation (a "
                       "record about the child)"})] = None


class RecordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[RecordIn] = Field(min_length=1, max_length=10_000)

    @field_validator("records")
    @classmethod
    def _one_of_each_record_id(cls, records: list[RecordIn]) -> list[RecordIn]:
        seen: dict[str, int] = {}
        for i, record in enumerate(records):
            if not isinstance(record.record_id, str):
                continue  # read_fields refuses it
            record_id = record.record_id.strip()
            if record_id in seen:
                raise ValueError(f"records[{i}].record_id is sent twice "
                                 f"(also records[{seen[record_id]}])")
            seen[record_id] = i
        return records


@router.post("/partner-records", tags=["partners"],
             summary="A partner department publishes records (协同部门数据推送)")
def publish_records(body: RecordsIn, rt: Runtime, request: Request,
                    dept: Annotated[str, Depends(department)]) -> dict[str, Any]:
    """All records are stored, or none: a kind the department does not own refuses the batch.

    The answer says nothing of the reports the records caused: which persons receive assistance
    is none of a partner's business."""
    allowed = DEPARTMENT_KINDS.get(dept, frozenset())
    if refused := sorted({r.kind for r in body.records
                          if isinstance(r.kind, str) and r.kind in KINDS} - allowed):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail=f"{dept} may not publish {', '.join(refused)}")
    incoming = _judged(dept, body.records)
    try:
        with rt.uow() as uow:
            count = partner_data.publish_records(
                dept, incoming, uow,
                pseudonym_key=rt.settings.pseudonym_key.get_secret_value().encode(),
                monitoring=request.app.state.monitoring)
    except partner_data.KindNotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    return {"department": dept, "accepted": count}


def _judged(dept: str, records: list[RecordIn]) -> list[partner_data.IncomingRecord]:
    """Each record judged as a bulk file's line is; a 422 naming every record refused, and
    why (never what it held)."""
    incoming, problems = [], []
    for i, record in enumerate(records):
        # The number stays as it is here: the handler pseudonymises it, in the transaction.
        judged = read_fields(dept, i, record.model_dump(), pseudonymise=str)
        if isinstance(judged, Upsert):
            incoming.append(partner_data.IncomingRecord(
                record_id=judged.record_id, kind=judged.kind, resident_id=judged.person_ref,
                amount_fen=judged.amount_fen, as_of=judged.as_of, town_code=judged.town_code,
                grade=judged.grade, situation=judged.situation))
        else:
            assert isinstance(judged, Rejected)  # a record has no op: never a Delete
            field, _, reason = judged.reason.partition(": ")
            problems.append({"type": "value_error", "msg": reason if reason else field,
                             "loc": ["body", "records", i, *([field] if reason else [])]})
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problems)
    return incoming


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
    report_reads.log_report_read(rt.uow, VerificationReported.model_validate(body),
                                 actor=who.subject, role=str(who.role),
                                 town_code=area[1] if area else None)
    body["earlier_reports"] = [{"report_id": r.report_id, "occasion": r.occasion,
                                "reported_at": r.created_at.isoformat()} for r in earlier]
    return body
