"""Approval's own tables: one decision per case, with its full explanation."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

decisions = Table(
    "decisions",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("decision_id", String(40), nullable=False, unique=True),
    Column("outcome", String(20), nullable=False),
    Column("region_code", String(6), nullable=False, index=True),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    Column("body", Text, nullable=False),  # JSON of the ApplicationDecided event
    Column("decided_at", DateTime(timezone=True), nullable=False),
)
