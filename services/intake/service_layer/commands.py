"""Intake's command: the window submits an application. The one place in intake that commits
outside the consumer, which commits the event handlers; the HTTP endpoint runs it in a group
commit, each application in a savepoint of its own (shared/group_commit.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from services.intake.adapters.repository import CaseRepository
from services.intake.domain.model import Application, InvalidApplication
from services.intake.service_layer import summaries
from shared import clock
from shared.auth.principals import Principal, area_of
from shared.events.catalogue import (
    ApplicationSubmitted,
    DeclaredIncome,
    MemberFacts,
    SupporterFacts,
    TemporaryRequest,
)
from shared.pseudonym import person_ref
from shared.resident_id import age_on
from shared.uow import UnitOfWork, once_more_on_conflict


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""


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


def submit(uow_factory: Callable[[], UnitOfWork], application: Application, *,
           pseudonym_key: bytes, idempotency_key: str | None, request_hash: str,
           by: Principal) -> str:
    """``submit_application`` in a unit of work from ``uow_factory``, tried once more when
    another instance's same request committed first (it then answers with that case). The HTTP
    endpoint gives savepoints of a group commit (shared/group_commit.py)."""
    def attempt() -> str:
        with uow_factory() as uow:
            case_id, _created = submit_application(
                application, uow, pseudonym_key=pseudonym_key, idempotency_key=idempotency_key,
                request_hash=request_hash, by=by)
        return case_id

    return once_more_on_conflict(attempt)


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
