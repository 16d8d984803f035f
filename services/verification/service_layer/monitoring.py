"""Early warnings and discovery leads: raised inside the transaction that stores the partner data
or the decision that causes them, so a warning is never lost nor raised for data that was rolled
back; closed by town staff with an outcome.

Every warning and lead raised or closed is also an event on ``onedoor.monitoring``: auditors keep
them in the archive like every other fact of a case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from services.verification.adapters.monitoring import (
    Closing,
    GrantRepository,
    LeadRepository,
    WarningRepository,
    evidence_json,
    reason_json,
)
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.domain.household import Household
from services.verification.domain.monitoring import (
    MEDICAL_KIND,
    Indicators,
    Signal,
    discovery_lead,
    temporary_signal,
)
from shared.clock import local_date
from shared.events.catalogue import (
    DiscoveryLeadClosed,
    DiscoveryLeadRaised,
    EarlyWarningClosed,
    EarlyWarningRaised,
    LeadOutcome,
    WarningOutcome,
)
from shared.policy import PolicySource
from shared.uow import UnitOfWork

SYSTEM = "onedoor"  # who closes a lead when its person applies


class NothingToClose(LookupError):
    """No warning or lead by that id."""


class AlreadyClosed(RuntimeError):
    pass


def close_item(uow_factory: Callable[[], UnitOfWork],
               find: Callable[[Connection], dict[str, Any] | None],
               may_close: Callable[[dict[str, Any]], None],
               close: Callable[[UnitOfWork, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A warning or lead closed, with its event, in one transaction: read, checked by
    ``may_close`` (which raises to refuse), closed. NothingToClose when there is none; AlreadyClosed
    when someone closed it first."""
    with uow_factory() as uow:
        found = find(uow.conn)
        if found is None:
            raise NothingToClose
        may_close(found)
        closed = close(uow, found)
        uow.commit()
    return closed


def raise_warnings(uow: UnitOfWork, found: Sequence[tuple[Household, Signal]],
                   now: datetime) -> int:
    """Store and publish the warnings whose cause is new on their case; the rest are the same
    facts seen again and raise nothing. Returns how many were raised."""
    rows = {str(uuid.uuid4()): (household, signal) for household, signal in found}
    new = WarningRepository(uow.conn).add_new([
        {"warning_id": wid, "case_id": h.case_id, "region_code": h.region_code,
         "town_code": h.town_code, "indicator": s.indicator, "cause": s.cause, "tier": s.tier,
         "reason_code": s.reason_code, "reason_params": reason_json(s.reason_params),
         "person_ref": s.person_ref, "raised_at": now}
        for wid, (h, s) in rows.items()])
    for wid, (h, s) in rows.items():
        if wid in new:
            uow.publish(EarlyWarningRaised(
                case_id=h.case_id, warning_id=wid, region_code=h.region_code,
                town_code=h.town_code, indicator=s.indicator, tier=s.tier, cause=s.cause,
                reason_code=s.reason_code, reason_params=dict(s.reason_params),
                person_ref=s.person_ref, raised_at=now))
    return len(new)


def on_temporary_granted(uow: UnitOfWork, case_id: str, decided_at: datetime,
                         policy: PolicySource) -> None:
    """Count the household's temporary assistance (this grant included) in the window."""
    if not GrantRepository(uow.conn).add(case_id, decided_at):
        return  # the decision delivered again
    household = HouseholdRepository(uow.conn).get_for_update(case_id)
    if household is None:
        return  # decided before its application arrived (a replay): nothing to count against
    ind = Indicators.of(policy.current(uow.conn), household.region_code,
                        local_date(decided_at))
    count = GrantRepository(uow.conn).count_for_members(
        [m.person_ref for m in household.members], ind.window_start(local_date(decided_at)))
    if signal := temporary_signal(case_id, count, ind):
        raise_warnings(uow, [(household, signal)], datetime.now(UTC))


def discover(uow: UnitOfWork, person_refs: Sequence[str], policy: PolicySource) -> int:
    """Leads from large medical bills just stored for these persons: those who are in no
    household verification knows (they never applied) and have no open lead already."""
    if not person_refs:
        return 0
    applied = HouseholdRepository(uow.conn).members_among(person_refs)
    leads = LeadRepository(uow.conn)
    pending = set(leads.open_for(person_refs))
    candidates = sorted(set(person_refs) - applied - pending)
    if not candidates:
        return 0
    now = datetime.now(UTC)
    today = local_date(now)
    records = [r for r in PartnerRepository(uow.conn).for_persons(candidates)
               if r.kind == MEDICAL_KIND]
    table = policy.current(uow.conn)
    found = []
    for ref in candidates:
        own = [r for r in records if r.person_ref == ref]
        town = max(((r.as_of, r.town_code) for r in own if r.town_code), default=(None, None))[1]
        if town is None:
            continue
        lead = discovery_lead(ref, own, today, Indicators.of(table, town[:6], today))
        if lead is not None:
            found.append((str(uuid.uuid4()), lead))
    new = leads.add_new([
        {"lead_id": lid, "person_ref": lead.person_ref, "region_code": lead.town_code[:6],
         "town_code": lead.town_code, "kind": lead.kind, "cause": lead.cause,
         "reason_code": lead.reason_code, "reason_params": reason_json(lead.reason_params),
         "evidence": evidence_json(lead.evidence), "raised_at": now}
        for lid, lead in found])
    for lid, lead in found:
        if lid in new:
            uow.publish(DiscoveryLeadRaised(
                case_id=lid, lead_id=lid, person_ref=lead.person_ref,
                region_code=lead.town_code[:6], town_code=lead.town_code, kind=lead.kind,
                reason_code=lead.reason_code, reason_params=dict(lead.reason_params),
                raised_at=now))
    return len(new)


def close_applied_leads(uow: UnitOfWork, person_refs: Sequence[str], case_id: str,
                        at: datetime) -> None:
    """A person with an open lead has applied: the lead did its work."""
    leads = LeadRepository(uow.conn)
    for lead_id in sorted(set(leads.open_for(person_refs).values())):
        _close_lead(uow, lead_id, "applied", None, SYSTEM, at, case_id)


def close_warning(uow: UnitOfWork, warning: Mapping[str, Any], outcome: WarningOutcome,
                  note: str | None, by: str, at: datetime) -> dict[str, object]:
    """Close a warning the caller has read (and checked the closer may close); the warning as
    it is now. AlreadyClosed when someone closed it in between."""
    warnings = WarningRepository(uow.conn)
    warning_id = str(warning["warning_id"])
    if not warnings.close(warning_id, Closing(outcome, note, by, at)):
        raise AlreadyClosed(f"warning {warning_id} is closed already")
    uow.publish(EarlyWarningClosed(case_id=str(warning["case_id"]), warning_id=warning_id,
                                   outcome=outcome, closed_by=by, closed_at=at))
    closed = warnings.get(warning_id)
    assert closed is not None
    return closed


def close_lead(uow: UnitOfWork, lead: Mapping[str, Any], outcome: LeadOutcome,
               note: str | None, by: str, at: datetime, case_id: str | None) -> dict[str, object]:
    """Close a lead the caller has read, as ``close_warning`` does a warning."""
    lead_id = str(lead["lead_id"])
    _close_lead(uow, lead_id, outcome, note, by, at, case_id)
    closed = LeadRepository(uow.conn).get(lead_id)
    assert closed is not None
    return closed


def _close_lead(uow: UnitOfWork, lead_id: str, outcome: LeadOutcome, note: str | None, by: str,
                at: datetime, case_id: str | None) -> None:
    if not LeadRepository(uow.conn).close(lead_id, Closing(outcome, note, by, at), case_id):
        raise AlreadyClosed(f"lead {lead_id} is closed already")
    uow.publish(DiscoveryLeadClosed(case_id=lead_id, lead_id=lead_id, outcome=outcome,
                                    application_case_id=case_id, closed_by=by, closed_at=at))
