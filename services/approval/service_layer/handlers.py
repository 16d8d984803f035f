"""Approval's event handlers: an application opens a case, a verification report assesses it,
verification's withholding for want of consent sends it back to the town (domain/consent.py).

Plain functions of (event, envelope, unit of work); the policy table is bound by ``handlers``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from services.approval.adapters.holds import Hold, HoldRepository
from services.approval.adapters.repository import ApprovalRepository
from services.approval.domain.consent import on_withheld
from services.approval.domain.facts import CaseFacts, from_application, with_report
from services.approval.domain.policy import PolicyTable
from services.approval.domain.reassessment import reassess
from services.approval.domain.workflow import (
    RECURRING,
    SYSTEM,
    Case,
    Change,
    on_report,
    town_review_due,
)
from services.approval.service_layer import casework
from services.approval.service_layer.policy_book import PolicyBook
from shared import clock
from shared.bus.routing import Routes
from shared.events.catalogue import (
    ApplicationSubmitted,
    ReferralRequested,
    VerificationReported,
    VerificationWithheld,
)
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork


def on_application_submitted(event: ApplicationSubmitted, envelope: Envelope, uow: UnitOfWork,
                             *, policy: PolicyTable) -> None:
    repo = ApprovalRepository(uow.conn)
    if repo.case(event.case_id) is not None:
        return  # opened already (the same application re-sent under a new event id)
    now = datetime.now(UTC)
    facts = from_application(event)
    emergency = event.temporary is not None and event.temporary.kind == "emergency"
    row = {"case_id": event.case_id, "programme": event.programme,
           "region_code": event.region_code, "town_code": event.town_code,
           "stage": "awaiting_report", "sequence": 0,
           "emergency": emergency, "facts": json.dumps(facts.to_dict(), sort_keys=True),
           "assessment_id": None, "monthly_amount_fen": 0, "due_at": None,
           "notice_ends_at": None, "submitted_at": event.submitted_at, "stage_since": now}
    repo.open_case(row, [m.person_ref for m in facts.members])
    # Just opened: nothing to read back (no assessment, objection or survey yet).
    case = Case(event.case_id, event.programme, event.region_code, "awaiting_report", 0,
                emergency=emergency)
    changes = [Change("awaiting_report", "submitted")]
    if emergency:
        # 急难: the town may pay within hours, before any report, so assess on the form alone
        # and put the case in front of the reviewer with the emergency time limit.
        casework.run_assessment(uow, repo, row, casework.current_facts(repo, facts, now),
                                policy, now)
        rules = casework.rules_for(policy, event.region_code, now)
        changes.append(Change("awaiting_review", "emergency_registered",
                              explanation="emergency: may be paid in advance, verified after",
                              due_at=town_review_due(now, rules, emergency=True)))
    casework.apply_changes(uow, repo, row, case, changes, SYSTEM, now)
    for kind in event.referrals:
        referral_id = str(uuid.uuid4())
        repo.add_referral({"referral_id": referral_id, "case_id": event.case_id, "kind": kind,
                           "status": "requested", "amount_fen": None, "note": None,
                           "requested_at": now, "answered_at": None})
        uow.publish(ReferralRequested(
            case_id=event.case_id, referral_id=referral_id, kind=kind,
            region_code=event.region_code, member_refs=[m.person_ref for m in event.members],
            requested_at=now))
    for _report_id, body in repo.unassessed_reports(event.case_id):
        _assess_report(uow, repo, VerificationReported.model_validate_json(body), policy, now)
    hold = HoldRepository(uow.conn).open_hold(event.case_id)
    if hold is not None:  # verification withheld its check before the case opened here
        _withhold(uow, repo, hold, now)


def on_verification_reported(event: VerificationReported, envelope: Envelope, uow: UnitOfWork,
                             *, policy: PolicyTable) -> None:
    repo = ApprovalRepository(uow.conn)
    now = datetime.now(UTC)
    if not repo.add_report(event.report_id, event.case_id, event.model_dump_json(), now,
                           assessed=False):
        return  # this report was assessed already
    if repo.case(event.case_id) is None:
        # Topics are read in parallel: the report can overtake its application. It waits
        # here, and the application assesses it when it arrives.
        return
    _assess_report(uow, repo, event, policy, now)


def _assess_report(uow: UnitOfWork, repo: ApprovalRepository, report: VerificationReported,
                   policy: PolicyTable, now: datetime) -> None:
    row, case = casework.load(repo, report.case_id)
    repo.mark_assessed(report.report_id)
    previous = case.assessment
    previous_facts = casework.facts_of(row)
    facts = casework.current_facts(repo, with_report(previous_facts, report), now)
    running = case.stage in ("approved", "exiting") and case.programme in RECURRING
    # A running benefit changes from next month: assess it with next month's figures, or a
    # report arriving between a published rise and its first day would undo the rise.
    on = casework.first_of_next_month(now) if running else None
    assessment = casework.run_assessment(uow, repo, row, facts, policy, now, on=on)
    row["facts"] = json.dumps(facts.to_dict(), sort_keys=True)
    repo.set_case(case.case_id, facts=row["facts"])
    rules = casework.rules_for(policy, case.region_code, now)
    if running:
        if previous is None:
            return
        change = reassess(case.stage, row["monthly_amount_fen"], previous, assessment,
                          _earned(previous_facts), _earned(facts),
                          f"{clock.local_date(now):%Y-%m}", rules)
        if change is None:
            return
        casework.benefit_changed(uow, row, change.benefit_change or "", now, change.reason,
                                 monthly=change.monthly_amount_fen, end_month=change.end_month,
                                 effective=change.effective_month)
        if change.benefit_change in ("amount_changed", "resumed"):
            repo.set_case(case.case_id, monthly_amount_fen=change.monthly_amount_fen)
        if change.to_stage:
            casework.apply_changes(uow, repo, row, case, [Change(
                change.to_stage, f"reassessed_{report.occasion}", explanation=change.reason)],
                SYSTEM, now)
        return
    casework.apply_changes(uow, repo, row, replace(case, assessment=assessment),
                           on_report(case, assessment, now, rules), SYSTEM, now)


def on_verification_withheld(event: VerificationWithheld, envelope: Envelope,
                             uow: UnitOfWork) -> None:
    """Verification may not check the household until these members sign the consent: the
    hold is kept (the town's queue lists it, the case page says who must sign) and the case
    goes back to the town's window if it was waiting for its first report."""
    repo = ApprovalRepository(uow.conn)
    hold = Hold(str(uuid.uuid4()), event.case_id, event.reason, event.occasion,
                tuple(event.member_refs), event.withheld_at)
    HoldRepository(uow.conn).hold(hold)
    if repo.case(event.case_id) is None:
        return  # it overtook the application, which applies it when it opens the case
    _withhold(uow, repo, hold, datetime.now(UTC))


def _withhold(uow: UnitOfWork, repo: ApprovalRepository, hold: Hold, now: datetime) -> None:
    row, case = casework.load(repo, hold.case_id)
    casework.apply_changes(uow, repo, row, case, on_withheld(case, len(hold.member_refs)),
                           SYSTEM, now)


def _earned(facts: CaseFacts) -> int:
    return sum(m.employment_monthly_fen or 0 for m in facts.members)


def handlers(policy: PolicyTable | PolicyBook) -> Routes:
    """The routing table; the policy is bound here, once, by the bootstrap. A ``PolicyBook``
    gives each event the policy as published when its transaction reads it."""

    def table(uow: UnitOfWork) -> PolicyTable:
        return policy.current(uow.conn) if isinstance(policy, PolicyBook) else policy

    def application_submitted(event: ApplicationSubmitted, envelope: Envelope,
                              uow: UnitOfWork) -> None:
        on_application_submitted(event, envelope, uow, policy=table(uow))

    def verification_reported(event: VerificationReported, envelope: Envelope,
                              uow: UnitOfWork) -> None:
        on_verification_reported(event, envelope, uow, policy=table(uow))

    return (Routes()
            .on(ApplicationSubmitted, application_submitted)
            .on(VerificationReported, verification_reported)
            .on(VerificationWithheld, on_verification_withheld))
