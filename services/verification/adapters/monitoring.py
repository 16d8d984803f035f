"""Early warnings, discovery leads and temporary grants in verification's database."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, and_, func, or_, select, update

from services.verification.adapters.tables import (
    discovery_leads,
    early_warnings,
    household_members,
    temporary_grants,
)
from services.verification.domain.monitoring import Evidence
from shared.bulk import insert_new
from shared.clock import as_utc
from shared.sql import among, within


@dataclass(frozen=True)
class Closing:
    outcome: str
    note: str | None
    closed_by: str
    closed_at: datetime


def _closed(row: RowMapping) -> dict[str, Any] | None:
    if row["closed_at"] is None:
        return None
    return {"outcome": row["outcome"], "note": row["note"], "closed_by": row["closed_by"],
            "closed_at": as_utc(row["closed_at"]).isoformat()}


def _page(conn: Connection, table: Table, id_column: str, jurisdiction: str, *, open_only: bool,
          limit: int, after: str | None) -> list[RowMapping]:
    """The newest first; ``after`` (an id) continues a page."""
    query = select(table).where(within(jurisdiction, table.c.region_code, table.c.town_code))
    if open_only:
        query = query.where(table.c.closed_at.is_(None))
    if after is not None:
        mark = conn.execute(select(table.c.raised_at).where(table.c[id_column] == after)).first()
        if mark is not None:
            query = query.where(or_(table.c.raised_at < mark[0], and_(
                table.c.raised_at == mark[0], table.c[id_column] < after)))
    query = query.order_by(table.c.raised_at.desc(), table.c[id_column].desc()).limit(limit)
    return list(conn.execute(query).mappings())


class WarningRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_new(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        return insert_new(self.conn, early_warnings, rows, "warning_id")

    def get(self, warning_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(early_warnings).where(
            early_warnings.c.warning_id == warning_id)).mappings().first()
        return None if row is None else warning_view(row)

    def page(self, jurisdiction: str, *, open_only: bool, limit: int,
             after: str | None = None) -> list[dict[str, Any]]:
        return [warning_view(r) for r in _page(self.conn, early_warnings, "warning_id",
                                               jurisdiction, open_only=open_only, limit=limit,
                                               after=after)]

    def of_case(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(early_warnings).where(
            early_warnings.c.case_id == case_id).order_by(early_warnings.c.raised_at))
        return [warning_view(r) for r in rows.mappings()]

    def close(self, warning_id: str, closing: Closing) -> bool:
        """False when it was closed already (by someone else, a moment ago)."""
        return bool(self.conn.execute(
            update(early_warnings)
            .where(early_warnings.c.warning_id == warning_id, early_warnings.c.closed_at.is_(None))
            .values(outcome=closing.outcome, note=closing.note, closed_by=closing.closed_by,
                    closed_at=closing.closed_at)).rowcount)


def warning_view(row: RowMapping) -> dict[str, Any]:
    return {"warning_id": row["warning_id"], "case_id": row["case_id"],
            "region_code": row["region_code"], "town_code": row["town_code"],
            "indicator": row["indicator"], "tier": row["tier"], **_reason(row),
            "person_ref": row["person_ref"], "raised_at": as_utc(row["raised_at"]).isoformat(),
            "closed": _closed(row)}


class LeadRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_new(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        return insert_new(self.conn, discovery_leads, rows, "lead_id")

    def open_for(self, person_refs: Sequence[str]) -> dict[str, str]:
        """person_ref → an open lead's id, for those of these persons who have one."""
        if not person_refs:
            return {}
        rows = self.conn.execute(select(discovery_leads.c.person_ref, discovery_leads.c.lead_id)
                                 .where(among(discovery_leads.c.person_ref, "refs"),
                                        discovery_leads.c.closed_at.is_(None)),
                                 {"refs": person_refs})
        return {ref: lead for ref, lead in rows}

    def get(self, lead_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(discovery_leads).where(
            discovery_leads.c.lead_id == lead_id)).mappings().first()
        return None if row is None else lead_view(row)

    def page(self, jurisdiction: str, *, open_only: bool, limit: int,
             after: str | None = None) -> list[dict[str, Any]]:
        return [lead_view(r) for r in _page(self.conn, discovery_leads, "lead_id", jurisdiction,
                                            open_only=open_only, limit=limit, after=after)]

    def close(self, lead_id: str, closing: Closing, case_id: str | None) -> bool:
        return bool(self.conn.execute(
            update(discovery_leads)
            .where(discovery_leads.c.lead_id == lead_id, discovery_leads.c.closed_at.is_(None))
            .values(outcome=closing.outcome, note=closing.note, closed_by=closing.closed_by,
                    closed_at=closing.closed_at, case_id=case_id)).rowcount)


def lead_view(row: RowMapping) -> dict[str, Any]:
    return {"lead_id": row["lead_id"], "person_ref": row["person_ref"],
            "region_code": row["region_code"], "town_code": row["town_code"],
            "kind": row["kind"], **_reason(row),
            "evidence": json.loads(row["evidence"]),
            "raised_at": as_utc(row["raised_at"]).isoformat(), "case_id": row["case_id"],
            "closed": _closed(row)}


def _reason(row: RowMapping) -> dict[str, Any]:
    """Why, as stored: the code, its figures, and the words of a reason raised before issue 26
    (``legacy_reason``; None since), which the reader renders in their language."""
    return {"reason_code": row["reason_code"], "reason_params": json.loads(row["reason_params"]),
            "legacy_reason": row["reason"]}


def reason_json(params: Mapping[str, int | str]) -> str:
    return json.dumps(dict(params), sort_keys=True)


def evidence_json(evidence: Sequence[Evidence]) -> str:
    return json.dumps([{"department": e.department, "record_id": e.record_id, "kind": e.kind,
                        "amount_fen": e.amount_fen, "as_of": e.as_of.isoformat()}
                       for e in evidence], ensure_ascii=False)


class GrantRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, case_id: str, decided_at: datetime) -> bool:
        """False when the grant was recorded already (a decision delivered twice)."""
        return bool(insert_new(self.conn, temporary_grants,
                               [{"case_id": case_id, "decided_at": decided_at}], "case_id"))

    def decided(self, case_ids: Sequence[str]) -> dict[str, datetime]:
        if not case_ids:
            return {}
        rows = self.conn.execute(select(temporary_grants.c.case_id, temporary_grants.c.decided_at)
                                 .where(among(temporary_grants.c.case_id, "cids")),
                                 {"cids": case_ids})
        return {cid: as_utc(at) for cid, at in rows}

    def count_for_members(self, person_refs: Sequence[str], since: date) -> int:
        """Grants since a day to any case with one of these persons as a member: a household's
        temporary assistance, whoever applied for it."""
        cases = (select(household_members.c.case_id)
                 .where(household_members.c.person_ref.in_(list(person_refs))))
        return self.conn.execute(
            select(func.count()).select_from(temporary_grants)
            .where(temporary_grants.c.case_id.in_(cases),
                   temporary_grants.c.decided_at >= datetime(since.year, since.month, since.day,
                                                             tzinfo=UTC))).scalar_one()

