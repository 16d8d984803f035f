"""Reports waiting for live partner sources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from services.verification.adapters.tables import households, pending_reports
from shared.clock import as_utc
from shared.sql import within


@dataclass(frozen=True)
class Pending:
    case_id: str
    occasion: str
    since: datetime
    attempts: int
    next_attempt_at: datetime
    missing: str | None


def _pending(row: Any) -> Pending:
    return Pending(row.case_id, row.occasion, as_utc(row.since), row.attempts,
                   as_utc(row.next_attempt_at), row.missing)


class PendingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def wait(self, case_id: str, occasion: str, now: datetime) -> None:
        """The case's report waits for the live sources, to be tried at once. A second reason
        to report (a review while the application still waits) keeps the first."""
        if self.get(case_id) is None:
            self.conn.execute(insert(pending_reports).values(
                case_id=case_id, occasion=occasion, since=now, attempts=0, next_attempt_at=now))

    def get(self, case_id: str) -> Pending | None:
        row = self.conn.execute(select(pending_reports)
                                .where(pending_reports.c.case_id == case_id)).first()
        return None if row is None else _pending(row)

    def due(self, now: datetime, limit: int) -> list[Pending]:
        rows = self.conn.execute(select(pending_reports)
                                 .where(pending_reports.c.next_attempt_at <= now)
                                 .order_by(pending_reports.c.next_attempt_at).limit(limit))
        return [_pending(r) for r in rows]

    def retry(self, case_id: str, attempts: int, next_at: datetime, missing: str) -> None:
        self.conn.execute(update(pending_reports).where(pending_reports.c.case_id == case_id)
                          .values(attempts=attempts, next_attempt_at=next_at, missing=missing))

    def done(self, case_id: str) -> bool:
        """False when it was done already (another worker)."""
        return bool(self.conn.execute(delete(pending_reports)
                                      .where(pending_reports.c.case_id == case_id)).rowcount)

    def page(self, jurisdiction: str, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(pending_reports, households.c.region_code, households.c.town_code)
            .join(households, households.c.case_id == pending_reports.c.case_id)
            .where(within(jurisdiction, households.c.region_code, households.c.town_code))
            .order_by(pending_reports.c.since).limit(limit))
        return [{"case_id": r.case_id, "occasion": r.occasion,
                 "since": as_utc(r.since).isoformat(), "attempts": r.attempts,
                 "next_attempt_at": as_utc(r.next_attempt_at).isoformat(),
                 "missing": _missing(r.missing), "region_code": r.region_code,
                 "town_code": r.town_code} for r in rows]


def _missing(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    return [{"department": d, "reason": reason} for d, _, reason in
            (part.partition(": ") for part in text.split("; "))]


def missing_text(missing: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{d}: {reason.replace(';', ',')}" for d, reason in missing)
