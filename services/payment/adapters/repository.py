"""Payments and entitlements in payment's database."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    insert,
    literal_column,
    select,
    union_all,
    update,
)

from services.payment.adapters.tables import entitlements, payments
from services.payment.domain.model import Entitlement, ScheduledPayment
from shared.clock import as_utc

# Run for every approval and change, so built once (see intake's repository for why). The kind
# is written into the SQL, not bound: SQLite (and PostgreSQL with a generic plan) uses a partial
# index (WHERE kind = 'monthly') only when it can see that the query asks for that kind.
_MONTHLY = payments.c.kind == literal_column("'monthly'")
# Two searches, one per unique index, rather than one OR, which SQLite answered by scanning a
# whole index (EXPLAIN QUERY PLAN).
_MONTHLY_EXISTS = union_all(
    select(payments.c.payment_id).where(_MONTHLY, payments.c.case_id == bindparam("cid"),
                                        payments.c.programme == bindparam("prog"),
                                        payments.c.period == bindparam("per")),
    select(payments.c.payment_id).where(_MONTHLY, payments.c.beneficiary_ref == bindparam("ben"),
                                        payments.c.programme == bindparam("prog"),
                                        payments.c.period == bindparam("per")))
_ONE_OFF_EXISTS = (
    select(payments.c.payment_id)
    .where(payments.c.kind == literal_column("'one_off'"))
    .where(payments.c.case_id == bindparam("cid"))
    .where(payments.c.programme == bindparam("prog")))
_ADD = insert(payments)
_GET_ENTITLEMENT = select(entitlements).where(entitlements.c.case_id == bindparam("cid"))
_ADD_ENTITLEMENT = insert(entitlements)
_SET_ENTITLEMENT = (update(entitlements)
                    .where(entitlements.c.case_id == bindparam("cid"))
                    .values({c.name: bindparam(c.name) for c in entitlements.c
                             if c.name != "case_id"}))


class PaymentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, payment: ScheduledPayment) -> bool:
        """Whether this payment, or one that stands for it, was already scheduled: for a monthly
        payment, one for the same month through this case or any case of the beneficiary."""
        if payment.kind == "monthly":
            found = self.conn.execute(_MONTHLY_EXISTS, {
                "cid": payment.case_id, "ben": payment.beneficiary_ref,
                "prog": payment.programme, "per": payment.period}).first()
        else:
            found = self.conn.execute(_ONE_OFF_EXISTS, {
                "cid": payment.case_id, "prog": payment.programme}).first()
        return found is not None

    def add(self, payment_id: str, payment: ScheduledPayment, at: datetime) -> None:
        self.conn.execute(_ADD, {
            "payment_id": payment_id, "case_id": payment.case_id,
            "programme": payment.programme, "kind": payment.kind, "period": payment.period,
            "amount_fen": payment.amount_fen, "beneficiary_ref": payment.beneficiary_ref,
            "region_code": payment.region_code, "status": "scheduled", "scheduled_at": at})

    def for_case(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(payments).where(payments.c.case_id == case_id)
                                 .order_by(payments.c.period, payments.c.kind)).mappings()
        return [dict(r) for r in rows]

    def entitlement(self, case_id: str) -> Entitlement | None:
        row = self.conn.execute(_GET_ENTITLEMENT, {"cid": case_id}).mappings().first()
        if row is None:
            return None
        entitlement = Entitlement(**row)
        return replace(entitlement, updated_at=as_utc(entitlement.updated_at))

    def add_entitlement(self, entitlement: Entitlement) -> None:
        self.conn.execute(_ADD_ENTITLEMENT, _row(entitlement))

    def save_entitlement(self, entitlement: Entitlement) -> None:
        values = _row(entitlement)
        values["cid"] = values.pop("case_id")
        self.conn.execute(_SET_ENTITLEMENT, values)


def _row(entitlement: Entitlement) -> dict[str, Any]:
    # SQLite keeps a timestamp's wall-clock digits and drops its zone: store UTC so that the
    # digits read back mean the same moment, and compare correctly with the next change's time.
    return {**asdict(entitlement), "updated_at": entitlement.updated_at.astimezone(UTC)}
