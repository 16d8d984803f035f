"""Verification's handlers of the events it reads, and their routing table (``handlers``): a
case's household is kept when it is submitted and reported on (service_layer/reporting.py: at
once, or, with live sources, once they have answered: service_layer/live.py), again at periodic
reviews, and once the town records a consent that was missing — without every adult member's
consent to the check (授权核对) no partner data is looked at, and the case is withheld saying
who must sign. Decisions and benefit changes say which households are recipients, watched when
new partner data arrives (service_layer/partner_data.py)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from services.verification.adapters.repositories.consents import record_consent
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.recipients import RecipientRepository
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.domain.household import Household, HouseholdMember
from services.verification.service_layer.monitoring import (
    close_applied_leads,
    on_temporary_granted,
)
from services.verification.service_layer.policy import on_policy_published
from services.verification.service_layer.reporting import report_with_consent
from shared.bus.routing import Routes
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    BenefitChanged,
    ConsentRecorded,
    DeclaredIncome,
    PolicyPublished,
    ReassessmentRequested,
)
from shared.events.envelope import Envelope
from shared.policy import PolicySource
from shared.uow import UnitOfWork

ONE_OFF_PROGRAMMES = frozenset({"temporary"})  # 临时救助: paid once, not monthly


class UnknownCase(LookupError):
    """A report was asked for a case whose household verification does not have (e.g. one that
    applied before verification kept households): staff must look at it."""


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
    report_with_consent(uow, household, "application", policy, live)


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
    report_with_consent(uow, household, event.occasion, policy, live)


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
    report_with_consent(uow, household, event.occasion, policy, live)


def _by_kind(declared: Iterable[DeclaredIncome]) -> dict[str, int]:
    # Two jobs are two wage lines on the form; what a report needs is the total per kind.
    totals: dict[str, int] = defaultdict(int)
    for income in declared:
        totals[income.kind] += income.monthly_amount_fen
    return dict(totals)


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
