"""Payment's own tables. The unique key is the last guard against paying a household twice."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, UniqueConstraint

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("programme", String(30), nullable=False),
    Column("period", String(7), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("beneficiary_ref", String(40), nullable=False, index=True),
    Column("region_code", String(6), nullable=False),
    Column("status", String(20), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    # One payment per case, programme and month — and per beneficiary, programme and month, so
    # that not even two cases of one household are paid twice — whatever the code above does.
    UniqueConstraint("case_id", "programme", "period", name="uq_payment_once_per_period"),
    UniqueConstraint("beneficiary_ref", "programme", "period",
                     name="uq_payment_once_per_beneficiary"),
)
