"""The partner-data access log: written where partner data is read, listed to auditors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from services.verification.adapters.tables import partner_data_access
from shared.bulk import insert_rows
from shared.clock import as_utc
from shared.sql import within

SYSTEM = "verification"


def log_access(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of: at, actor, role, purpose, case_id, region_code, town_code, sources (a list)."""
    insert_rows(conn, partner_data_access, [
        {**row, "sources": ",".join(sorted(set(row["sources"])))} for row in rows])


def accesses(conn: Connection, jurisdiction: str, *, case_id: str | None, limit: int
             ) -> list[dict[str, Any]]:
    query = select(partner_data_access).where(within(
        jurisdiction, partner_data_access.c.region_code, partner_data_access.c.town_code))
    if case_id is not None:
        query = query.where(partner_data_access.c.case_id == case_id)
    query = query.order_by(partner_data_access.c.access_id.desc()).limit(limit)
    return [{"at": as_utc(r["at"]).isoformat(), "actor": r["actor"], "role": r["role"],
             "purpose": r["purpose"], "case_id": r["case_id"], "region_code": r["region_code"],
             "town_code": r["town_code"],
             "sources": r["sources"].split(",") if r["sources"] else []}
            for r in conn.execute(query).mappings()]
