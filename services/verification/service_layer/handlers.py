"""Verification's handlers: partner departments publish records; a submitted application gets a
report built from them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.verification.adapters.repository import PartnerRepository, ReportRepository
from services.verification.domain.model import (
    DEPARTMENT_KINDS,
    HouseholdMember,
    PartnerRecord,
    build_report,
    check_consent,
)
from shared.events.catalogue import (
    ApplicationSubmitted,
    AssetSummary,
    MemberIncome,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class IncomingRecord:
    """A record as a partner sends it: with the raw resident ID number, which stops here."""

    record_id: str
    kind: str
    resident_id: str
    amount_fen: int
    as_of: date


class KindNotAllowed(PermissionError):
    pass


def publish_records(department: str, incoming: list[IncomingRecord], uow: UnitOfWork, *,
                    pseudonym_key: bytes) -> int:
    """Store a department's records, pseudonymised on arrival. All or nothing."""
    allowed = DEPARTMENT_KINDS.get(department, frozenset())
    refused = sorted({r.kind for r in incoming if r.kind not in allowed})
    if refused:
        raise KindNotAllowed(f"{department} may not publish {', '.join(refused)}"
                             f" (allowed: {', '.join(sorted(allowed)) or 'nothing'})")
    records = [PartnerRecord(department=department, record_id=r.record_id, kind=r.kind,
                             person_ref=person_ref(pseudonym_key, r.resident_id),
                             amount_fen=r.amount_fen, as_of=r.as_of) for r in incoming]
    PartnerRepository(uow.conn).upsert(records)
    uow.commit()
    return len(records)


def on_application_submitted(event: ApplicationSubmitted, envelope: Envelope,
                             uow: UnitOfWork) -> None:
    reports = ReportRepository(uow.conn)
    if reports.exists(event.case_id):
        return  # one report per case; a re-sent application under a new event id changes nothing
    members = [HouseholdMember(person_ref=m.person_ref, age_years=m.age_years,
                               declared_monthly_fen=sum(i.monthly_amount_fen
                                                        for i in m.declared_incomes),
                               consent_signed=m.consent_signed) for m in event.members]
    check_consent(members)
    records = PartnerRepository(uow.conn).for_persons([m.person_ref for m in members])
    report = build_report(members, records)
    applicant = next(m.person_ref for m in event.members if m.relation == "applicant")
    reported = VerificationReported(
        case_id=event.case_id,
        report_id=str(uuid.uuid4()),
        region_code=event.region_code,
        programme=event.programme,
        applicant_ref=applicant,
        household_size=len(members),
        members=[MemberIncome(person_ref=m.person_ref, declared_monthly_fen=m.declared_monthly_fen,
                              verified_monthly_fen=m.verified_monthly_fen,
                              counted_monthly_fen=m.counted_monthly_fen, sources=list(m.sources))
                 for m in report.members],
        assets=AssetSummary(real_estate_count=report.real_estate_count,
                            vehicle_count=report.vehicle_count,
                            deposits_fen=report.deposits_fen),
        household_monthly_income_fen=report.household_monthly_income_fen,
        per_capita_monthly_income_fen=report.per_capita_monthly_income_fen,
        reported_at=datetime.now(UTC),
    )
    reports.add(event.case_id, reported.report_id, reported.model_dump_json(),
                reported.reported_at)
    uow.publish(reported)


HANDLERS = {ApplicationSubmitted: on_application_submitted}
