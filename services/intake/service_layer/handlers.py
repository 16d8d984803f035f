"""Intake's handlers: the events that move a case along (its one command, the application,
is in ``commands``).

Every handler is a plain function of (event, envelope, unit of work), committed by the
consumer; the routing table at the bottom says which handler answers which event.
"""

from __future__ import annotations

from collections.abc import Callable

from services.intake.adapters.repository import CaseRepository
from services.intake.domain.model import CaseStatus
from services.intake.service_layer import summaries
from shared.bus.routing import Routes
from shared.events.catalogue import (
    ApplicationDecided,
    BenefitChanged,
    CaseAssessed,
    CaseStageChanged,
    HouseholdRecognised,
    PaymentHeld,
    PaymentScheduled,
    PaymentSettled,
    ReassessmentRequested,
    ReferralAnswered,
    ReferralRequested,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork


class UnknownCase(LookupError):
    pass


def _apply(uow: UnitOfWork, envelope: Envelope, summary: str,
           move: Callable[[CaseStatus], CaseStatus] | None = None,
           decision: dict[str, object] | None = None) -> None:
    """Record an event in its case's timeline and, with ``move``, let it move the status."""
    repo = CaseRepository(uow.conn)
    case_id = envelope.subject
    current = repo.status(case_id, for_update=True)  # ``move`` reads and writes it back
    if current is None:
        raise UnknownCase(f"no case {case_id} at intake")
    if not repo.record(case_id, envelope.id, envelope.time, envelope.type, summary):
        return  # applied before: the inbox normally stops a repeat, and this would too
    repo.set_status(case_id, move(current) if move else current, envelope.time, decision)


def on_verification_reported(event: VerificationReported, envelope: Envelope,
                              uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.verified(event), CaseStatus.after_verification)


def on_case_stage_changed(event: CaseStageChanged, envelope: Envelope, uow: UnitOfWork) -> None:
    # Whether it was paid is asked under the case's lock (inside ``move``): a payment recorded
    # meanwhile by another instance is then seen.
    _apply(uow, envelope, summaries.stage_changed(event),
           lambda status: status.after_stage_change(
               event.sequence, event.to_stage,
               CaseRepository(uow.conn).has_payment(event.case_id)))


def on_case_assessed(event: CaseAssessed, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.assessed(event))


def on_application_decided(event: ApplicationDecided, envelope: Envelope,
                           uow: UnitOfWork) -> None:
    # The status comes from approval's stage changes; the decision is what the window shows
    # of why, and how much.
    _apply(uow, envelope, summaries.decided(event), decision={
        "outcome": event.outcome, "monthly_amount_fen": event.monthly_amount_fen,
        "one_off_amount_fen": event.one_off_amount_fen, "start_month": event.start_month,
        "policy_version": event.policy_version,
        "benefits": [b.model_dump() for b in event.benefits],
        "decided_by": event.decided_by, "advance": event.advance,
        "has_justification": event.has_justification,  # its text stays in approval
        "reasons": [r.model_dump() for r in event.reasons]})


def on_benefit_changed(event: BenefitChanged, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.benefit_changed(event))


def on_household_recognised(event: HouseholdRecognised, envelope: Envelope,
                            uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.recognised(event))


def on_reassessment_requested(event: ReassessmentRequested, envelope: Envelope,
                              uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.reassessment_requested(event))


def on_referral_requested(event: ReferralRequested, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.referral_requested(event))


def on_referral_answered(event: ReferralAnswered, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.referral_answered(event))


def on_payment_scheduled(event: PaymentScheduled, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.payment_scheduled(event), CaseStatus.after_payment_scheduled)


def on_payment_held(event: PaymentHeld, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.payment_held(event))


def on_payment_settled(event: PaymentSettled, envelope: Envelope, uow: UnitOfWork) -> None:
    _apply(uow, envelope, summaries.payment_settled(event))


HANDLERS = (Routes()
            .on(VerificationReported, on_verification_reported)
            .on(CaseStageChanged, on_case_stage_changed)
            .on(CaseAssessed, on_case_assessed)
            .on(ApplicationDecided, on_application_decided)
            .on(BenefitChanged, on_benefit_changed)
            .on(HouseholdRecognised, on_household_recognised)
            .on(ReassessmentRequested, on_reassessment_requested)
            .on(ReferralRequested, on_referral_requested)
            .on(ReferralAnswered, on_referral_answered)
            .on(PaymentScheduled, on_payment_scheduled)
            .on(PaymentHeld, on_payment_held)
            .on(PaymentSettled, on_payment_settled))
