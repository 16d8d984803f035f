"""A case's report: whether it may be made (every adult member's consent to the check, 授权核对),
made now or once the live sources have answered (service_layer/live.py), built from the partner
records held, published, and kept with the log of the partner data it read.

Apart from the handlers because every occasion comes here — an application, a periodic review, a
consent recorded, new partner data (service_layer/partner_data.py) and a live source's answer —
and because what a report publishes and keeps is one thing to read, whoever asked for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from services.verification.adapters.access import SYSTEM as ACCESS_SYSTEM
from services.verification.adapters.access import log_access
from services.verification.adapters.pending import PendingRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.repositories.reports import ReportRepository, StoredReport
from services.verification.domain import model
from services.verification.domain.household import Household, check_consent
from services.verification.domain.model import PartnerRecord, build_report
from services.verification.domain.monitoring import freshness_days
from shared.clock import local_date
from shared.events.catalogue import (
    AssetSummary,
    KindIncome,
    MemberIncome,
    ReportFlag,
    SourceFreshness,
    VerificationReported,
    VerificationWithheld,
)
from shared.policy import PolicySource, PolicyTable
from shared.uow import UnitOfWork

Occasion = Literal["application", "partner_data", "periodic_review"]


def report_with_consent(uow: UnitOfWork, household: Household,
                        occasion: Literal["application", "periodic_review"],
                        policy: PolicySource, live: frozenset[str]) -> None:
    """Report on the household now (or, with live sources, once they have answered:
    service_layer/live.py) — unless an adult member's consent is missing: then no partner data
    is looked at, and the case is withheld saying who must sign. At an application the ages
    are the form's; at a review a child may have come of age since (``check_consent``)."""
    now = datetime.now(UTC)
    missing = check_consent(household.members, applied_on=local_date(household.submitted_at),
                            on=None if occasion == "application" else local_date(now))
    if missing:
        uow.publish(VerificationWithheld(case_id=household.case_id, reason="consent_missing",
                                         occasion=occasion, member_refs=missing,
                                         withheld_at=now))
    elif live:
        PendingRepository(uow.conn).wait(household.case_id, occasion, now)
    else:
        report_now(uow, household, occasion, policy)


def report_now(uow: UnitOfWork, household: Household, occasion: Occasion,
               policy: PolicySource) -> None:
    """A new report on the case from the partner records held now, numbered after its last."""
    records = PartnerRepository(uow.conn).for_persons([m.person_ref for m in household.members])
    previous = (None if occasion == "application" else
                ReportRepository(uow.conn).latest([household.case_id]).get(household.case_id))
    built = _build(household, records, policy.current(uow.conn))
    keep(uow, [publish_report(uow, household, built, occasion, previous)])


def _build(household: Household, records: Iterable[PartnerRecord],
           policy: PolicyTable) -> model.Report:
    today = local_date(datetime.now(UTC))
    return build_report(household.members, records, on=today,
                        freshness_days=freshness_days(policy, household.region_code, today),
                        region_code=household.region_code)


def keep(uow: UnitOfWork, built: list[tuple[StoredReport, dict[str, Any]]]) -> None:
    """Store reports just published, and log their access to partner data: one statement each,
    however many (a partner's large update reports on thousands of cases per batch)."""
    ReportRepository(uow.conn).add([stored for stored, _ in built])
    log_access(uow.conn, [access for _, access in built])


def publish_report(uow: UnitOfWork, household: Household, report: model.Report,
                   occasion: Occasion, previous: StoredReport | None
                   ) -> tuple[StoredReport, dict[str, Any]]:
    """Publish a report on a case (through the unit of work) and return it as it is to be kept,
    numbered after the case's previous report."""
    reported = VerificationReported(
        case_id=household.case_id,
        report_id=str(uuid.uuid4()),
        region_code=household.region_code,
        programme=household.programme,
        applicant_ref=household.applicant_ref,
        household_size=len(household.members),
        members=[MemberIncome(person_ref=m.person_ref, declared_monthly_fen=m.declared_monthly_fen,
                              verified_monthly_fen=m.verified_monthly_fen,
                              counted_monthly_fen=m.counted_monthly_fen, sources=list(m.sources),
                              employment_monthly_fen=m.employment_monthly_fen,
                              by_kind=[KindIncome(kind=k.kind, declared_fen=k.declared_fen,
                                                  recorded_fen=k.recorded_fen,
                                                  counted_fen=k.counted_fen,
                                                  sources=list(k.sources)) for k in m.by_kind],
                              disability_grade=m.disability_grade,
                              father_on_record=m.father_on_record,
                              mother_on_record=m.mother_on_record,
                              taxable_income_fen=m.taxable_income_fen,
                              registered_elsewhere=m.registered_elsewhere,
                              imprisoned_since=m.imprisoned_since)
                 for m in report.members],
        assets=AssetSummary(real_estate_count=report.real_estate_count,
                            vehicle_count=report.vehicle_count,
                            deposits_fen=report.deposits_fen,
                            wealth_products_fen=report.wealth_products_fen,
                            insurance_value_fen=report.insurance_value_fen,
                            provident_fund_fen=report.provident_fund_fen),
        household_monthly_income_fen=report.household_monthly_income_fen,
        per_capita_monthly_income_fen=report.per_capita_monthly_income_fen,
        reported_at=datetime.now(UTC),
        occasion=occasion,
        flags=[ReportFlag(kind=f.kind, person_ref=f.person_ref, as_of=f.as_of, source=f.source)
               for f in report.flags],
        sources=[SourceFreshness(department=s.department, records=s.records,
                                 oldest_as_of=s.oldest_as_of, newest_as_of=s.newest_as_of,
                                 stale=s.stale) for s in report.sources],
    )
    uow.publish(reported)
    access = {"at": reported.reported_at, "actor": ACCESS_SYSTEM, "role": None,
              "purpose": occasion, "case_id": household.case_id,
              "region_code": household.region_code, "town_code": household.town_code,
              "sources": report_sources(reported)}
    return StoredReport(case_id=household.case_id, seq=previous.seq + 1 if previous else 1,
                        report_id=reported.report_id, occasion=occasion,
                        body=reported.model_dump_json(), created_at=reported.reported_at), access


def report_sources(report: VerificationReported) -> list[str]:
    """The departments whose data a report holds (its members' sources are department:kind)."""
    return sorted({source.split(":")[0] for m in report.members for source in m.sources})


def report_of(stored: StoredReport) -> model.Report:
    """A stored report's figures, as the report builder gives them."""
    event = VerificationReported.model_validate_json(stored.body)
    return model.Report(
        members=tuple(model.MemberIncome(
            person_ref=m.person_ref, declared_monthly_fen=m.declared_monthly_fen,
            verified_monthly_fen=m.verified_monthly_fen,
            counted_monthly_fen=m.counted_monthly_fen, sources=tuple(m.sources),
            employment_monthly_fen=m.employment_monthly_fen,
            by_kind=tuple(model.KindIncome(k.kind, k.declared_fen, k.recorded_fen, k.counted_fen,
                                           tuple(k.sources)) for k in m.by_kind),
            disability_grade=m.disability_grade, father_on_record=m.father_on_record,
            mother_on_record=m.mother_on_record, taxable_income_fen=m.taxable_income_fen,
            registered_elsewhere=m.registered_elsewhere, imprisoned_since=m.imprisoned_since)
            for m in event.members),
        real_estate_count=event.assets.real_estate_count,
        vehicle_count=event.assets.vehicle_count,
        deposits_fen=event.assets.deposits_fen,
        wealth_products_fen=event.assets.wealth_products_fen,
        insurance_value_fen=event.assets.insurance_value_fen,
        provident_fund_fen=event.assets.provident_fund_fen,
        flags=tuple(model.Flag(kind=f.kind, person_ref=f.person_ref, as_of=f.as_of,
                               source=f.source) for f in event.flags),
    )
