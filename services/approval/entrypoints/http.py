"""Approval's HTTP API: the town reviewer's and district approver's work on cases, the
decisions with their explanations, and the policy figures in force."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.approval.adapters.holds import HoldRepository
from services.approval.adapters.repository import ApprovalRepository, Conflict
from services.approval.domain.allowed import allowed_actions
from services.approval.domain.policy import FIGURES, PolicyTable, region_chain
from services.approval.domain.workflow import ActionRefused, Actor
from services.approval.service_layer import casework, commands, consent, surveys
from services.approval.service_layer.casework import UnknownCase
from services.approval.service_layer.policy_book import PolicyBook
from shared import clock
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import FreeText, TextLine
from shared.service import Runtime, ServiceRuntime

T = TypeVar("T")


def policy(request: Request) -> PolicyTable:
    """The policy as published now: the packaged files and the bureau's publications."""
    book: PolicyBook = request.app.state.policy
    return book.current()


Policy = Annotated[PolicyTable, Depends(policy)]
router = APIRouter(route_class=CheckedRoute)
Reader = Annotated[Principal, Depends(require("case.read"))]
# Who acts is the signed-in person: the token's role and subject, never a name in the body.
Worker = Annotated[Principal, Depends(require("case.act"))]
Reviewer = Annotated[Principal, Depends(require("case.review"))]
Answerer = Annotated[Principal, Depends(require("referral.answer"))]


def _actor(who: Principal) -> Actor:
    return Actor(str(who.role), who.subject)


def _case_in_reach(rt: ServiceRuntime, case_id: str, who: Principal, request: Request) -> None:
    """404 for no such case, a logged 403 for a case outside the caller's jurisdiction. A
    case's district and town never change, so reading them before the action is safe."""
    with reading(rt.engine) as conn:
        row = ApprovalRepository(conn).case(case_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {case_id}")
    check_jurisdiction(who, area_of(row["region_code"], row["town_code"]), request=request)


class HomeSurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    surveyed_on: date
    surveyors: TextLine = Field(min_length=1, max_length=200, description="Staff ids, two at least "
                           "by national practice")
    findings: FreeText = Field(min_length=1, max_length=4000)


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "action": "accept",
        "note": "report and survey agree",
        "home_survey": {"surveyed_on": "2026-11-20", "surveyors": "t-017, t-021",
                        "findings": "lives alone, no other income seen"}}})
    action: Literal["accept", "return", "resume", "reject", "object", "resolve_objection",
                    "close_notice", "approve", "advance", "confirm", "suspend", "reinstate",
                    "terminate", "withdraw", "close_without_consent"]
    note: FreeText | None = Field(default=None, max_length=4000,
                             description="Reason or remark; required to return, reject, object,"
                                         " resolve, suspend, terminate")
    justification: FreeText | None = Field(default=None, max_length=4000,
                                      description="One case, one discussion (一事一议): required"
                                                  " to approve temporary assistance above the "
                                                  "normal ceiling")
    upheld: bool | None = None
    objection_id: TextLine | None = None
    home_survey: HomeSurveyIn | None = None


class ReferralAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["granted", "declined", "in_progress"]
    amount_fen: int = Field(default=0, ge=0, le=10_000_000_00)
    note: FreeText | None = Field(default=None, max_length=2000)


def _run(rt: ServiceRuntime, work: Callable[[Any], T]) -> T:
    """Run a command, turning the domain's refusals into HTTP answers."""
    try:
        with rt.uow() as uow:
            return work(uow)
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except ActionRefused as exc:
        if exc.field:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                {"type": "value_error", "loc": ["body", exc.field], "msg": exc.reason}]) from exc
        raise HTTPException(status.HTTP_409_CONFLICT, detail=exc.reason) from exc
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"{exc}: read the case again and retry") from exc


@router.post("/cases/{case_id}/actions", tags=["workflow"],
             summary="Act on a case: review, notice, approval, and after (审核/公示/审批)",
             responses={409: {"description": "The case's stage or the caller's role does not "
                                             "allow this action, or the case changed meanwhile"}})
def case_action(case_id: str, body: ActionIn, rt: Runtime, table: Policy, request: Request,
                who: Worker) -> dict[str, Any]:
    """One action, by the signed-in person; 409 when the case's stage or their role does not
    allow it (nothing changes), 422 when an input the action needs is missing."""
    _case_in_reach(rt, case_id, who, request)
    survey = None if body.home_survey is None else commands.HomeSurvey(
        body.home_survey.surveyed_on, body.home_survey.surveyors, body.home_survey.findings)
    return _run(rt, lambda uow: commands.perform(
        uow, table, case_id, body.action, _actor(who),
        note=body.note, justification=body.justification, upheld=body.upheld,
        objection_id=body.objection_id, home_survey=survey))


@router.post("/cases/{case_id}/home-surveys", tags=["workflow"], status_code=201,
             summary="Record a home survey (入户调查)",
             responses={409: {"description": "The case's stage or the caller's role does not "
                                             "allow a survey now"}})
def home_survey(case_id: str, body: HomeSurveyIn, rt: Runtime, request: Request,
                who: Reviewer) -> dict[str, str]:
    _case_in_reach(rt, case_id, who, request)
    survey = commands.HomeSurvey(body.surveyed_on, body.surveyors, body.findings)
    _run(rt, lambda uow: commands.record_survey(uow, case_id, survey, _actor(who)))
    return {"case_id": case_id, "recorded": "home_survey"}


@router.post("/cases/{case_id}/periodic-review", tags=["workflow"], status_code=202,
             summary="Start a recipient's periodic review (定期复核)",
             responses={409: {"description": "Only a running benefit is reviewed"}})
def periodic_review(case_id: str, rt: Runtime, request: Request,
                    who: Reviewer) -> dict[str, str]:
    _case_in_reach(rt, case_id, who, request)
    _run(rt, lambda uow: commands.request_review(uow, case_id, _actor(who)))
    return {"case_id": case_id, "requested": "periodic_review"}


@router.post("/referrals/{referral_id}/answer", tags=["referrals"],
             summary="A department answers a referral (专项救助)",
             responses={409: {"description": "The referral was answered already"}})
def answer_referral(referral_id: str, body: ReferralAnswerIn, rt: Runtime, request: Request,
                    who: Answerer) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        referral = ApprovalRepository(conn).referral(referral_id)
    if referral is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no referral {referral_id}")
    _case_in_reach(rt, referral["case_id"], who, request)
    return _run(rt, lambda uow: commands.answer_referral(uow, referral_id, body.outcome,
                                                         body.amount_fen, body.note))


@router.get("/cases", tags=["workflow"],
            summary="Cases by stage, region, programme; overdue ones first")
def list_cases(rt: Runtime, who: Reader,
               stage: Annotated[str | None, Query()] = None,
               region: Annotated[str | None, Query(pattern=r"^([0-9]{6}|[0-9]{9})$")] = None,
               programme: Annotated[str | None, Query()] = None,
               overdue: Annotated[bool, Query()] = False,
               held: Annotated[Literal["consent_missing"] | None,
                               Query(description="Only the cases verification may not check "
                                                 "for this reason until the town acts")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    now = datetime.now(UTC)
    with reading(rt.engine) as conn:
        rows = ApprovalRepository(conn).list_cases(
            jurisdiction=who.jurisdiction, stage=stage, region=region, programme=programme,
            overdue_at=now if overdue else None, limit=limit, held=held)
    return {"as_of": now.isoformat(), "cases": [_with_overdue(r, now) for r in rows]}


def _with_overdue(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    for key in ("due_at", "notice_ends_at"):
        if row.get(key) is not None:
            row[key] = clock.as_utc(row[key])
    due = row.get("due_at")
    row["overdue"] = due is not None and due < now and row["stage"] != "under_notice"
    return row


@router.get("/cases/{case_id}", tags=["workflow"],
            summary="A case: stage, time limit, assessments with their trace, history, and "
                    "the actions the caller may take now")
def get_case(case_id: str, rt: Runtime, table: Policy, request: Request,
             who: Reader) -> dict[str, Any]:
    now = datetime.now(UTC)
    with reading(rt.engine) as conn:
        repo = ApprovalRepository(conn)
        row = repo.case(case_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {case_id}")
        check_jurisdiction(who, area_of(row["region_code"], row["town_code"]), request=request)
        latest = repo.assessment(row["assessment_id"]) if row["assessment_id"] else None
        _, case = casework.load(repo, case_id)
        # Judged by the workflow's own rules, as POST .../actions would judge them now: a page
        # offers these and shows the others disabled, with why and when they open.
        allowed = allowed_actions(case, _actor(who), now,
                                  casework.rules_for(table, case.region_code, now))
        return {
            **{k: v for k, v in _with_overdue(row, now).items() if k != "facts"},
            "facts": json.loads(row["facts"]),
            "assessment": json.loads(latest["body"]) if latest else None,
            "assessments": [{"assessment_id": a["assessment_id"],
                             "assessed_on": a["assessed_on"],
                             "eligible": json.loads(a["body"])["eligible"]}
                            for a in repo.assessments_of(case_id)],
            "history": repo.history(case_id),
            "home_surveys": surveys.for_case(conn, case_id),  # with checklists and photos
            "objections": repo.objections_of(case_id),
            "referrals": repo.referrals_of(case_id),
            "decision": repo.decision(case_id),
            # Verification may not check the household yet: why, and who must sign.
            "verification_hold": consent.held(HoldRepository(conn).open_hold(case_id),
                                              json.loads(row["facts"])),
            "allowed_actions": [{
                "action": a.action, "possible": a.possible, "in_stage": a.in_stage,
                "needs": list(a.needs), "reason": a.reason, "code": a.code,
                "opens_at": a.opens_at.isoformat() if a.opens_at else None} for a in allowed],
        }


@router.get("/assessments/{assessment_id}/replay", tags=["audit"],
            summary="Re-run a stored assessment from its inputs; is it identical?")
def replay(assessment_id: str, rt: Runtime, table: Policy, request: Request,
           who: Reader) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        stored = ApprovalRepository(conn).assessment(assessment_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no assessment {assessment_id}")
    _case_in_reach(rt, stored["case_id"], who, request)
    return commands.replay(stored, table)


@router.get("/decisions/{case_id}", tags=["decisions"],
            summary="A case's decision with every rule, figure and source")
def get_decision(case_id: str, rt: Runtime, request: Request, who: Reader) -> dict[str, Any]:
    _case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        body = ApprovalRepository(conn).decision(case_id)
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no decision for case {case_id}")
    return body


# The policy figures are public (they are published by each region), so they need no sign-in.
@router.get("/policy/{region_code}", tags=["policy"],
            summary="Every policy figure in force for a region on a day (public)")
def policy_figures(region_code: str, table: Policy,
                   on: Annotated[date | None, Query()] = None,
                   programme: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=[{"type": "string_pattern_mismatch",
                                     "loc": ["path", "region_code"],
                                     "msg": "must be a 6-digit region code"}])
    day = on or clock.today()
    figures = {}
    for name, (meaning, label_zh) in FIGURES.items():
        if programme and not name.startswith(programme + "."):
            continue
        fig = table.figure(name, region_code, day)
        figures[name] = None if fig is None else {
            "value": fig.value, "meaning": meaning, "label_zh": label_zh, "region": fig.region,
            "effective_from": fig.effective_from.isoformat(), "source": fig.source,
            "default": fig.default}
    return {"region_code": region_code, "on": day.isoformat(),
            "inherits_from": region_chain(region_code), "policy_digest": table.version,
            "figures": figures}


@router.get("/policy/dibao/{region_code}", tags=["policy"], deprecated=True,
            summary="The Dibao figures in force (use /policy/{region}?programme=dibao)")
def dibao_policy(region_code: str, table: Policy,
                 on: Annotated[date | None, Query()] = None) -> dict[str, Any]:
    return policy_figures(region_code, table, on, "dibao")
