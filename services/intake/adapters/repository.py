"""Reading and writing cases: the translation between intake's tables and its domain."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.intake.adapters.tables import cases, idempotency_keys, members, timeline
from services.intake.domain.model import Application, CaseStatus, closed_statuses

# The statements intake's consumer runs for every event, built once: building a statement and
# its cache key costs more than executing it on SQLite.
_STATUS = (select(cases.c.status, cases.c.stage_seq)
           .where(cases.c.case_id == bindparam("cid")))
# The status an event moves is read, changed and written back. Events of one case come on
# several topics, so two instances of intake can hold events of the same case at once; without
# the row lock the second writer would overwrite the first one's move with a status computed
# from what it read before (found by bench/chaos.py: a paid case shown as "verified").
# SQLite renders no FOR UPDATE, and needs none: it has one writer.
_STATUS_FOR_UPDATE = _STATUS.with_for_update()
# Events arrive out of order, so updated_at keeps the latest event time rather than the last
# one applied. (On SQLite both sides are UTC text of one format, which compares as time does.)
_AT = bindparam("at", type_=cases.c.updated_at.type)
_LATEST_AT = case((cases.c.updated_at < _AT, _AT), else_=cases.c.updated_at)
_SET_STATUS = (update(cases).where(cases.c.case_id == bindparam("cid"))
               .values(status=bindparam("status"), stage_seq=bindparam("seq"),
                       updated_at=_LATEST_AT))
_SET_DECISION = (update(cases).where(cases.c.case_id == bindparam("cid"))
                 .values(status=bindparam("status"), stage_seq=bindparam("seq"),
                         updated_at=_LATEST_AT, decision=bindparam("decision")))
# A timeline entry is keyed by its event id: an event applied twice leaves one entry, and the
# handler learns from the row count that it has been here before.
_PAID = (select(timeline.c.event_id).where(timeline.c.case_id == bindparam("cid"))
         .where(timeline.c.event_type == "onedoor.payment.scheduled").limit(1))
_RECORD_ANY = insert(timeline)  # for a database other than these two
_RECORD = {
    "sqlite": sqlite.insert(timeline).on_conflict_do_nothing(index_elements=["event_id"]),
    "postgresql": postgresql.insert(timeline).on_conflict_do_nothing(
        index_elements=["event_id"]),
}
# Run inside every submission's write transaction, so its cost is paid while others wait.
_OPEN_CASES_OF = (
    select(members.c.person_ref, members.c.case_id, cases.c.region_code, cases.c.town_code)
    .join(cases, cases.c.case_id == members.c.case_id)
    .where(members.c.person_ref.in_(bindparam("refs", expanding=True)))
    .where(cases.c.programme == bindparam("programme"))
    .where(cases.c.status.not_in(bindparam("closed", expanding=True))))


class CaseRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, case_id: str, application: Application, refs: list[str],
            submitted_at: datetime) -> None:
        self.conn.execute(insert(cases).values(
            case_id=case_id, region_code=application.region_code,
            town_code=application.town_code,
            programme=application.programme, status="submitted",
            applicant_ref=refs[[m.relation for m in application.members].index("applicant")],
            submitted_at=submitted_at, updated_at=submitted_at,
            legal_supporters=json.dumps([
                {"relation": sup.relation, "able_to_support": sup.able_to_support}
                for sup in application.legal_supporters]),
            care_mode=application.care_mode,
            temporary=None if application.temporary is None else json.dumps(
                dataclasses.asdict(application.temporary), ensure_ascii=False),
            referrals=json.dumps(list(application.referrals))))
        self.conn.execute(insert(members), [
            {
                "case_id": case_id, "position": i, "person_ref": refs[i], "name": m.name,
                "resident_id": m.resident_id.number, "relation": m.relation,
                "birth_date": m.resident_id.birth_date, "sex": m.resident_id.sex,
                "declared_incomes": json.dumps([
                    {"kind": d.kind, "monthly_amount_fen": d.monthly_amount_fen}
                    for d in m.declared_incomes]),
                "consent_signed_on": m.consent_signed_on,
                "disability_grade": m.disability_grade, "able_to_work": m.able_to_work,
                "self_care": m.self_care, "father": m.father, "mother": m.mother,
                "child_care": m.child_care, "schooling": m.schooling,
            }
            for i, m in enumerate(application.members)
        ])

    def open_cases_of(self, refs: list[str], programme: str
                      ) -> dict[str, tuple[str, str, str | None]]:
        """person_ref → (case id, region, town), for these persons' cases of a programme that
        are not closed."""
        rows = self.conn.execute(_OPEN_CASES_OF, {"refs": refs, "programme": programme,
                                                  "closed": list(closed_statuses(programme))})
        return {ref: (case_id, region, town) for ref, case_id, region, town in rows}

    def status(self, case_id: str, *, for_update: bool = False) -> CaseStatus | None:
        """The case's status; ``for_update`` holds its row until the transaction ends."""
        row = self.conn.execute(_STATUS_FOR_UPDATE if for_update else _STATUS,
                                {"cid": case_id}).first()
        return None if row is None else CaseStatus(row.status, row.stage_seq)

    def set_status(self, case_id: str, status: CaseStatus, at: datetime,
                   decision: dict[str, Any] | None = None) -> None:
        """Store the status (and the decision, when given); ``at`` is the event's time."""
        params: dict[str, Any] = {"cid": case_id, "status": status.status,
                                  "seq": status.stage_seq, "at": at.astimezone(UTC)}
        if decision is None:
            self.conn.execute(_SET_STATUS, params)
        else:
            params["decision"] = json.dumps(decision, ensure_ascii=False)
            self.conn.execute(_SET_DECISION, params)

    def has_payment(self, case_id: str) -> bool:
        return self.conn.execute(_PAID, {"cid": case_id}).first() is not None

    def record(self, case_id: str, event_id: str, at: datetime, event_type: str,
               summary: str) -> bool:
        """Add a timeline entry; False when this event's entry is already there."""
        statement = _RECORD.get(self.conn.dialect.name, _RECORD_ANY)
        result = self.conn.execute(statement, {"event_id": event_id, "case_id": case_id,
                                               "at": at, "event_type": event_type,
                                               "summary": summary})
        return result.rowcount != 0

    def get(self, case_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
        if row is None:
            return None
        people = self.conn.execute(
            select(members).where(members.c.case_id == case_id).order_by(members.c.position)
        ).mappings().all()
        events = self.conn.execute(
            select(timeline).where(timeline.c.case_id == case_id)
            .order_by(timeline.c.at, timeline.c.event_id)
        ).mappings().all()
        return {"case": dict(row), "members": [dict(p) for p in people],
                "timeline": [dict(e) for e in events]}

    def listed(self, where: Any, *, status: str | None, programme: str | None,
               limit: int) -> list[dict[str, Any]]:
        """Cases, newest first, for the window's lists: no names, no ID numbers."""
        q = (select(cases.c.case_id, cases.c.region_code, cases.c.town_code, cases.c.programme,
                    cases.c.status, cases.c.submitted_at, cases.c.updated_at)
             .where(where).order_by(cases.c.submitted_at.desc(), cases.c.case_id).limit(limit))
        if status is not None:
            q = q.where(cases.c.status == status)
        if programme is not None:
            q = q.where(cases.c.programme == programme)
        return [dict(r) for r in self.conn.execute(q).mappings()]

    def cases_of_person(self, ref: str, where: Any) -> list[dict[str, Any]]:
        q = (select(cases.c.case_id, cases.c.region_code, cases.c.town_code, cases.c.programme,
                    cases.c.status, cases.c.submitted_at, members.c.relation)
             .join(members, members.c.case_id == cases.c.case_id)
             .where(members.c.person_ref == ref, where)
             .order_by(cases.c.submitted_at.desc()))
        return [dict(r) for r in self.conn.execute(q).mappings()]

    # Idempotency keys: a window clerk's double click, or a retry after a lost answer, must not
    # open a second case for the same household. A key is its caller's (Principal.key_scope).
    def case_for_key(self, caller: str, key: str
                     ) -> tuple[str, str, str | None, str | None] | None:
        """(request hash, case id, region, town) remembered for the caller's key."""
        row = self.conn.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.case_id,
                   cases.c.region_code, cases.c.town_code)
            .outerjoin(cases, cases.c.case_id == idempotency_keys.c.case_id)
            .where(idempotency_keys.c.caller == caller, idempotency_keys.c.key == key)).first()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def remember_key(self, caller: str, key: str, request_hash: str, case_id: str,
                     at: datetime) -> None:
        self.conn.execute(insert(idempotency_keys).values(
            caller=caller, key=key, request_hash=request_hash, case_id=case_id, created_at=at))
