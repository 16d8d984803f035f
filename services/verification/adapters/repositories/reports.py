"""The verification reports made on each case, numbered in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    select,
)

from services.verification.adapters.tables import (
    reports,
)
from shared.clock import as_utc
from shared.sql import among

# Statements run for every application or publication, built once (see intake's repository).
_APPLICATION_REPORTED = select(reports.c.report_id).where(
    reports.c.case_id == bindparam("cid"), reports.c.occasion == "application")


_LATEST_SEQ = (select(reports.c.case_id, func.max(reports.c.seq).label("seq"))
               .where(among(reports.c.case_id, "cids"))
               .group_by(reports.c.case_id).subquery())
_LATEST_REPORTS = select(reports).join(
    _LATEST_SEQ, and_(reports.c.case_id == _LATEST_SEQ.c.case_id,
                      reports.c.seq == _LATEST_SEQ.c.seq))


def _stored(row: Any) -> StoredReport:
    return StoredReport(case_id=row.case_id, seq=row.seq, report_id=row.report_id,
                        occasion=row.occasion, body=row.body, created_at=as_utc(row.created_at))


@dataclass(frozen=True)
class StoredReport:
    case_id: str
    seq: int  # 1 for a case's first report, then 2, 3, …
    report_id: str
    occasion: str
    body: str  # JSON of the VerificationReported event
    created_at: datetime


class ReportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def has_application_report(self, case_id: str) -> bool:
        return self.conn.execute(_APPLICATION_REPORTED, {"cid": case_id}).first() is not None

    def add(self, new: list[StoredReport]) -> None:
        if new:
            self.conn.execute(insert(reports), [
                {"report_id": r.report_id, "case_id": r.case_id, "seq": r.seq,
                 "occasion": r.occasion, "body": r.body, "created_at": r.created_at}
                for r in new])

    def latest(self, case_ids: list[str]) -> dict[str, StoredReport]:
        """Each case's latest report, for any number of cases in one query."""
        if not case_ids:
            return {}
        rows = self.conn.execute(_LATEST_REPORTS, {"cids": case_ids})
        return {r.case_id: _stored(r) for r in rows}

    def of_case(self, case_id: str) -> list[StoredReport]:
        """A case's reports, the first first."""
        rows = self.conn.execute(select(reports).where(reports.c.case_id == case_id)
                                 .order_by(reports.c.seq))
        return [_stored(r) for r in rows]
