"""Payment's own tables. The unique indexes are the last guard against paying a household twice."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    text,
)

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

_MONTHLY = text("kind = 'monthly'")
_ONE_OFF = text("kind = 'one_off'")

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("programme", String(30), nullable=False),
    # A writer that forgets the kind gets the most constrained one: refused, never paid twice.
    Column("kind", String(10), nullable=False, server_default="monthly"),
    Column("period", String(7), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("beneficiary_ref", String(40), nullable=False, index=True),
    Column("region_code", String(6), nullable=False),
    Column("status", String(20), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    # Any other kind would escape every index below.
    CheckConstraint("kind IN ('monthly', 'one_off')", name="ck_payments_kind"),
    # Monthly: one payment per case, programme and month — and per beneficiary, programme and
    # month, so that not even two cases of one household are paid twice for a month.
    Index("uq_payment_monthly_per_case", "case_id", "programme", "period", unique=True,
          sqlite_where=_MONTHLY, postgresql_where=_MONTHLY),
    Index("uq_payment_monthly_per_beneficiary", "beneficiary_ref", "programme", "period",
          unique=True, sqlite_where=_MONTHLY, postgresql_where=_MONTHLY),
    # One-off: one per case and programme. A household may get several one-off payments in a
    # month through different cases (each a separate emergency); the yearly cap is approval's.
    Index("uq_payment_one_off_per_case", "case_id", "programme", unique=True,
          sqlite_where=_ONE_OFF, postgresql_where=_ONE_OFF),
)

# The running monthly benefits, which the monthly payment cycles read.
entitlements = Table(
    "entitlements",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("programme", String(30), nullable=False),
    Column("beneficiary_ref", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    Column("start_month", String(7), nullable=False),
    Column("amount_from", String(7), nullable=False),
    Column("status", String(12), nullable=False),
    Column("status_from", String(7), nullable=False),
    Column("end_month", String(7), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('active', 'exiting', 'suspended', 'terminated')",
                    name="ck_entitlements_status"),
)
