"""Verification's handlers: partner departments publish records; a case gets a report built from
them when it is submitted (or, with live sources, once they have answered: service_layer/live.py),
when new partner data changes an open case's or a recipient's figures, and at periodic reviews.
New partner data also raises early warnings and discovery leads (service_layer/monitoring.py).
Without every adult member's consent to the check (授权核对) no partner data is looked at: the
case is withheld, saying who must sign, until the town records the consent."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from services.verification.adapters.access import SYSTEM as ACCESS_SYSTEM
from services.verification.adapters.access import log_access
from services.verification.adapters.monitoring import GrantRepository
from services.verification.adapters.pending import PendingRepository
from services.verification.adapters.repositories.consents import record_consent
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.repositories.recipients import RecipientRepository
from services.verification.adapters.repositories.reports import ReportRepository, StoredReport
from services.verification.domain import model
from services.verification.domain.model import (
    Household,
    HouseholdMember,
    PartnerRecord,
    build_report,
    check_consent,
)
from services.verification.domain.monitoring import (
    MEDICAL_KIND,
    Indicators,
    freshness_days,
    household_signals,
)
from services.verification.domain.partners import DEPARTMENT_KINDS
from services.verification.service_layer.monitoring import (
    close_applied_leads,
    discover,
    on_temporary_granted,
    raise_warnings,
)
from services.verification.service_layer.policy import on_policy_published
from shared.bus.routing import Routes
from shared.clock import local_date
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    AssetSummary,
    BenefitChanged,
    ConsentRecorded,
    DeclaredIncome,
    KindIncome,
    MemberIncome,
    PolicyPublished,
    ReassessmentRequested,
    ReportFlag,
    SourceFreshness,
    VerificationReported,
    VerificationWithheld,
)
from shared.events.envelope import Envelope
from shared.policy import PolicySource, PolicyTable
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork

Occasion = Literal["application", "partner_data", "periodic_review"]
ONE_OFF_PROGRAMMES = frozenset({"temporary"})  # 临时救助: paid once, not monthly


@dataclass(frozen=True)
class IncomingRecord:
    """A record as a partner sends it: with the raw resident ID number, which stops here."""

    record_id: str
    kind: str
    resident_id: str
    amount_fen: int
    as_of: date
    town_code: str | None = None
    grade: int | None = None  # for graded kinds (disability grade)
    situation: str | None = None  # for a parent's situation (children's welfare kinds)


class KindNotAllowed(PermissionError):
    pass


class UnknownCase(LookupError):
    """A report was asked for a case whose household verification does not have (e.g. one that
    applied before verification kept households): staff must look at it."""


def publish_records(department: str, incoming: list[IncomingRecord], uow: UnitOfWork, *,
                    pseudonym_key: bytes, monitoring: PolicySource) -> int:
    """Store a department's records, pseudonymised on arrival, and report again on every
    active recipient's case whose figures they change. All or nothing."""
    allowed = DEPARTMENT_KINDS.get(department, frozenset())
    refused = sorted({r.kind for r in incoming if r.kind not in allowed})
    if refused:
        raise KindNotAllowed(f"{department} may not publish {', '.join(refused)}"
                             f" (allowed: {', '.join(sorted(allowed)) or 'nothing'})")
    records = [PartnerRecord(department=department, record_id=r.record_id, kind=r.kind,
                             person_ref=person_ref(pseudonym_key, r.resident_id),
                             amount_fen=r.amount_fen, as_of=r.as_of, town_code=r.town_code,
                             grade=r.grade, situation=r.situation)
               for r in incoming]
    touched = PartnerRepository(uow.conn).upsert(records)
    on_partner_data_changed(uow, sorted(touched), monitoring)
    discover(uow, sorted({r.person_ref for r in records if r.kind == MEDICAL_KIND}), monitoring)
    uow.commit()
    return len(records)


def on_partner_data_changed(uow: UnitOfWork, refs: list[str],
                              monitoring: PolicySource) -> None:
    """(Every publication's path: ``publish_records`` and ``publishing``, batch by batch.)
    One new report per open case and per active recipient's case touched by these persons'
    records, when its figures differ from the case's latest report — approval's reassessment:
    records sent again unchanged report nothing. And the early warnings the change raises on
    every watched household (``monitoring``)."""
    table = monitoring.current(uow.conn)
    # An application withheld for want of consent has no partner data looked at until it is
    # given (its members' ages as on the application day, as its own check had them).
    cases = _concerned(uow, [h for h in HouseholdRepository(uow.conn).watched_among(refs)
                             if not check_consent(h.members)], table)
    if not cases:
        return
    records = PartnerRepository(uow.conn).for_persons(
        sorted({m.person_ref for c in cases for m in c.household.members}))
    by_person: dict[str, list[PartnerRecord]] = defaultdict(list)
    for record in records:
        by_person[record.person_ref].append(record)
    reports = ReportRepository(uow.conn)
    latest = reports.latest([c.household.case_id for c in cases])
    today = local_date(datetime.now(UTC))
    new, signals = [], []
    for case in cases:
        household = case.household
        own = [r for m in household.members for r in by_person[m.person_ref]]
        report = build_report(household.members, own, on=today, freshness_days=freshness_days(
            table, household.region_code, today), region_code=household.region_code)
        previous = latest.get(household.case_id)
        before = _report_of(previous) if previous is not None else None
        if case.indicators is not None:
            signals += [(household, s) for s in household_signals(
                household, own, before, report, today, case.indicators)]
        if case.reported and (before is None or report.figures != before.figures):
            new.append(_publish_report(uow, household, report, "partner_data", previous))
    _keep(uow, new)
    raise_warnings(uow, signals, datetime.now(UTC))


@dataclass(frozen=True)
class _Concerned:
    household: Household
    reported: bool  # an open case or a running benefit: a change gets it a new report
    indicators: Indicators | None  # watched for early warnings: its region's indicators today


def _concerned(uow: UnitOfWork, found: list[Household], monitoring: PolicyTable
               ) -> list[_Concerned]:
    """What new partner data does to each household it concerns. Open cases are reported on
    again (their reviewer is at work: no warning). Active recipients are reported on and
    watched; households granted temporary assistance inside the window are watched — the
    latest grant only, and none whose members are watched as recipients already, so that one
    fact raises one warning. Decided cases that are neither are left alone."""
    ids = [h.case_id for h in found]
    active = RecipientRepository(uow.conn).active_among(ids)
    decided = RecipientRepository(uow.conn).decided_among(ids)
    granted = GrantRepository(uow.conn).decided([i for i in ids if i not in active])
    today = local_date(datetime.now(UTC))
    concerned, seen = [], set()
    for household in found:
        if household.case_id in active:
            concerned.append(_Concerned(household, True, Indicators.of(
                monitoring, household.region_code, today)))
            seen |= {m.person_ref for m in household.members}
        elif household.case_id not in decided:
            concerned.append(_Concerned(household, True, None))
    for household in sorted((h for h in found if h.case_id in granted),
                            key=lambda h: (granted[h.case_id], h.case_id), reverse=True):
        ind = Indicators.of(monitoring, household.region_code, today)
        members = {m.person_ref for m in household.members}
        if local_date(granted[household.case_id]) > ind.window_start(today) and not members & seen:
            concerned.append(_Concerned(household, False, ind))
            seen |= members
    return concerned


def on_application_submitted(event: ApplicationSubmitted, envelope: Envelope,
                             uow: UnitOfWork, policy: PolicySource,
                             live: frozenset[str] = frozenset()) -> None:
    household = Household(
        case_id=event.case_id, region_code=event.region_code, town_code=event.town_code,
        programme=event.programme,
        applicant_ref=next(m.person_ref for m in event.members if m.relation == "applicant"),
        submitted_at=event.submitted_at,
        members=tuple(HouseholdMember(person_ref=m.person_ref, age_years=m.age_years,
                                      declared_fen_by_kind=_by_kind(m.declared_incomes),
                                      consent_signed=m.consent_signed) for m in event.members))
    households = HouseholdRepository(uow.conn)
    reports = ReportRepository(uow.conn)
    if reports.has_application_report(event.case_id):
        # One report per application; a re-sent one under a new event id changes nothing, but
        # for a case reported before verification kept households it supplies the household.
        if not households.exists(event.case_id):
            households.add(household)
        return
    if households.exists(event.case_id):
        return  # sent again while it waits for a consent or for live sources: nothing changes
    # Stored with the application's report, or with why there is none: the town records the
    # missing consent on this household, or the live sources' answers complete its report.
    households.add(household)
    close_applied_leads(uow, [m.person_ref for m in household.members], event.case_id,
                        event.submitted_at)
    _report_with_consent(uow, household, "application", policy, live)


def _report_with_consent(uow: UnitOfWork, household: Household,
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
    _keep(uow, [_publish_report(uow, household, built, occasion,
                                previous)])


def on_application_decided(event: ApplicationDecided, envelope: Envelope, uow: UnitOfWork,
                           monitoring: PolicySource) -> None:
    if event.outcome == "undecidable":
        return  # still open: a person must act, on the latest report
    RecipientRepository(uow.conn).decide(event.case_id, event.outcome, event.decided_at)
    if event.outcome != "approved":
        return
    # A one-off grant (temporary assistance) leaves no running benefit to re-check, and no
    # termination would ever end its watch; it is counted, and watched for a while, by the
    # early warnings instead.
    if event.programme in ONE_OFF_PROGRAMMES:
        on_temporary_granted(uow, event.case_id, event.decided_at, monitoring)
    else:
        RecipientRepository(uow.conn).set_active(event.case_id, True, event.decided_at)


def on_benefit_changed(event: BenefitChanged, envelope: Envelope, uow: UnitOfWork) -> None:
    # A suspended or exiting benefit still runs (or may resume): its household is still watched.
    if event.change == "terminated":
        RecipientRepository(uow.conn).set_active(event.case_id, False, event.changed_at)


def on_reassessment_requested(event: ReassessmentRequested, envelope: Envelope,
                              uow: UnitOfWork, policy: PolicySource,
                              live: frozenset[str] = frozenset()) -> None:
    """A periodic review always gets a new report, changed or not: approval waits for it."""
    household = HouseholdRepository(uow.conn).get_for_update(event.case_id)
    if household is None:
        raise UnknownCase(f"no household kept for case {event.case_id}: cannot report again")
    _report_with_consent(uow, household, event.occasion, policy, live)


def on_consent_recorded(event: ConsentRecorded, envelope: Envelope, uow: UnitOfWork,
                        policy: PolicySource, live: frozenset[str] = frozenset()) -> None:
    """The town recorded the consent the check was withheld for: these members have signed,
    and the check runs again for the same occasion (an application is reported on once)."""
    household = HouseholdRepository(uow.conn).get_for_update(event.case_id)
    if household is None:
        raise UnknownCase(f"no household kept for case {event.case_id}: no consent to record")
    record_consent(uow.conn, event.case_id, event.member_refs)
    signed = set(event.member_refs)
    household = replace(household, members=tuple(
        replace(m, consent_signed=True) if m.person_ref in signed else m
        for m in household.members))
    if event.occasion == "application" and ReportRepository(uow.conn).has_application_report(
            event.case_id):
        return  # reported already: this consent was recorded before
    _report_with_consent(uow, household, event.occasion, policy, live)


def _build(household: Household, records: Iterable[PartnerRecord],
           policy: PolicyTable) -> model.Report:
    today = local_date(datetime.now(UTC))
    return build_report(household.members, records, on=today,
                        freshness_days=freshness_days(policy, household.region_code, today),
                        region_code=household.region_code)


def _by_kind(declared: Iterable[DeclaredIncome]) -> dict[str, int]:
    # Two jobs are two wage lines on the form; what a report needs is the total per kind.
    totals: dict[str, int] = defaultdict(int)
    for income in declared:
        totals[income.kind] += income.monthly_amount_fen
    return dict(totals)


def _keep(uow: UnitOfWork, built: list[tuple[StoredReport, dict[str, Any]]]) -> None:
    """Store reports just published, and log their access to partner data: one statement each,
    however many (a partner's large update reports on thousands of cases per batch)."""
    ReportRepository(uow.conn).add([stored for stored, _ in built])
    log_access(uow.conn, [access for _, access in built])


def _publish_report(uow: UnitOfWork, household: Household, report: model.Report,
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


def _report_of(stored: StoredReport) -> model.Report:
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


def handlers(monitoring: PolicySource, live: frozenset[str] = frozenset()) -> Routes:
    """The consumer's handlers, with verification's figures (``monitoring``: the indicators
    warnings are raised by, each source's freshness window) and the departments queried live
    (``live``: an application or a review then waits for them)."""
    return (Routes()
            .on(ApplicationSubmitted, functools.partial(on_application_submitted,
                                                        policy=monitoring, live=live))
            .on(ApplicationDecided, functools.partial(on_application_decided,
                                                      monitoring=monitoring))
            .on(BenefitChanged, on_benefit_changed)
            .on(ConsentRecorded, functools.partial(on_consent_recorded, policy=monitoring,
                                                   live=live))
            .on(PolicyPublished, on_policy_published)
            .on(ReassessmentRequested, functools.partial(on_reassessment_requested,
                                                         policy=monitoring, live=live)))
