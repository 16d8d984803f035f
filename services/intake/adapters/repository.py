"""Reading and writing cases: the translation between intake's tables and its domain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from services.intake.adapters.tables import cases, idempotency_keys, members, timeline
from services.intake.domain.model import CLOSED_STATUSES, Application

# The statements intake's consumer runs for every event, built once: building a statement and
# its cache key costs more than executing it on SQLite.
_STATUS = select(cases.c.status).where(cases.c.case_id == bindparam("cid"))
_SET_STATUS = (update(cases).where(cases.c.case_id == bindparam("cid"))
               .values(status=bindparam("status"), updated_at=bindparam("at")))
_SET_DECISION = (update(cases).where(cases.c.case_id == bindparam("cid"))
                 .values(status=bindparam("status"), updated_at=bindparam("at"),
                         decision=bindparam("decision")))
_RECORD = insert(timeline)
# Run inside every submission's write transaction, so its cost is paid while others wait.
_OPEN_CASES_OF = (
    select(members.c.person_ref, members.c.case_id)
    .join(cases, cases.c.case_id == members.c.case_id)
    .where(members.c.person_ref.in_(bindparam("refs", expanding=True)))
    .where(cases.c.programme == bindparam("programme"))
    .where(cases.c.status.not_in(CLOSED_STATUSES)))


class CaseRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, case_id: str, application: Application, refs: list[str],
            submitted_at: datetime) -> None:
        self.conn.execute(insert(cases).values(
            case_id=case_id, region_code=application.region_code,
            programme=application.programme, status="submitted",
            applicant_ref=refs[[m.relation for m in application.members].index("applicant")],
            submitted_at=submitted_at, updated_at=submitted_at))
        self.conn.execute(insert(members), [
            {
                "case_id": case_id, "position": i, "person_ref": refs[i], "name": m.name,
                "resident_id": m.resident_id.number, "relation": m.relation,
                "birth_date": m.resident_id.birth_date, "sex": m.resident_id.sex,
                "declared_incomes": json.dumps([
                    {"kind": d.kind, "monthly_amount_fen": d.monthly_amount_fen}
                    for d in m.declared_incomes]),
                "consent_signed_on": m.consent_signed_on,
            }
            for i, m in enumerate(application.members)
        ])

    def open_cases_of(self, refs: list[str], programme: str) -> dict[str, str]:
        """person_ref → case id, for these persons' cases of a programme that are not closed."""
        rows = self.conn.execute(_OPEN_CASES_OF, {"refs": refs, "programme": programme})
        return {ref: case_id for ref, case_id in rows}

    def status(self, case_id: str) -> str | None:
        return self.conn.execute(_STATUS, {"cid": case_id}).scalar_one_or_none()

    def set_status(self, case_id: str, status: str, at: datetime,
                   decision: dict[str, Any] | None = None) -> None:
        params: dict[str, Any] = {"cid": case_id, "status": status, "at": at}
        if decision is None:
            self.conn.execute(_SET_STATUS, params)
        else:
            params["decision"] = json.dumps(decision, ensure_ascii=False)
            self.conn.execute(_SET_DECISION, params)

    def record(self, case_id: str, event_id: str, at: datetime, event_type: str,
               summary: str) -> None:
        self.conn.execute(_RECORD, {"event_id": event_id, "case_id": case_id, "at": at,
                                    "event_type": event_type, "summary": summary})

    def get(self, case_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
        if row is None:
            return None
        people = self.conn.execute(
            select(members).where(members.c.case_id == case_id).order_by(members.c.position)
        ).mappings().all()
        events = self.conn.execute(
            select(timeline).where(timeline.c.case_id == case_id).order_by(timeline.c.at)
        ).mappings().all()
        return {"case": dict(row), "members": [dict(p) for p in people],
                "timeline": [dict(e) for e in events]}

    # Idempotency keys: a window clerk's double click, or a retry after a lost answer, must not
    # open a second case for the same household.
    def case_for_key(self, key: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.case_id)
            .where(idempotency_keys.c.key == key)).first()
        return None if row is None else (row[0], row[1])

    def remember_key(self, key: str, request_hash: str, case_id: str, at: datetime) -> None:
        self.conn.execute(insert(idempotency_keys).values(
            key=key, request_hash=request_hash, case_id=case_id, created_at=at))
