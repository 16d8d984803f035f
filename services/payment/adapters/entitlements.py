"""Entitlements: a case's monthly benefit as a schedule of periods (from a month on, a status
and an amount), read one at a time — locked while a change is applied and its back pay
reckoned — or a region's a chunk at a time, in case id order, for a cycle, a preview or a
reconciliation.

Apart from the payments because an entitlement says what a month is due, not what was paid:
the schedule is rewritten by every change, the payments never are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from services.payment.adapters.tables import entitlements
from services.payment.domain.model import Entitlement, Period
from shared.clock import as_utc

# Built once, as the payments' statements are (adapters/payments.py).
_GET_ENTITLEMENT = select(entitlements).where(entitlements.c.case_id == bindparam("cid"))
# Held while a change is applied and its back pay reckoned: two changes of one case never
# reckon what was paid side by side (PostgreSQL; SQLite has one writer anyway).
_LOCK_ENTITLEMENT = _GET_ENTITLEMENT.with_for_update()
_ADD_ENTITLEMENT = insert(entitlements)
_SET_ENTITLEMENT = (update(entitlements)
                    .where(entitlements.c.case_id == bindparam("cid"))
                    .values(periods=bindparam("periods"), last_month=bindparam("last_month"),
                            updated_at=bindparam("updated_at")))


class Entitlements:
    """Cases' entitlements (``PaymentRepository`` gathers it with the other tables)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def entitlement(self, case_id: str, *, for_update: bool = False) -> Entitlement | None:
        row = self.conn.execute(_LOCK_ENTITLEMENT if for_update else _GET_ENTITLEMENT,
                                {"cid": case_id}).mappings().first()
        return None if row is None else _entitlement(row)

    def add_entitlement(self, entitlement: Entitlement) -> None:
        self.conn.execute(_ADD_ENTITLEMENT, _entitlement_row(entitlement))

    def save_entitlement(self, entitlement: Entitlement) -> None:
        row = _entitlement_row(entitlement)
        self.conn.execute(_SET_ENTITLEMENT, {"cid": entitlement.case_id,
                                             "periods": row["periods"],
                                             "last_month": row["last_month"],
                                             "updated_at": row["updated_at"]})

    def each_entitlement(self, region_code: str, month: str,
                         programmes: Sequence[str] | None = None,
                         chunk: int = 5_000) -> Iterator[Entitlement]:
        """Every entitlement of a region that may pay for ``month``, in case id order, read a
        chunk at a time (a preview or a reconciliation of a million never holds them all)."""
        after = None
        while batch := self.entitlements_in(region_code, month, after=after, limit=chunk,
                                            programmes=programmes):
            yield from batch
            after = batch[-1].case_id

    def entitlements_in(self, region_code: str, month: str, *, after: str | None, limit: int,
                        programmes: Sequence[str] | None = None,
                        lock: bool = False) -> list[Entitlement]:
        """A chunk of a region's entitlements that may pay for ``month`` (started by then, not
        ended before), in case id order after ``after``: the unit a cycle commits. ``lock``
        holds them shared until the commit (PostgreSQL): a change to one of them waits for the
        chunk's payments and then sees them (its back pay counts them), or the chunk waits for
        the change and pays the new amount — never a payment of the old amount the change did
        not see."""
        query = (select(entitlements)
                 .where(entitlements.c.region_code == region_code,
                        entitlements.c.start_month <= month,
                        (entitlements.c.last_month.is_(None))
                        | (entitlements.c.last_month >= month))
                 .order_by(entitlements.c.case_id).limit(limit))
        if after is not None:
            query = query.where(entitlements.c.case_id > after)
        if programmes:
            query = query.where(entitlements.c.programme.in_(programmes))
        if lock:
            query = query.with_for_update(read=True)
        return [_entitlement(r) for r in self.conn.execute(query).mappings()]


def _entitlement(row: Any) -> Entitlement:
    return Entitlement(
        case_id=row["case_id"], programme=row["programme"],
        beneficiary_ref=row["beneficiary_ref"], region_code=row["region_code"],
        start_month=row["start_month"],
        periods=tuple(Period(*p) for p in json.loads(row["periods"])),
        updated_at=as_utc(row["updated_at"]), household_size=row["household_size"])


def _entitlement_row(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "case_id": entitlement.case_id, "programme": entitlement.programme,
        "beneficiary_ref": entitlement.beneficiary_ref, "region_code": entitlement.region_code,
        "start_month": entitlement.start_month,
        "periods": json.dumps([[p.from_month, p.status, p.amount_fen, p.end_month]
                               for p in entitlement.periods]),
        "last_month": entitlement.last_month, "household_size": entitlement.household_size,
        # SQLite keeps a timestamp's wall-clock digits and drops its zone: store UTC so that
        # the digits read back mean the same moment, and compare correctly with the next one.
        "updated_at": entitlement.updated_at.astimezone(UTC)}
