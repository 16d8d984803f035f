"""Payments in payment's database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from services.payment.adapters.tables import payments
from services.payment.domain.model import ScheduledPayment

# Run for every approval, so built once (see intake's repository for why).
_EXISTS = (select(payments.c.payment_id)
           .where((payments.c.case_id == bindparam("cid"))
                  | (payments.c.beneficiary_ref == bindparam("ben")))
           .where(payments.c.programme == bindparam("prog"))
           .where(payments.c.period == bindparam("per")))
_ADD = insert(payments)


class PaymentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, payment: ScheduledPayment) -> bool:
        return self.conn.execute(_EXISTS, {
            "cid": payment.case_id, "ben": payment.beneficiary_ref,
            "prog": payment.programme, "per": payment.period}).first() is not None

    def add(self, payment_id: str, payment: ScheduledPayment, at: datetime) -> None:
        self.conn.execute(_ADD, {
            "payment_id": payment_id, "case_id": payment.case_id,
            "programme": payment.programme, "period": payment.period,
            "amount_fen": payment.amount_fen, "beneficiary_ref": payment.beneficiary_ref,
            "region_code": payment.region_code, "status": "scheduled", "scheduled_at": at})

    def for_case(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(payments).where(payments.c.case_id == case_id)
                                 .order_by(payments.c.period)).mappings()
        return [dict(r) for r in rows]
