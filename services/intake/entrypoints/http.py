"""Intake's HTTP API: the service window submits applications and asks where a case is."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.intake.adapters.repository import CaseRepository
from services.intake.adapters.tables import cases
from services.intake.domain.model import InvalidApplication
from services.intake.entrypoints.schemas import (
    ApplicationIn,
    CaseCreated,
    CaseOut,
    LegalSupporterOut,
    MemberOut,
    TemporaryOut,
)
from services.intake.service_layer import commands
from shared.auth.dependencies import access_log, check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.http import CheckedRoute
from shared.pseudonym import person_ref
from shared.service import Runtime
from shared.sql import within

router = APIRouter(route_class=CheckedRoute, tags=["applications"])
Clerk = Annotated[Principal, Depends(require("case.submit"))]
Reader = Annotated[Principal, Depends(require("case.read"))]
Searcher = Annotated[Principal, Depends(require("case.search"))]


def _unprocessable(exc: InvalidApplication) -> HTTPException:
    # The same shape FastAPI gives for schema errors, so a client handles both one way.
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
        {"type": "value_error", "loc": ["body", *p.path], "msg": p.reason}
        for p in exc.problems])


@router.post("/applications", status_code=status.HTTP_201_CREATED, response_model=CaseCreated,
             summary="Submit a household's application (申请受理)")
async def submit_application(
    body: ApplicationIn,
    rt: Runtime,
    request: Request,
    response: Response,
    who: Clerk,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseCreated:
    """Registers the application and answers with its case id.

    Send an ``Idempotency-Key`` header to make retries safe: the same key with the same body
    answers with the original case; the same key with a different body is refused (409). Keys
    are the caller's own: a key someone else used is, to you, a new key.
    A clerk takes applications for their own town or district only (403 otherwise); a town's
    clerk who sends no ``town_code`` takes it for their own town.
    """
    request_hash = hashlib.sha256(
        json.dumps(body.fingerprint(), sort_keys=True).encode()).hexdigest()
    if body.town_code is None and len(who.jurisdiction) == 9:
        body = body.model_copy(update={"town_code": who.jurisdiction})
    check_jurisdiction(who, area_of(body.region_code, body.town_code), request=request)
    application = body.to_domain()
    try:
        case_id = await rt.commands.run(
            lambda uow_factory: commands.submit(
                uow_factory, application,
                pseudonym_key=rt.settings.pseudonym_key.get_secret_value().encode(),
                idempotency_key=idempotency_key, request_hash=request_hash, by=who))
    except InvalidApplication as exc:
        raise _unprocessable(exc) from exc
    except commands.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="Idempotency-Key was already used for a different application"
                            ) from exc
    response.headers["Location"] = f"/applications/{case_id}"
    return CaseCreated(case_id=case_id, status="submitted")


@router.get("/applications/{case_id}", response_model=CaseOut,
            summary="A case: status, decision and timeline (where is my case)")
def get_case(case_id: str, rt: Runtime, request: Request, who: Reader) -> CaseOut:
    with reading(rt.engine) as conn:
        found = CaseRepository(conn).get(case_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {case_id}")
    case = found["case"]
    check_jurisdiction(who, area_of(case["region_code"], case["town_code"]), request=request)
    return CaseOut(
        case_id=case["case_id"], status=case["status"], region_code=case["region_code"],
        town_code=case["town_code"],
        programme=case["programme"], submitted_at=case["submitted_at"],
        updated_at=case["updated_at"],
        decision=json.loads(case["decision"]) if case["decision"] else None,
        members=[
            MemberOut(name=m["name"],
                      resident_id_masked=m["resident_id"][:6] + "*" * 8 + m["resident_id"][-4:],
                      relation=m["relation"], birth_date=m["birth_date"], sex=m["sex"],
                      declared_incomes=json.loads(m["declared_incomes"]),
                      consent_signed_on=m["consent_signed_on"],
                      disability_grade=m["disability_grade"], able_to_work=m["able_to_work"],
                      self_care=m["self_care"], father=m["father"], mother=m["mother"],
                      child_care=m["child_care"], schooling=m["schooling"])
            for m in found["members"]
        ],
        legal_supporters=[LegalSupporterOut(**s) for s in json.loads(case["legal_supporters"])],
        care_mode=case["care_mode"],
        temporary=TemporaryOut(**json.loads(case["temporary"])) if case["temporary"] else None,
        referrals=json.loads(case["referrals"]),
        timeline=found["timeline"],
    )


@router.get("/applications", summary="Cases within your jurisdiction, newest first")
def list_cases(rt: Runtime, who: Reader,
               status_: Annotated[str | None, Query(alias="status", max_length=30)] = None,
               programme: Annotated[str | None, Query(max_length=30)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        rows = CaseRepository(conn).listed(
            within(who.jurisdiction, cases.c.region_code, cases.c.town_code),
            status=status_, programme=programme, limit=limit)
    return {"cases": rows}


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resident_id: str = Field(pattern=r"^[0-9]{17}[0-9Xx]$",
                             description="The person's 18-character resident ID number")


@router.post("/applications/search",
             summary="A person's cases within your jurisdiction, by resident ID number")
def search_by_person(body: SearchIn, rt: Runtime, who: Searcher) -> dict[str, Any]:
    """POST, not GET: an ID number must not sit in a URL that proxies and access logs keep.
    The search is logged by who asked and how many cases it found, never with the number."""
    ref = person_ref(rt.settings.pseudonym_key.get_secret_value().encode(), body.resident_id)
    with reading(rt.engine) as conn:
        rows = CaseRepository(conn).cases_of_person(
            ref, within(who.jurisdiction, cases.c.region_code, cases.c.town_code))
    access_log.info("person search by %s:%s found %d cases", who.role, who.subject, len(rows),
                    extra={"subject": who.subject, "role": str(who.role),
                           "permission": "case.search", "found": len(rows)})
    return {"person_ref": ref, "cases": rows}
