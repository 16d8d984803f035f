"""The bureau's own way to change a policy figure (issue 22): one policy officer proposes a new
version, a second approves it (four eyes), and approval publishes it — as ``PolicyPublished`` on
its own topic, and as a recalculation job over every recipient the figure reaches.

Each command runs in one unit of work: it changes everything or nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, insert, select, true, update

from services.approval.adapters.tables import cases, policy_proposals, recalculations
from services.approval.domain.policy import FIGURES, PolicyTable
from services.approval.domain.workflow import RECURRING
from services.approval.service_layer import casework
from services.approval.service_layer.policy_book import PolicyBook
from services.verification import figures as verification
from shared import clock
from shared.events.catalogue import POLICY_KEY, PolicyPublished
from shared.policy import NATIONAL, published_figure
from shared.uow import UnitOfWork

P = policy_proposals.c


class ProposalRefused(Exception):
    """The proposal or decision cannot be made now (409), naming the field when one is at
    fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownProposal(LookupError):
    pass


@dataclass(frozen=True)
class Officer:
    role: str
    subject: str

    def __str__(self) -> str:
        return f"{self.role}:{self.subject}"


def reaches(jurisdiction: str, region: str) -> bool:
    """Whether an officer of ``jurisdiction`` may set figures for ``region``: a district its
    own, a city (xxxx00) itself and its districts, a province (xx0000) everything in it. Only a
    nationwide role reaches the national defaults (000000)."""
    if jurisdiction == "":
        return True
    if len(jurisdiction) != 6 or region == NATIONAL:
        return False
    if jurisdiction.endswith("0000"):
        return region.startswith(jurisdiction[:2])
    if jurisdiction.endswith("00"):
        return region.startswith(jurisdiction[:4])
    return region == jurisdiction


UNITS = (("_tier", "tier"), ("_fen", "fen"), ("_permille", "permille"), ("_days", "days"),
         ("_age", "age"), ("_months", "months"), ("_hours", "hours"), ("_grade", "grade"),
         ("_approval", "flag"), ("count_", "flag"), ("max_", "count"))


# Figures whose names do not follow the suffix convention below.
NAMED_UNITS = {"orphan.in_school_continues": "flag"}


# Every figure a proposal may set: name → (meaning, 中文).
CATALOGUE: dict[str, tuple[str, str]] = {**FIGURES, **verification.FIGURES}


def owner_of(name: str) -> str | None:
    """The service that decides by a figure: approval (the programmes' standards, the
    workflow's time limits) or verification (monitoring, discovery and freshness, from its
    published catalogue); None for a name neither knows. The bureau proposes both here."""
    if name in FIGURES:
        return "approval"
    if name in verification.FIGURES:
        return "verification"
    return None


def moves_amounts(name: str) -> bool:
    """Whether publishing the figure can change a running benefit's amount, so that every
    recipient it reaches is recalculated: not a time limit, not verification's figures."""
    return owner_of(name) == "approval" and not name.startswith("workflow.")


def unit_of(name: str) -> str:
    """How a figure's value is read, from its name's convention (policy.py's FIGURES)."""
    if name in NAMED_UNITS:
        return NAMED_UNITS[name]
    short = name.split(".", 1)[-1]
    for marker, unit in UNITS:
        if short.endswith(marker) or short.startswith(marker):
            return unit
    return "count"


def first_open_month(now: datetime) -> date:
    """The first day of the first month no payment cycle can have paid yet: next month. A
    figure may not take effect before it, so that no month already paid is decided anew."""
    return casework.first_of_next_month(now)


def earliest_effective(name: str, now: datetime) -> date:
    """The first day a figure may take effect: for one that decides amounts, the first month
    no cycle can have paid; for verification's (a warning's threshold, a report's freshness
    window), today in China — they decide no month's money, and a bureau tightening its
    watch should not wait for the month to turn. The warnings, leads and reports already made
    stay as they were made."""
    if owner_of(name) == "verification":
        return clock.local_date(now)
    return first_open_month(now)


def _not_retroactive(name: str, effective_from: date, now: datetime) -> None:
    earliest = earliest_effective(name, now)
    if effective_from >= earliest:
        return
    why = ("today: warnings and reports already made are not made again"
           if owner_of(name) == "verification" else
           "the first month not yet paid: a figure cannot be changed for a month that may have "
           "been paid (back pay is not decided through the system)")
    raise ProposalRefused(f"effective_from is before {earliest.isoformat()}, {why}",
                          field="effective_from")


def propose(uow: UnitOfWork, book: PolicyBook, officer: Officer, *, name: str, region_code: str,
            effective_from: date, value: int, source: str, reason: str,
            now: datetime) -> str:
    if owner_of(name) is None:
        raise ProposalRefused("name is not a policy figure of approval or verification",
                              field="name")
    if unit_of(name) == "flag" and value not in (0, 1):
        raise ProposalRefused("value of a yes/no figure is 1 (yes) or 0 (no)", field="value")
    if unit_of(name) == "tier" and value > verification.TIER_MAX:
        raise ProposalRefused(f"value of a tier is 0 (off) to {verification.TIER_MAX} (red)",
                              field="value")
    _not_retroactive(name, effective_from, now)
    in_force = book.current(uow.conn).figure(name, region_code, effective_from)
    proposal_id = str(uuid.uuid4())
    uow.conn.execute(insert(policy_proposals).values(
        proposal_id=proposal_id, name=name, region_code=region_code,
        effective_from=effective_from, value=value,
        replaces_value=None if in_force is None else in_force.value,
        source=source.strip(), reason=reason.strip(), status="proposed",
        proposed_by=str(officer), proposed_at=now))
    uow.commit()
    return proposal_id


def _proposal(conn: Connection, proposal_id: str) -> dict[str, Any]:
    row = conn.execute(select(policy_proposals).where(P.proposal_id == proposal_id)
                       ).mappings().first()
    if row is None:
        raise UnknownProposal(f"no policy proposal {proposal_id}")
    return dict(row)


def region_of(conn: Connection, proposal_id: str) -> str:
    return str(_proposal(conn, proposal_id)["region_code"])


def approve(uow: UnitOfWork, book: PolicyBook, proposal_id: str, officer: Officer, *,
            note: str | None, now: datetime) -> None:
    """Publish the proposal: the next sequence number, the event, the recalculation job."""
    conn = uow.conn
    row = _decidable(conn, proposal_id)
    if row["proposed_by"].split(":", 1)[-1] == officer.subject:
        raise ProposalRefused("four eyes: the officer who proposed a figure cannot approve it; "
                              "another policy officer must")
    _not_retroactive(row["name"], row["effective_from"], now)
    sequence = (conn.execute(select(func.max(P.sequence))).scalar() or 0) + 1
    figure = published_figure(proposal_id, row["name"], row["region_code"],
                              row["effective_from"], row["value"])
    before: PolicyTable = book.current(conn)
    replaced = before.figure(row["name"], row["region_code"], row["effective_from"])
    version = before.amended([figure]).version
    done = conn.execute(update(policy_proposals).where(P.proposal_id == proposal_id)
                        .where(P.status == "proposed").values(
        status="published", decided_by=str(officer), decided_at=now,
        decision_note=(note or "").strip() or None, sequence=sequence,
        policy_version=version, replaces_value=None if replaced is None else replaced.value))
    if done.rowcount != 1:
        raise ProposalRefused("the proposal was decided meanwhile")
    uow.publish(PolicyPublished(
        case_id=POLICY_KEY, proposal_id=proposal_id, sequence=sequence, name=row["name"],
        region_code=row["region_code"], effective_from=row["effective_from"],
        value=row["value"], replaces_value=None if replaced is None else replaced.value,
        proposed_by=row["proposed_by"], approved_by=str(officer), policy_version=version,
        published_at=now))
    if moves_amounts(row["name"]):  # time limits and verification's figures move no amount
        conn.execute(insert(recalculations).values(
            job_id=str(uuid.uuid4()), proposal_id=proposal_id, status="queued", cursor=None,
            total=_reached(conn, row["region_code"]), done=0, changed=0, to_review=0,
            claimed_by=None, lease_until=None, created_at=now, finished_at=None))
    uow.commit()


def reject(uow: UnitOfWork, proposal_id: str, officer: Officer, *, note: str,
           now: datetime) -> None:
    conn = uow.conn
    _decidable(conn, proposal_id)
    conn.execute(update(policy_proposals).where(P.proposal_id == proposal_id).values(
        status="rejected", decided_by=str(officer), decided_at=now,
        decision_note=note.strip()))
    uow.commit()


def _decidable(conn: Connection, proposal_id: str) -> dict[str, Any]:
    row = _proposal(conn, proposal_id)
    if row["status"] != "proposed":
        raise ProposalRefused(f"the proposal is {row['status']} already")
    return row


def in_region(figure_region: str) -> ColumnElement[bool]:
    """The cases a figure for ``figure_region`` may decide: the region and everything under
    it (unless a district sets its own figure: assessing finds that out)."""
    if figure_region == NATIONAL:
        return true()
    if figure_region.endswith("0000"):
        return cases.c.region_code.startswith(figure_region[:2])
    if figure_region.endswith("00"):
        return cases.c.region_code.startswith(figure_region[:4])
    return cases.c.region_code == figure_region


def recipients_query(figure_region: str) -> Select[tuple[str]]:
    """Every running recurring benefit a figure for ``figure_region`` may decide."""
    return (select(cases.c.case_id).where(cases.c.stage.in_(("approved", "exiting")))
            .where(cases.c.programme.in_(sorted(RECURRING))).where(in_region(figure_region)))


def _reached(conn: Connection, figure_region: str) -> int:
    q = recipients_query(figure_region).subquery()
    return int(conn.execute(select(func.count()).select_from(q)).scalar() or 0)
