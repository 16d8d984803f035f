"""Verification's own tables. Partner records are kept under pseudonyms only."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, MetaData, String, Table, Text

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

partner_credentials = Table(
    "partner_credentials",
    metadata,
    Column("department", String(50), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

partner_records = Table(
    "partner_records",
    metadata,
    Column("department", String(50), primary_key=True),
    Column("record_id", String(100), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("person_ref", String(40), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("report_id", String(40), nullable=False, unique=True),
    Column("body", Text, nullable=False),  # JSON of the VerificationReported event
    Column("created_at", DateTime(timezone=True), nullable=False),
)
