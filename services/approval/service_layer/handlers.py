"""Approval's handlers: a verification report in, a decision with its reasons out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.approval.adapters.repository import DecisionRepository
from services.approval.domain.dibao import HouseholdFacts, decide
from services.approval.domain.policy import PolicyTable
from shared import clock
from shared.events.catalogue import ApplicationDecided, DecisionReason, VerificationReported
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork


def on_verification_reported(event: VerificationReported, envelope: Envelope, uow: UnitOfWork,
                             *, policy: PolicyTable) -> None:
    decisions = DecisionRepository(uow.conn)
    if decisions.exists(event.case_id):
        return  # a case is decided once; reassessment comes with its own event (issue 3)
    now = datetime.now(UTC)
    decision = decide(HouseholdFacts(
        region_code=event.region_code,
        household_size=event.household_size,
        per_capita_monthly_income_fen=event.per_capita_monthly_income_fen,
        real_estate_count=event.assets.real_estate_count,
        vehicle_count=event.assets.vehicle_count,
        deposits_fen=event.assets.deposits_fen,
    ), policy, on=clock.local_date(now))
    decided = ApplicationDecided(
        case_id=event.case_id,
        decision_id=str(uuid.uuid4()),
        outcome=decision.outcome,  # type: ignore[arg-type]
        programme=event.programme,
        region_code=event.region_code,
        beneficiary_ref=event.applicant_ref,
        household_size=event.household_size,
        monthly_amount_fen=decision.monthly_amount_fen,
        start_month=decision.start_month,
        policy_version=decision.policy_version,
        reasons=[DecisionReason(rule=r.rule, passed=r.passed, detail=r.detail, figures=r.figures)
                 for r in decision.reasons],
        decided_at=now,
    )
    decisions.add(decided)
    uow.publish(decided)


def handlers(policy: PolicyTable) -> dict[type, object]:
    """The routing table; the policy table is bound here, once, by the bootstrap."""

    def verification_reported(event: VerificationReported, envelope: Envelope,
                              uow: UnitOfWork) -> None:
        on_verification_reported(event, envelope, uow, policy=policy)

    return {VerificationReported: verification_reported}
