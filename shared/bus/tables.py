"""The outbox and inbox tables, which every service adds to its own database.

They are defined once here; each service's migrations create them in its own database, so the
relay and the consumer can rely on the same columns everywhere.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
_Id = BigInteger().with_variant(Integer(), "sqlite")


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the state change that caused them."""
    table = Table(
        "outbox",
        metadata,
        Column("id", _Id, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", Text, nullable=False),  # JSON list of [name, value] pairs
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # The broker's cluster id when the row was published: the embedded broker forgets its log
        # when it restarts and comes back with a new id, which is how the relay knows to re-send.
        Column("broker_epoch", String(100), nullable=True),
    )
    Index(
        "ix_outbox_unpublished",
        table.c.id,
        sqlite_where=table.c.published_at.is_(None),
        postgresql_where=table.c.published_at.is_(None),
    )
    Index("ix_outbox_published_at", table.c.published_at)
    return table


def inbox_table(metadata: MetaData) -> Table:
    """One row per event a service has consumed: the proof that its effects happened once."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("outcome", String(20), nullable=False),  # processed | dead-lettered
        Column("reason", Text, nullable=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )

