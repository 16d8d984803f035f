"""The log of look-ups of who a discovery lead is, in verification's database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select

from services.verification.adapters.tables import lead_person_lookups
from shared.clock import CHINA, as_utc
from shared.sql import within


class PersonLookupRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(lead_person_lookups).values(**row))

    def page(self, jurisdiction: str, *, region: str | None = None, since: date | None = None,
             until: date | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The look-ups of leads within ``jurisdiction`` (and ``region``, a district's or a
        town's code, when given), made from ``since`` to ``until`` (days in China, both
        included), newest first."""
        t = lead_person_lookups
        query = select(t).where(within(jurisdiction, t.c.region_code, t.c.town_code))
        if region:
            query = query.where(within(region, t.c.region_code, t.c.town_code))
        if since is not None:
            query = query.where(t.c.at >= _midnight(since))
        if until is not None:
            query = query.where(t.c.at < _midnight(until + timedelta(days=1)))
        query = query.order_by(t.c.at.desc(), t.c.lookup_id.desc()).limit(limit)
        return [lookup_view(r) for r in self.conn.execute(query).mappings()]


def _midnight(day: date) -> datetime:
    """The moment a day begins in China, as every office counts its days."""
    return as_utc(datetime.combine(day, time(), tzinfo=CHINA))


def lookup_view(row: RowMapping) -> dict[str, Any]:
    return {"lookup_id": row["lookup_id"], "at": as_utc(row["at"]).isoformat(),
            "subject": row["subject"], "role": row["role"], "lead_id": row["lead_id"],
            "region_code": row["region_code"], "town_code": row["town_code"],
            "department": row["department"], "record_id": row["record_id"],
            "reason": row["reason"], "outcome": row["outcome"], "detail": row["detail"]}
