"""Partner publications (bulk files) and their rejected lines in verification's database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from services.verification.adapters.tables import (
    partner_publication_rejections,
    partner_publications,
)
from services.verification.domain.publication import Rejected
from shared.bulk import insert_rows
from shared.clock import as_utc

_pubs = partner_publications.c
_BY_DIGEST = select(partner_publications).where(
    _pubs.department == bindparam("dept"), _pubs.digest == bindparam("digest"))
_BY_ID = select(partner_publications).where(_pubs.publication_id == bindparam("pid"))
# Moves the cursor only from where this ingestion found it: a second request ingesting the same
# file at the same time changes nothing here (0 rows) and gives up; on PostgreSQL it waits for
# the first one's batch to commit before it finds the cursor moved.
_ADVANCE = (update(partner_publications)
            .where(_pubs.publication_id == bindparam("pid"),
                   _pubs.applied_through == bindparam("from_line"))
            .values(applied_through=bindparam("to_line"),
                    lines=_pubs.lines + bindparam("n_lines"),
                    accepted=_pubs.accepted + bindparam("n_accepted"),
                    rejected=_pubs.rejected + bindparam("n_rejected"),
                    upserted=_pubs.upserted + bindparam("n_upserted"),
                    deleted=_pubs.deleted + bindparam("n_deleted")))


@dataclass(frozen=True)
class Publication:
    publication_id: int
    department: str
    digest: str  # SHA-256 of the file's bytes, hex
    format: str
    bytes: int
    received_at: datetime
    completed_at: datetime | None
    applied_through: int  # the last line applied
    lines: int
    accepted: int
    rejected: int
    upserted: int
    deleted: int


@dataclass(frozen=True)
class Progress:
    """What one batch adds to a publication."""

    to_line: int
    lines: int
    accepted: int
    rejected: int
    upserted: int
    deleted: int


def _publication(row: Any) -> Publication:
    values = dict(row._mapping)
    values["received_at"] = as_utc(values["received_at"])
    if values["completed_at"] is not None:
        values["completed_at"] = as_utc(values["completed_at"])
    return Publication(**values)


class PublicationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find(self, department: str, digest: str) -> Publication | None:
        row = self.conn.execute(_BY_DIGEST, {"dept": department, "digest": digest}).first()
        return None if row is None else _publication(row)

    def get(self, publication_id: int) -> Publication | None:
        row = self.conn.execute(_BY_ID, {"pid": publication_id}).first()
        return None if row is None else _publication(row)

    def add(self, department: str, digest: str, fmt: str, size: int,
            at: datetime) -> Publication:
        pid = self.conn.execute(insert(partner_publications).values(
            department=department, digest=digest, format=fmt, bytes=size, received_at=at,
            applied_through=0, lines=0, accepted=0, rejected=0, upserted=0, deleted=0,
        ).returning(_pubs.publication_id)).scalar_one()
        found = self.get(pid)
        assert found is not None
        return found

    def advance(self, publication_id: int, from_line: int, progress: Progress) -> bool:
        """Count a batch in, if the cursor is still at ``from_line``; False if it moved."""
        return self.conn.execute(_ADVANCE, {
            "pid": publication_id, "from_line": from_line, "to_line": progress.to_line,
            "n_lines": progress.lines, "n_accepted": progress.accepted,
            "n_rejected": progress.rejected, "n_upserted": progress.upserted,
            "n_deleted": progress.deleted}).rowcount == 1

    def complete(self, publication_id: int, at: datetime) -> None:
        self.conn.execute(update(partner_publications)
                          .where(_pubs.publication_id == publication_id)
                          .values(completed_at=at))

    def add_rejections(self, publication_id: int, rejected: list[Rejected]) -> None:
        insert_rows(self.conn, partner_publication_rejections, [
            {"publication_id": publication_id, "line_no": r.line, "reason": r.reason}
            for r in rejected])

    def rejections(self, publication_id: int) -> list[Rejected]:
        rows = self.conn.execute(
            select(partner_publication_rejections.c.line_no,
                   partner_publication_rejections.c.reason)
            .where(partner_publication_rejections.c.publication_id == publication_id)
            .order_by(partner_publication_rejections.c.line_no))
        return [Rejected(line, reason) for line, reason in rows]

    def newest(self, department: str | None, limit: int) -> list[Publication]:
        query = select(partner_publications).order_by(_pubs.publication_id.desc()).limit(limit)
        if department is not None:
            query = query.where(_pubs.department == department)
        return [_publication(row) for row in self.conn.execute(query)]
