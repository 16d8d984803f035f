"""Staff actions on a case, one unit of work each: review, notice, approval and after.

Each command reads the case, asks the workflow what the action changes (or why it may not),
stores the changes with their events and commits — or changes nothing at all.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from services.approval.adapters.repository import ApprovalRepository
from services.approval.domain import stated
from services.approval.domain.assessment import assess
from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import ActionRefused, Actor, act
from services.approval.service_layer import casework, consent, decision_day
from shared.events.catalogue import ReassessmentRequested, ReferralAnswered
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class HomeSurvey:
    surveyed_on: date
    surveyors: str
    findings: str


def perform(uow: UnitOfWork, policy: PolicyTable, case_id: str, action: str, actor: Actor, *,
            note: str | None = None, justification: str | None = None,
            upheld: bool | None = None, objection_id: str | None = None,
            home_survey: HomeSurvey | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    if action in consent.ENDINGS:  # a case held for a consent ends, and its hold with it
        return consent.end(uow, policy, case_id, action, actor, note=note, now=now)
    repo = ApprovalRepository(uow.conn)
    row, case = casework.load(repo, case_id)
    if home_survey is not None:
        _record_survey(repo, case_id, home_survey, actor, now)
        case = replace(case, home_survey=True)
    if action == "resolve_objection":
        objection = repo.objection(case_id, objection_id or "")
        if objection is None:
            raise ActionRefused(f"no objection {objection_id} on case {case_id}",
                                field="objection_id")
        if objection["status"] != "open":
            raise ActionRefused(f"objection {objection_id} was resolved already")
    reassessed = False
    if action == "approve":  # decided with the figures in force on the decision day
        fresh = decision_day.assessed_for_decision(uow, repo, row, case, policy, now)
        reassessed, case = fresh is not case, fresh
    rules = casework.rules_for(policy, case.region_code, now)
    try:
        changes = act(case, action, actor, now, rules, note=note, justification=justification,
                      upheld=upheld)
    except ActionRefused as refused:
        if reassessed and refused.code in ("ineligible", "undecided"):
            # The decision day's assessment stands though the approval does not (the new
            # figures refused it): the case shows the assessment that did, and why. Any other
            # refusal (the stage, the role) keeps nothing.
            uow.commit()
        raise
    result: dict[str, Any] = {}
    if action == "object":
        objection_id = str(uuid.uuid4())
        repo.add_objection({"objection_id": objection_id, "case_id": case_id,
                            "summary": note, "recorded_by": str(actor), "recorded_at": now,
                            "status": "open", "resolution": None, "resolved_by": None,
                            "resolved_at": None})
        result["objection_id"] = objection_id
    if action == "resolve_objection":
        repo.resolve_objection(objection_id or "", status="upheld" if upheld else "dismissed",
                               resolution=note, resolved_by=str(actor), resolved_at=now)
    casework.apply_changes(uow, repo, row, case, changes, actor, now,
                           justification=justification)
    if any(c.decides == "approved" for c in changes):
        # Figures published already for a later day: as their jobs would have, had it run.
        decision_day.later_figures(uow, repo, case_id, policy, now)
    uow.commit()
    return {"case_id": case_id, "stage": row["stage"], "sequence": row["sequence"], **result}


def record_survey(uow: UnitOfWork, case_id: str, survey: HomeSurvey, actor: Actor) -> None:
    repo = ApprovalRepository(uow.conn)
    if repo.case(case_id) is None:
        raise casework.UnknownCase(f"no case {case_id} at approval")
    _record_survey(repo, case_id, survey, actor, datetime.now(UTC))
    uow.commit()


def _record_survey(repo: ApprovalRepository, case_id: str, survey: HomeSurvey, actor: Actor,
                   now: datetime) -> None:
    if actor.role not in ("town_reviewer", "window_clerk"):
        raise ActionRefused("home surveys are recorded by the town")
    repo.add_survey({"survey_id": str(uuid.uuid4()), "case_id": case_id,
                     "surveyed_on": survey.surveyed_on.isoformat(),
                     "surveyors": survey.surveyors, "findings": survey.findings,
                     "recorded_by": str(actor), "recorded_at": now})


def request_review(uow: UnitOfWork, case_id: str, actor: Actor) -> None:
    """Periodic review (定期复核): ask verification for a fresh report on a recipient."""
    repo = ApprovalRepository(uow.conn)
    _, case = casework.load(repo, case_id)
    if case.stage not in ("approved", "exiting"):
        raise ActionRefused(f"only a running benefit is reviewed; this case is {case.stage}")
    if actor.role not in ("town_reviewer", "district_approver"):
        raise ActionRefused(f"a {actor.role} cannot start a periodic review")
    uow.publish(ReassessmentRequested(case_id=case_id, occasion="periodic_review",
                                      requested_at=datetime.now(UTC)))
    uow.commit()


def answer_referral(uow: UnitOfWork, referral_id: str, outcome: str, amount_fen: int,
                    note: str | None) -> dict[str, Any]:
    """The department a referral went to answers; the answer joins the case."""
    repo = ApprovalRepository(uow.conn)
    referral = repo.referral(referral_id)
    if referral is None:
        raise casework.UnknownCase(f"no referral {referral_id}")
    if referral["status"] in ("granted", "declined"):
        raise ActionRefused(f"referral {referral_id} was answered already ({referral['status']})")
    now = datetime.now(UTC)
    note = casework.typed(note)  # the department's words stay here, with the referral
    repo.answer_referral(referral_id, status=outcome, amount_fen=amount_fen, note=note,
                         answered_at=now)
    uow.publish(ReferralAnswered(case_id=referral["case_id"], referral_id=referral_id,
                                 kind=referral["kind"], outcome=outcome,
                                 amount_fen=amount_fen, has_note=note is not None,
                                 answered_at=now))
    uow.commit()
    return {**referral, "status": outcome}


def replay(stored: dict[str, Any], policy: PolicyTable) -> dict[str, Any]:
    """Re-run a stored assessment from its recorded inputs and policy day; say if it differs.

    Same facts + same policy figures + same day must give the same result: this is how an
    auditor checks any decision years later.
    """
    facts = CaseFacts.from_dict(json.loads(stored["facts"]))
    on = date.fromisoformat(stored["assessed_on"])
    result = assess(facts, policy, on)
    original = json.loads(stored["body"])
    rerun = {
        "eligible": result.eligible,
        "monthly_amount_fen": result.monthly_amount_fen,
        "one_off_amount_fen": result.one_off_amount_fen,
        "policy_version": result.policy_version,
        "benefits": [b.model_dump() for b in stated.benefits(result.benefits)],
        "reasons": [r.model_dump() for r in stated.reasons(result.checks)],
    }
    differences = sorted(k for k, v in rerun.items() if original.get(k) != v)
    return {"assessment_id": stored["assessment_id"], "case_id": stored["case_id"],
            "assessed_on": stored["assessed_on"], "identical": not differences,
            "differences": differences,
            "policy_digest_then": stored["policy_digest"], "policy_digest_now": policy.version}
