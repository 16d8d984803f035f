"""What every path through approval shares: reading a case, assessing it, moving it a stage,
and the events each of those publishes. Called inside a unit of work; never commits."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from services.approval.adapters.holds import HoldRepository
from services.approval.adapters.repository import ApprovalRepository
from services.approval.domain.assessment import Assessment, Benefit, assess
from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import Figure, PolicyTable
from services.approval.domain.reassessment import add_months
from services.approval.domain.stated import benefits, reasons
from services.approval.domain.trace import Check
from services.approval.domain.workflow import Actor, Case, Change, Rules
from shared import clock
from shared.events import catalogue as ev
from shared.uow import UnitOfWork


class UnknownCase(LookupError):
    pass


def first_of_next_month(now: datetime) -> date:
    """The first day of next month in China time: where a running benefit's change starts."""
    y, m = map(int, add_months(f"{clock.local_date(now):%Y-%m}", 1).split("-"))
    return date(y, m, 1)


def rules_for(policy: PolicyTable, region: str, now: datetime) -> Rules:
    return Rules(policy, region, clock.local_date(now))


def facts_of(row: dict[str, Any]) -> CaseFacts:
    return CaseFacts.from_dict(json.loads(row["facts"]))


def assessment_of(body: str) -> Assessment:
    """An assessment as the workflow needs it, back from its stored event."""
    e = ev.CaseAssessed.model_validate_json(body)
    return Assessment(
        eligible=e.eligible,
        benefits=tuple(Benefit(b.kind, b.person_ref, b.monthly_amount_fen, b.one_off_amount_fen)
                       for b in e.benefits),
        checks=tuple(Check(r.rule, r.label_zh, r.passed, r.detail, dict(r.figures), tuple(
            Figure(f.name, f.region, date.fromisoformat(f.effective_from), f.value, f.source,
                   f.default) for f in r.parameters)) for r in e.reasons),
        policy_version=e.policy_version,
        on=datetime.fromisoformat(e.assessed_on).date())


def load(repo: ApprovalRepository, case_id: str) -> tuple[dict[str, Any], Case]:
    row = repo.case(case_id)
    if row is None:
        raise UnknownCase(f"no case {case_id} at approval")
    assessment, verified = None, False
    if row["assessment_id"]:
        stored = repo.assessment(row["assessment_id"])
        assert stored is not None
        assessment = assessment_of(stored["body"])
        verified = json.loads(stored["facts"]).get("report_id") is not None
    notice = row["notice_ends_at"] and clock.as_utc(row["notice_ends_at"])
    hold = HoldRepository(repo.conn).open_hold(case_id)
    return row, Case(case_id=case_id, programme=row["programme"], region_code=row["region_code"],
                     stage=row["stage"], sequence=row["sequence"], emergency=row["emergency"],
                     assessment=assessment, notice_ends_at=notice,
                     open_objections=repo.open_objections(case_id),
                     home_survey=repo.surveyed(case_id), verified=verified,
                     held=None if hold is None else hold.occasion,
                     held_reason=None if hold is None else hold.reason)


def current_facts(repo: ApprovalRepository, facts: CaseFacts, now: datetime) -> CaseFacts:
    """The facts with what approval itself knows of the household today."""
    refs = [m.person_ref for m in facts.members]
    return replace(facts, household_status=repo.household_status(refs),
                   temporary_granted_this_year_fen=repo.temporary_granted(
                       refs, clock.local_date(now).year, excluding=facts.case_id))


def run_assessment(uow: UnitOfWork, repo: ApprovalRepository, row: dict[str, Any],
                   facts: CaseFacts, policy: PolicyTable, now: datetime, *,
                   on: date | None = None, result: Assessment | None = None) -> Assessment:
    """Assess (on ``on``, today by default), store the assessment with its exact inputs, and
    publish it. A caller that assessed already passes its ``result`` (same facts, table, day)."""
    on = on or clock.local_date(now)
    result = result or assess(facts, policy, on)
    assessment_id = str(uuid.uuid4())
    event = ev.CaseAssessed(
        case_id=facts.case_id, assessment_id=assessment_id, report_id=facts.report_id,
        eligible=result.eligible, programme=facts.programme,
        region_code=facts.region_code, monthly_amount_fen=result.monthly_amount_fen,
        one_off_amount_fen=result.one_off_amount_fen, benefits=benefits(result.benefits),
        policy_version=result.policy_version, reasons=reasons(result.checks),
        assessed_on=on.isoformat(), assessed_at=now)
    body = event.model_dump_json()
    repo.add_assessment({"assessment_id": assessment_id, "case_id": facts.case_id,
                         "facts": json.dumps(facts.to_dict(), sort_keys=True),
                         "assessed_on": on.isoformat(), "policy_digest": policy.version,
                         "body": body, "assessed_at": now})
    repo.set_case(facts.case_id, assessment_id=assessment_id)
    row["assessment_id"] = assessment_id
    uow.publish(event)
    return result


def apply_changes(uow: UnitOfWork, repo: ApprovalRepository, row: dict[str, Any], case: Case,
                  changes: list[Change], actor: Actor, now: datetime, *,
                  justification: str | None = None) -> None:
    """Store and publish each stage change, and the decision or benefit change it makes.

    What staff typed (the note, the justification) is stored here and never published: the
    events say only that there is one (issue 21)."""
    if not changes:
        return
    stage, sequence = case.stage, case.sequence
    for change in changes:
        sequence += 1
        note = typed(change.note)
        uow.publish(ev.CaseStageChanged(
            case_id=case.case_id, sequence=sequence,
            from_stage=None if sequence == 1 else stage,
            to_stage=change.to_stage, action=change.action,
            actor=str(actor), has_note=note is not None, explanation=change.explanation,
            due_at=change.due_at, changed_at=now))
        repo.record_change({"case_id": case.case_id, "sequence": sequence,
                            "from_stage": None if sequence == 1 else stage,
                            "to_stage": change.to_stage, "action": change.action,
                            "actor": str(actor), "note": note,
                            "explanation": change.explanation, "at": now})
        stage = change.to_stage
        if change.decides:
            _decide(uow, repo, row, case, change, now, note, typed(justification))
        if change.benefit_change:
            benefit_changed(uow, row, change.benefit_change, now,
                            f"{change.action} by {actor.role}"
                            + (f" ({ev.NOTE_ON_FILE})" if note else ""))
    last = changes[-1]
    repo.move(case.case_id, case.sequence, stage, sequence, last.due_at, last.notice_ends_at, now)
    row.update(stage=stage, sequence=sequence)


def typed(text: str | None) -> str | None:
    """Text a person typed, or None when there is none to keep."""
    return text.strip() if text and text.strip() else None


def _decide(uow: UnitOfWork, repo: ApprovalRepository, row: dict[str, Any], case: Case,
            change: Change, now: datetime, note: str | None,
            justification: str | None) -> None:
    if repo.decided(case.case_id):
        return  # a case is decided once; later changes are benefit changes
    facts = facts_of(row)
    a = case.assessment
    approved = change.decides in ("approved", "advance")
    checks = a.checks if a else ()
    decision_reasons = reasons(checks)
    if change.ground:  # the workflow's own ground, a code (consent_not_given), not typed text
        decision_reasons.append(ev.DecisionReason(
            rule=change.ground.rule, passed=False, label_zh=change.ground.label_zh,
            detail=change.ground.detail))
    if note:
        decision_reasons.append(ev.DecisionReason(
            rule=ev.STAFF_DECISION, passed=approved, label_zh="审核审批意见",
            detail=f"{change.decided_by} {change.decides} ({ev.NOTE_ON_FILE})"))
    monthly = a.monthly_amount_fen if approved and a else 0
    one_off = a.one_off_amount_fen if approved and a else 0
    month = f"{clock.local_date(now):%Y-%m}"
    decided = ev.ApplicationDecided(
        case_id=case.case_id, decision_id=str(uuid.uuid4()),
        outcome="approved" if approved else "rejected", programme=case.programme,
        region_code=case.region_code, town_code=row.get("town_code"),
        beneficiary_ref=facts.applicant.person_ref,
        household_size=facts.size, monthly_amount_fen=monthly,
        start_month=month if monthly else None,
        policy_version=a.policy_version if a else None, reasons=decision_reasons,
        decided_at=now, one_off_amount_fen=one_off,
        benefits=benefits(a.benefits) if approved and a else [],
        member_refs=[m.person_ref for m in facts.members],
        decided_by=change.decided_by or "district",
        advance=change.decides == "advance", has_justification=justification is not None)
    repo.add_decision(decided, note=note, justification=justification)
    uow.publish(decided)
    if not approved:
        return
    repo.set_case(case.case_id, monthly_amount_fen=monthly)
    row["monthly_amount_fen"] = monthly
    if one_off and case.programme == "temporary":  # the yearly cap is temporary assistance's
        repo.grant_temporary(case.case_id, decided.member_refs, clock.local_date(now).year,
                             one_off)
    if case.programme in ("dibao", "tekun", "marginal"):
        uow.publish(ev.HouseholdRecognised(
            case_id=case.case_id, status=case.programme,
            region_code=case.region_code, member_refs=decided.member_refs, valid_from=month,
            recognised_at=now))


def benefit_changed(uow: UnitOfWork, row: dict[str, Any], change: str, now: datetime,
                     reason: str, *, monthly: int | None = None, end_month: str | None = None,
                     effective: str | None = None) -> None:
    facts = facts_of(row)
    this_month = f"{clock.local_date(now):%Y-%m}"
    amount = row["monthly_amount_fen"] if monthly is None else monthly
    if change in ("suspended", "terminated"):
        amount = 0
    uow.publish(ev.BenefitChanged(
        case_id=row["case_id"], change=change, programme=row["programme"],
        beneficiary_ref=facts.applicant.person_ref,
        effective_month=effective or add_months(this_month, 1), end_month=end_month,
        monthly_amount_fen=amount, reason=reason, changed_at=now))

