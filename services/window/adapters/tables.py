"""The window's own tables: staff accounts, their sessions, and failed sign-ins.

The window stores no case data: every case, name and ID number it shows is read from the
services, with the signed-in person's token, at the moment it is shown.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    true,
)

metadata = MetaData()

staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("staff_id", String(32), primary_key=True),
    Column("role", String(30), nullable=False),
    Column("jurisdiction", String(9), nullable=False),
    Column("display_name", String(100), nullable=False),
    # scrypt (adapters/passwords.py); NULL for an account that signs in through OpenID Connect.
    Column("password_hash", String(200), nullable=True),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    # SHA-256 of the cookie's value: a copy of this table signs nobody in.
    Column("session_hash", String(64), primary_key=True),
    Column("staff_id", String(32), ForeignKey("staff_accounts.staff_id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, index=True),
)

# Keyed by the account name as typed, existing or not (see FailedSignIns).
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("account", String(32), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failed_at", DateTime(timezone=True), nullable=False, index=True),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)
