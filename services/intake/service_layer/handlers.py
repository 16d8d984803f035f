"""Intake's handlers: one command from the window, and the events that move a case along.

Every handler is a plain function of (message, unit of work); the routing table at the bottom
says which handler answers which event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from services.intake.adapters.repository import CaseRepository
from services.intake.domain.model import Application, CaseStatus, InvalidApplication
from services.intake.service_layer import summaries
from shared import clock
from shared.auth.principals import Principal, area_of
from shared.bus.routing import Routes
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    BenefitChanged,
    CaseAssessed,
    CaseStageChanged,
    DeclaredIncome,
    HouseholdRecognised,
    MemberFacts,
    PaymentHeld,
    PaymentScheduled,
    PaymentSettled,
    ReassessmentRequested,
    ReferralAnswered,
    ReferralRequested,
    SupporterFacts,
    TemporaryRequest,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.pseudonym import person_ref
from shared.resident_id import age_on
from shared.uow import UnitOfWork


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""


class UnknownCase(LookupError):
    pass


def new_case_id(region_code: str, at: datetime) -> str:
    # Readable at the window (region and the office's day, in China time like every other date
    # the staff read), unguessable, and unique without coordination.
    return f"{region_code}-{clock.local_date(at):%Y%m%d}-{secrets.token_hex(6)}"


def submit_application(
    application: Application,
    uow: UnitOfWork,
    *,
    pseudonym_key: bytes,
    idempotency_key: str | None = None,
    request_hash: str = "",
    by: Principal | None = None,
) -> tuple[str, bool]:
    """Register an application; returns (case id, whether it is new).

    ``by`` is the staff member who takes it: their Idempotency-Keys are theirs alone, and a
    member's open case elsewhere is named only if their jurisdiction covers it. None: OneDoor
    itself (the demo, tests), which sees every region."""
    problems = application.problems()
    if problems:
        raise InvalidApplication(problems)
    # Everything that needs no database first: the transaction holds SQLite's write lock.
    now = datetime.now(UTC)
    case_id = new_case_id(application.region_code, now)
    refs = [person_ref(pseudonym_key, m.resident_id.number) for m in application.members]
    envelope = uow.publish(_submitted(application, case_id, refs, now))
    repo = CaseRepository(uow.conn)
    caller = by.key_scope if by is not None else ""
    if idempotency_key:
        known = _remembered(repo, caller, idempotency_key, request_hash, by)
        if known is not None:
            uow.rollback()  # drops the event prepared above
            return known, False
    open_cases = repo.open_cases_of(refs, application.programme)
    taken = application.already_in_open_cases(refs, {
        ref: case if by is None or by.covers(area_of(region, town)) else None
        for ref, (case, region, town) in open_cases.items()})
    if taken:
        raise InvalidApplication(taken)
    repo.add(case_id, application, refs, now)
    if idempotency_key:
        repo.remember_key(caller, idempotency_key, request_hash, case_id, now)
    repo.record(case_id, envelope.id, envelope.time, envelope.type,
                summaries.received(len(application.members)))
    uow.commit()
    return case_id, True


def _remembered(repo: CaseRepository, caller: str, key: str, request_hash: str,
                by: Principal | None) -> str | None:
    """The case the caller's key opened before, IdempotencyConflict for another request under
    it, or None. A key stored before keys had callers (caller "") is honoured only for the
    identical request from someone whose jurisdiction covers its case, and never refused: a
    conflict there would tell a stranger that the key was used."""
    known = repo.case_for_key(caller, key)
    if known is not None:
        if known[0] != request_hash:
            raise IdempotencyConflict(key)
        return known[1]
    legacy = repo.case_for_key("", key) if caller else None
    if legacy is not None and legacy[0] == request_hash and (
            by is None or by.covers(area_of(legacy[2], legacy[3]))):
        return legacy[1]
    return None


def _submitted(application: Application, case_id: str, refs: list[str],
               now: datetime) -> ApplicationSubmitted:
    """The application as the other services see it: persons by reference, ages not birth
    dates, and none of the household's own words (the temporary request's description)."""
    temporary = application.temporary
    return ApplicationSubmitted(
        case_id=case_id,
        region_code=application.region_code,
        town_code=application.town_code,
        programme=application.programme,
        submitted_at=now,
        members=[
            MemberFacts(
                person_ref=ref,
                relation=m.relation,
                age_years=age_on(m.resident_id.birth_date, application.submitted_on),
                declared_incomes=[
                    DeclaredIncome(kind=d.kind, monthly_amount_fen=d.monthly_amount_fen)
                    for d in m.declared_incomes],
                consent_signed=m.consent_signed_on is not None,
                disability_grade=m.disability_grade,
                able_to_work=m.able_to_work,
                self_care=m.self_care,
                father=m.father,
                mother=m.mother,
                child_care=m.child_care,
                schooling=m.schooling,
            )
            for ref, m in zip(refs, application.members, strict=True)
        ],
        legal_supporters=[
            SupporterFacts(relation=s.relation, able_to_support=s.able_to_support)
            for s in application.legal_supporters],
        care_mode=application.care_mode,
        temporary=None if temporary is None else TemporaryRequest(
            kind=temporary.kind,
            requested_amount_fen=temporary.requested_amount_fen,
            cause=temporary.cause,
            rigid_medical_spending_fen=temporary.rigid_medical_spending_fen),
        referrals=list(application.referrals),
    )


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
