"""Who a discovery lead is (issue 26). A lead carries only a pseudonym: verification never keeps a
resident ID number or a name. A town reviewer who must visit the person asks, with a reason, and
verification asks the department that owns the lead's record — the one that knows the person —
over its live source (adapters/live_sources.py).

Every ask is written down, whatever the department answered (resolved, not found, or unable to
answer), with who asked, in which role, why, and of which department; and published as
``DiscoveryLeadPersonLookedUp`` with ids and codes only, so the archive keeps the lead's whole
story where nobody can quietly change it. The reason stays in verification (auditors read it
with ``GET /leads/person-lookups``); the person the department names goes back to the asker and
nowhere else: not to the database, the bus or a log. The department is asked outside any
transaction (a slow partner never holds the database), and the answer leaves only once its
record is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.verification.adapters.live_sources import (
    LiveSource,
    PersonOnRecord,
    SourceUnavailable,
)
from services.verification.adapters.person_lookups import PersonLookupRepository
from shared.events.catalogue import DiscoveryLeadPersonLookedUp, PersonLookupOutcome
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork

NOT_CONNECTED = "no live source is configured for this department: ask it directly"


class LeadClosed(RuntimeError):
    """The lead was closed: whoever it was, there is nobody left to visit for it."""


class NothingToAsk(RuntimeError):
    """The lead has no department record to ask about (a lead raised without evidence)."""


@dataclass(frozen=True)
class Asker:
    subject: str  # the staff id
    role: str


@dataclass(frozen=True)
class Lookup:
    lookup_id: str
    lead_id: str
    department: str
    outcome: PersonLookupOutcome
    detail: str | None  # why the department could not answer
    person: PersonOnRecord | None  # when resolved
    connected: bool  # False: the department is not queried live here at all


def owner_of(lead: Mapping[str, Any]) -> tuple[str, str]:
    """The department to ask and the record to ask it about: the lead's latest evidence (the
    evidence is in date order), whose owner knows the person it was raised for."""
    evidence = lead.get("evidence") or []
    if not evidence:
        raise NothingToAsk(f"lead {lead['lead_id']} has no record to ask about")
    latest = evidence[-1]
    return str(latest["department"]), str(latest["record_id"])


def look_up(uow_factory: Callable[[], UnitOfWork], lead: Mapping[str, Any], reason: str,
            asker: Asker, sources: Sequence[LiveSource], key: bytes,
            now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Lookup:
    """Ask the lead's department who the lead is, and log the ask. ``lead`` is one the caller
    read and checked the asker may reach; LeadClosed or NothingToAsk when it cannot be asked."""
    if lead["closed"] is not None:
        raise LeadClosed(f"lead {lead['lead_id']} is closed")
    department, record_id = owner_of(lead)
    source = next((s for s in sources if s.department == department), None)
    person: PersonOnRecord | None = None
    detail: str | None = None
    outcome: PersonLookupOutcome
    if source is None:
        outcome, detail = "department_unavailable", NOT_CONNECTED
    else:
        try:
            person = source.resolve(str(lead["person_ref"]), record_id)
        except SourceUnavailable as exc:
            outcome, detail = "department_unavailable", exc.reason
        else:
            outcome = "not_found" if person is None else "resolved"
            # The department names someone: the number must be the one the lead's pseudonym
            # was made from, or it named another person, who is shown to no one.
            if person is not None and person_ref(key, person.resident_id) != lead["person_ref"]:
                outcome, person = "department_unavailable", None
                detail = "answered with a person other than the lead's"
    lookup = Lookup(str(uuid.uuid4()), str(lead["lead_id"]), department, outcome,
                    detail[:300] if detail else None, person, connected=source is not None)
    at = now()
    with uow_factory() as uow:
        PersonLookupRepository(uow.conn).add({
            "lookup_id": lookup.lookup_id, "at": at, "subject": asker.subject,
            "role": asker.role, "lead_id": lookup.lead_id, "region_code": lead["region_code"],
            "town_code": lead["town_code"], "department": department, "record_id": record_id,
            "reason": reason, "outcome": outcome, "detail": lookup.detail})
        uow.publish(DiscoveryLeadPersonLookedUp(
            case_id=lookup.lead_id, lookup_id=lookup.lookup_id, lead_id=lookup.lead_id,
            region_code=lead["region_code"], town_code=lead["town_code"],
            department=department, outcome=outcome, looked_up_by=asker.subject,
            role=asker.role, looked_up_at=at))
        uow.commit()
    return lookup
