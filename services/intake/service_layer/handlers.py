"""Intake's handlers: one command from the window, and the events that move a case along.

Every handler is a plain function of (message, unit of work); the routing table at the bottom
says which handler answers which event.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from services.intake.adapters.repository import CaseRepository
from services.intake.domain.model import Application, InvalidApplication, later_status
from services.intake.domain.resident_id import age_on
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    DeclaredIncome,
    MemberFacts,
    PaymentScheduled,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""


class UnknownCase(LookupError):
    pass


def new_case_id(region_code: str, at: datetime) -> str:
    # Readable at the window (region and day), unguessable, and unique without coordination.
    return f"{region_code}-{at:%Y%m%d}-{secrets.token_hex(6)}"


def submit_application(
    application: Application,
    uow: UnitOfWork,
    *,
    pseudonym_key: bytes,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> tuple[str, bool]:
    """Register an application; returns (case id, whether it is new)."""
    problems = application.problems()
    if problems:
        raise InvalidApplication(problems)
    # Everything that needs no database first: the transaction holds SQLite's write lock.
    now = datetime.now(UTC)
    case_id = new_case_id(application.region_code, now)
    refs = [person_ref(pseudonym_key, m.resident_id.number) for m in application.members]
    envelope = uow.publish(ApplicationSubmitted(
        case_id=case_id,
        region_code=application.region_code,
        programme=application.programme,  # type: ignore[arg-type]
        submitted_at=now,
        members=[
            MemberFacts(
                person_ref=ref,
                relation=m.relation,  # type: ignore[arg-type]
                age_years=age_on(m.resident_id.birth_date, application.submitted_on),
                declared_incomes=[
                    DeclaredIncome(kind=d.kind, monthly_amount_fen=d.monthly_amount_fen)  # type: ignore[arg-type]
                    for d in m.declared_incomes],
                consent_signed=m.consent_signed_on is not None,
            )
            for ref, m in zip(refs, application.members, strict=True)
        ],
    ))
    repo = CaseRepository(uow.conn)
    if idempotency_key:
        known = repo.case_for_key(idempotency_key)
        if known is not None:
            if known[0] != request_hash:
                raise IdempotencyConflict(idempotency_key)
            uow.rollback()  # drops the event prepared above
            return known[1], False
    taken = application.already_in_open_cases(refs, repo.open_cases_of(refs,
                                                                      application.programme))
    if taken:
        raise InvalidApplication(taken)
    repo.add(case_id, application, refs, now)
    if idempotency_key:
        repo.remember_key(idempotency_key, request_hash, case_id, now)
    repo.record(case_id, envelope.id, envelope.time, envelope.type,
                f"申请已受理 application received ({len(application.members)} members)")
    uow.commit()
    return case_id, True


def _advance(uow: UnitOfWork, envelope: Envelope, status: str, summary: str,
             decision: dict[str, object] | None = None) -> None:
    repo = CaseRepository(uow.conn)
    case_id = envelope.subject
    current = repo.status(case_id)
    if current is None:
        raise UnknownCase(f"no case {case_id} at intake")
    repo.set_status(case_id, later_status(current, status), envelope.time, decision)
    repo.record(case_id, envelope.id, envelope.time, envelope.type, summary)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def on_verification_reported(event: VerificationReported, envelope: Envelope,
                              uow: UnitOfWork) -> None:
    _advance(uow, envelope, "verified",
             f"核对完成 verified: per-capita income {_yuan(event.per_capita_monthly_income_fen)}"
             f" yuan/month, {event.assets.real_estate_count} properties,"
             f" {event.assets.vehicle_count} vehicles")


def on_application_decided(event: ApplicationDecided, envelope: Envelope,
                           uow: UnitOfWork) -> None:
    labels = {"approved": "批准 approved", "rejected": "不予批准 rejected",
              "undecidable": "待人工处理 needs a decision by staff"}
    failed = [r.detail for r in event.reasons if not r.passed]
    summary = labels[event.outcome]
    if event.outcome == "approved":
        summary += f": {_yuan(event.monthly_amount_fen)} yuan/month from {event.start_month}"
    elif failed:
        summary += ": " + "; ".join(failed)
    _advance(uow, envelope, event.outcome, summary, decision={
        "outcome": event.outcome, "monthly_amount_fen": event.monthly_amount_fen,
        "start_month": event.start_month, "policy_version": event.policy_version,
        "reasons": [r.model_dump() for r in event.reasons]})


def on_payment_scheduled(event: PaymentScheduled, envelope: Envelope, uow: UnitOfWork) -> None:
    _advance(uow, envelope, "payment_scheduled",
             f"已安排发放 payment scheduled: {_yuan(event.amount_fen)} yuan for {event.period}")


HANDLERS = {
    VerificationReported: on_verification_reported,
    ApplicationDecided: on_application_decided,
    PaymentScheduled: on_payment_scheduled,
}
