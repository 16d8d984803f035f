"""A case as the replay's fold rebuilds it from the log: its stage, facts, decision,
entitlement and payments, and the timeline lines it leaves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.approval.rules import CaseFacts, ReportFindings

# One line of a case's timeline: case id, the event's moment as the archive keeps it
# (microseconds since the epoch, UTC), type, summary, event id. A plain tuple: one is made per
# event, and a dataclass's ``__init__`` cost twice as much as a named tuple's, which cost
# seven times a tuple's.
Entry = tuple[str, int, str, str, str | None]
Schedule = tuple[tuple[str, int], ...]  # (from month, monthly fen), in order

# How long after a decision or change replaced a month's amount a payment may still pay by the
# old one: payment hears the change through the bus, a moment after approval makes it, and may
# pay the month meanwhile (then tops it up with back pay, for a rise). A day covers a consumer
# held back by an outage; a payment older in its reckoning than that is a finding.
CHANGE_REACHES_PAYMENT = timedelta(days=1)


@dataclass
class CaseState:
    case_id: str
    programme: str | None = None
    region_code: str | None = None
    submitted_at: datetime | None = None
    stage: str | None = None
    sequence: int = 0
    stage_since: datetime | None = None
    due_at: datetime | None = None
    member_refs: tuple[str, ...] = ()
    facts: CaseFacts | None = None  # the application's, with the reports assessed so far
    reports: list[ReportFindings] = field(default_factory=list)  # not yet applied
    reported_at: dict[str, datetime] = field(default_factory=dict)
    # report id → the departments its report marked stale (partner data past its freshness)
    stale_sources: dict[str, list[str]] = field(default_factory=dict)
    assessment: dict[str, Any] | None = None  # the latest published, as recorded
    assessments: int = 0
    divergences: int = 0
    decision: dict[str, Any] | None = None
    schedule: list[tuple[str, int]] = field(default_factory=list)  # (from month, monthly fen)
    # The schedules before it, each with the moment the next replaced it (``entitled_lately``).
    replaced: list[tuple[datetime, Schedule]] = field(default_factory=list)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    paid_fen: int = 0
    events: int = 0
    opened: int = 0  # the position of its first event in the stream

    @property
    def region(self) -> str:
        """Its region, known from the application, or until then from its id (which starts
        with the region's code)."""
        return self.region_code or self.case_id[:6]

    def monthly_for(self, month: str) -> int:
        """The monthly amount the decisions entitle the case to in a month."""
        return _monthly(self.schedule, month)

    def reschedule(self, schedule: list[tuple[str, int]], at: datetime) -> None:
        """A decision or change sets the schedule from ``at`` on."""
        if self.schedule:
            self.replaced.append((at, tuple(self.schedule)))
        self.schedule = schedule

    def entitled_lately(self, month: str, fen: int, at: datetime) -> bool:
        """Whether the decisions entitle ``month`` to ``fen`` at ``at``, or did until a change
        made less than ``CHANGE_REACHES_PAYMENT`` before it (one payment had not heard yet)."""
        if self.monthly_for(month) == fen:
            return True
        return any(replaced_at >= at - CHANGE_REACHES_PAYMENT and _monthly(before, month) == fen
                   for replaced_at, before in self.replaced)

    def view(self) -> dict[str, Any]:
        """The case as an auditor reads it (and as the fresh store keeps it)."""
        d = self.decision or {}
        return {
            "case_id": self.case_id, "programme": self.programme,
            "region_code": self.region_code, "stage": self.stage, "sequence": self.sequence,
            "submitted_at": _iso(self.submitted_at), "stage_since": _iso(self.stage_since),
            "due_at": _iso(self.due_at), "members": len(self.member_refs),
            "outcome": d.get("outcome"), "decided_at": _iso(d.get("decided_at")),
            "monthly_amount_fen": self.schedule[-1][1] if self.schedule else 0,
            "one_off_amount_fen": d.get("one_off_amount_fen", 0),
            "assessments": self.assessments, "divergences": self.divergences,
            "payments": len(self.payments), "paid_fen": self.paid_fen, "events": self.events}


def _monthly(schedule: Iterable[tuple[str, int]], month: str) -> int:
    amount = 0
    for start, fen in schedule:
        if start <= month:
            amount = fen
    return amount


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
