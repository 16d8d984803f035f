"""Who a pseudonym is. Events and the audit archive carry persons only as ``person_ref``; an
auditor who must know the person asks intake, the one service that stores names and resident ID
numbers. Every lookup is written down — who, which reference, why, whether it named anyone — in
the same transaction that reads the person, so no answer leaves without its record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, select

from services.intake.adapters.tables import cases, identity_lookups, members
from shared.auth.principals import area_of
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Identity:
    person_ref: str
    name: str
    resident_id: str
    cases: list[dict[str, Any]]


class OutsideJurisdiction(Exception):
    """The person exists, but in none of the asker's regions; ``region`` is one of theirs."""

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.region = region


def identify(uow: UnitOfWork, person_ref: str, reason: str, *, subject: str, role: str,
             covers: Callable[[str | None], bool]) -> Identity | None:
    rows = uow.conn.execute(
        select(members.c.name, members.c.resident_id, cases.c.case_id, cases.c.region_code,
               cases.c.town_code,
               cases.c.programme, cases.c.status)
        .join(cases, cases.c.case_id == members.c.case_id)
        .where(members.c.person_ref == person_ref)
        .order_by(cases.c.submitted_at)).all()
    visible = [r for r in rows if covers(area_of(r.region_code, r.town_code))]
    uow.conn.execute(insert(identity_lookups).values(
        at=datetime.now(UTC), subject=subject, role=role, person_ref=person_ref,
        reason=reason, found=bool(visible)))
    uow.commit()  # the record stands even when the answer is a refusal
    if rows and not visible:
        raise OutsideJurisdiction(area_of(rows[0].region_code, rows[0].town_code) or "")
    if not visible:
        return None
    last = visible[-1]  # the latest application's spelling of the name
    return Identity(person_ref, last.name, last.resident_id, [
        {"case_id": r.case_id, "region_code": r.region_code, "programme": r.programme,
         "status": r.status} for r in visible])


def lookups(conn: Connection, *, limit: int,
            where: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    """The lookups, newest first; only those ``where`` holds for, when given."""
    q = select(identity_lookups).order_by(identity_lookups.c.id.desc()).limit(limit)
    if where is not None:
        q = q.where(where)
    rows = conn.execute(q).mappings().all()
    return [{**r, "at": r["at"].isoformat() if r["at"] else None} for r in rows]
