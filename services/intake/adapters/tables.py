"""Intake's own tables. Only intake stores names and resident ID numbers."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("region_code", String(6), nullable=False, index=True),
    # The town or street whose staff handle the case (None before towns were recorded).
    Column("town_code", String(9), nullable=True, index=True),
    Column("programme", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("applicant_ref", String(40), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("decision", Text, nullable=True),  # JSON: outcome, amounts, benefits, reasons
    # The sequence of the stage change the status comes from (0: none yet), so that a stage
    # change that arrives late never replaces a newer one.
    Column("stage_seq", Integer, nullable=False, server_default="0"),
    # What the household asked for beyond its members, as the window shows it back.
    Column("legal_supporters", Text, nullable=False, server_default="[]"),  # JSON list
    Column("care_mode", String(12), nullable=True),
    Column("temporary", Text, nullable=True),  # JSON, with the description the bus never sees
    Column("referrals", Text, nullable=False, server_default="[]"),  # JSON list of kinds
)

members = Table(
    "members",
    metadata,
    Column("case_id", String(40), ForeignKey("cases.case_id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("person_ref", String(40), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("resident_id", String(18), nullable=False),
    Column("relation", String(20), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(6), nullable=False),
    Column("declared_incomes", Text, nullable=False),  # JSON list of {kind, monthly_amount_fen}
    Column("consent_signed_on", Date, nullable=True),
    Column("disability_grade", Integer, nullable=True),
    Column("able_to_work", Boolean, nullable=True),
    Column("self_care", String(8), nullable=True),
    # A child's guardianship facts (orphans' allowance): codes, as on the form.
    Column("father", String(24), nullable=True),
    Column("mother", String(24), nullable=True),
    Column("child_care", String(12), nullable=True),
    Column("schooling", String(24), nullable=True),
)

timeline = Table(
    "timeline",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("summary", Text, nullable=False),
)

# A key is its caller's (Principal.key_scope): a key another caller used is unknown here, not a
# conflict. Keys stored before callers were recorded have caller "".
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("caller", String(80), primary_key=True, server_default=""),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("case_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every resolution of a pseudonym to a person (by an auditor or an administrator): who asked,
# for which reference, why, and whether it named anyone. Only ever inserted.
identity_lookups = Table(
    "identity_lookups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("person_ref", String(80), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("found", Boolean, nullable=False),
)
