"""Intake's identity lookup for auditors: a pseudonym in, the person out, every ask logged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists

from services.intake.adapters.tables import cases, identity_lookups, members
from services.intake.service_layer import identities
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import FreeText
from shared.service import Runtime
from shared.sql import within

router = APIRouter(route_class=CheckedRoute, tags=["audit"])


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_ref: str = Field(pattern=r"^p-[0-9a-f]{16,64}$")
    reason: FreeText = Field(min_length=10, max_length=500,
                        description="Why this person must be known: kept with the lookup")


@router.post("/identity-lookups", summary="Who a pseudonym is (auditors; logged)",
              responses={404: {"description": "No person with this reference"}})
def look_up(body: LookupIn, request: Request, rt: Runtime,
            who: Annotated[Principal, Depends(require("identity.lookup"))]) -> dict[str, Any]:
    """POST, not GET: the lookup is itself a record, and neither the reference nor the reason
    belongs in a URL that proxies log."""
    try:
        with rt.uow() as uow:
            found = identities.identify(uow, body.person_ref, body.reason, subject=who.subject,
                                        role=str(who.role), covers=who.covers)
    except identities.OutsideJurisdiction as outside:
        check_jurisdiction(who, outside.region, request=request)  # refuses, and logs it
        raise
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no person with this reference")
    return {"person_ref": found.person_ref, "name": found.name,
            "resident_id": found.resident_id, "cases": found.cases}


@router.get("/identity-lookups",
            summary="Identity lookups of persons within your jurisdiction, newest first "
                    "(auditors)")
def list_lookups(rt: Runtime, who: Annotated[Principal, Depends(require("audit.read"))],
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """A lookup is listed to those whose jurisdiction covers one of the person's cases: an
    auditor of one district does not learn whom others looked up, or why, elsewhere — and does
    see who looked up a person of theirs. Lookups that named no known person: nationwide only."""
    in_reach = None if who.jurisdiction == "" else exists().where(
        members.c.person_ref == identity_lookups.c.person_ref,
        cases.c.case_id == members.c.case_id,
        within(who.jurisdiction, cases.c.region_code, cases.c.town_code))
    with reading(rt.engine) as conn:
        return identities.lookups(conn, limit=limit, where=in_reach)
