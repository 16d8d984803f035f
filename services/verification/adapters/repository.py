"""Partner records, credentials and reports in verification's database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from services.verification.adapters.tables import partner_credentials, partner_records, reports
from services.verification.domain.model import PartnerRecord

# Statements run for every application, built once (see intake's repository for why).
_RECORDS_OF = select(partner_records).where(
    partner_records.c.person_ref.in_(bindparam("refs", expanding=True)))
_REPORT_EXISTS = select(reports.c.case_id).where(reports.c.case_id == bindparam("cid"))
_ADD_REPORT = insert(reports)


def token_digest(token: str) -> str:
    # Tokens are long random strings, so a plain SHA-256 is enough: there is nothing to
    # brute-force that a slow hash would protect.
    return hashlib.sha256(token.encode()).hexdigest()


class PartnerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def department_for_token(self, token: str) -> str | None:
        return self.conn.execute(
            select(partner_credentials.c.department)
            .where(partner_credentials.c.token_sha256 == token_digest(token))
        ).scalar_one_or_none()

    def set_token(self, department: str, token: str) -> None:
        values = {"token_sha256": token_digest(token), "created_at": datetime.now(UTC)}
        changed = self.conn.execute(update(partner_credentials)
                                    .where(partner_credentials.c.department == department)
                                    .values(**values)).rowcount
        if not changed:
            self.conn.execute(insert(partner_credentials).values(department=department, **values))

    def revoke_tokens(self, tokens: list[str]) -> int:
        """Remove the credentials whose token is one of these; returns how many there were."""
        digests = [token_digest(t) for t in tokens]
        return self.conn.execute(delete(partner_credentials)
                                 .where(partner_credentials.c.token_sha256.in_(digests))
                                 ).rowcount or 0

    def upsert(self, records: list[PartnerRecord]) -> None:
        """Insert new records; a record sent again (same department and id) replaces the old."""
        now = datetime.now(UTC)
        keys = {(r.department, r.record_id) for r in records}
        existing = set()
        if keys:
            existing = set(self.conn.execute(
                select(partner_records.c.department, partner_records.c.record_id)
                .where(partner_records.c.record_id.in_([k[1] for k in keys]))
            ).tuples())
        new = [r for r in records if (r.department, r.record_id) not in existing]
        if new:
            self.conn.execute(insert(partner_records), [
                {"department": r.department, "record_id": r.record_id, "kind": r.kind,
                 "person_ref": r.person_ref, "amount_fen": r.amount_fen, "as_of": r.as_of,
                 "received_at": now} for r in new])
        for r in records:
            if (r.department, r.record_id) in existing:
                self.conn.execute(
                    update(partner_records)
                    .where(partner_records.c.department == r.department)
                    .where(partner_records.c.record_id == r.record_id)
                    .values(kind=r.kind, person_ref=r.person_ref, amount_fen=r.amount_fen,
                            as_of=r.as_of, received_at=now))

    def for_persons(self, refs: list[str]) -> list[PartnerRecord]:
        rows = self.conn.execute(_RECORDS_OF, {"refs": refs}).mappings()
        return [PartnerRecord(department=r["department"], record_id=r["record_id"],
                              kind=r["kind"], person_ref=r["person_ref"],
                              amount_fen=r["amount_fen"], as_of=r["as_of"]) for r in rows]


class ReportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, case_id: str) -> bool:
        return self.conn.execute(_REPORT_EXISTS, {"cid": case_id}).first() is not None

    def add(self, case_id: str, report_id: str, body: str, at: datetime) -> None:
        self.conn.execute(_ADD_REPORT, {"case_id": case_id, "report_id": report_id,
                                        "body": body, "created_at": at})

    def get(self, case_id: str) -> str | None:
        return self.conn.execute(
            select(reports.c.body).where(reports.c.case_id == case_id)).scalar_one_or_none()
