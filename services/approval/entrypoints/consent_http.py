"""The town's window records a member's signed consent (授权核对) that verification waits for:
the case goes back to verification (services/approval/domain/consent.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.approval.entrypoints.http import _actor, _case_in_reach, _run
from services.approval.service_layer import consent
from shared.auth.dependencies import require
from shared.auth.principals import Principal
from shared.http import CheckedRoute
from shared.service import Runtime

router = APIRouter(route_class=CheckedRoute)
# A clerk or a town reviewer: the workflow refuses the district's approver (409), as for any
# action its role does not take.
Worker = Annotated[Principal, Depends(require("case.act"))]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signed_on: date = Field(description="The day the members the hold names signed the consent "
                                        "to verification (授权核对); not after today")


@router.post("/cases/{case_id}/consent", tags=["workflow"],
             summary="Record the consent verification waits for (授权核对); it checks again",
             responses={409: {"description": "Verification waits for no consent on this case, "
                                             "or the caller's role does not record one"}})
def record_consent(case_id: str, body: ConsentIn, rt: Runtime, request: Request,
                   who: Worker) -> dict[str, Any]:
    """The members verification named have signed: the case goes back to verification, which
    checks the household again (an application's case waits for its report again)."""
    _case_in_reach(rt, case_id, who, request)
    return _run(rt, lambda uow: consent.record(uow, case_id, _actor(who), body.signed_on))
