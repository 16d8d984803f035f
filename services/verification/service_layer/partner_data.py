"""Partner data arriving: a department's records, pseudonymised the moment they arrive (the raw
resident ID number stops here), and what they change — a new report on every open case and
every recipient whose figures differ, and the early warnings and discovery leads they raise
(service_layer/monitoring.py).

Apart from the event handlers because it is driven by the partner departments, not by the bus:
``publish_records`` answers their HTTP publications, and ``on_partner_data_changed`` is every
publication's path, batch by batch (service_layer/publishing.py too).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.verification.adapters.monitoring import GrantRepository
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.repositories.recipients import RecipientRepository
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.domain.household import Household, check_consent
from services.verification.domain.model import PartnerRecord, build_report
from services.verification.domain.monitoring import (
    MEDICAL_KIND,
    Indicators,
    freshness_days,
    household_signals,
)
from services.verification.domain.partners import DEPARTMENT_KINDS
from services.verification.service_layer.monitoring import discover, raise_warnings
from services.verification.service_layer.reporting import keep, publish_report, report_of
from shared.clock import local_date
from shared.policy import PolicySource, PolicyTable
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
    town_code: str | None = None
    grade: int | None = None  # for graded kinds (disability grade)
    situation: str | None = None  # for a parent's situation (children's welfare kinds)


class KindNotAllowed(PermissionError):
    pass


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
        before = report_of(previous) if previous is not None else None
        if case.indicators is not None:
            signals += [(household, s) for s in household_signals(
                household, own, before, report, today, case.indicators)]
        if case.reported and (before is None or report.figures != before.figures):
            new.append(publish_report(uow, household, report, "partner_data", previous))
    keep(uow, new)
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
