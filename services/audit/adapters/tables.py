"""The audit archive's tables: every event, chained; signed checkpoints; who asked what."""

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
    text,
)

from shared.uow import BusTables

metadata = MetaData()
# The audit service publishes nothing and handles no events through the shared consumer, but it
# runs the same runtime as every service (health, relay), which expects these tables.
bus = BusTables(metadata)

_Id = BigInteger().with_variant(Integer(), "sqlite")

# One row per event, in arrival order per topic and partition (seq), each linked to the one
# before by hash (services/audit/domain/chain.py). Rows are only ever inserted.
archive = Table(
    "archive",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("kafka_offset", BigInteger, nullable=False),
    # The CloudEvents id, when the record has one: a record the relay sent twice (at-least-once)
    # is archived once.
    Column("event_id", String(64), nullable=True),
    Column("event_type", String(200), nullable=True),
    Column("key", LargeBinary, nullable=False),
    Column("headers", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False),
    # The event's ce_time in microseconds, UTC (domain/event_time.py); null for a record without
    # one. Not hashed: like event_id and event_type it is read from the hashed headers, here so
    # that one indexed query gives the replay every chain merged in time order.
    Column("event_time", BigInteger, nullable=True),
    # The event's ce_subject (the case it is about), read from the hashed headers like the two
    # above and not hashed: each process of a parallel replay picks its share of the cases by
    # it without parsing the headers (services/audit/service_layer/replay_shares.py).
    Column("subject", Text, nullable=True),
    Index("uq_archive_event", "topic", "event_id", unique=True,
          sqlite_where=text("event_id IS NOT NULL"),
          postgresql_where=text("event_id IS NOT NULL")),
    # Ties in time are broken as merging the chains did: by chain, then position in it.
    Index("ix_archive_event_time", "event_time", "topic", "partition", "seq"),
)

# Signed checkpoints of every chain's head (Ed25519): a copy kept elsewhere proves the archive
# was not rewritten up to them.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the checkpoint as JSON (heads, key id, signature)
    Column("key_id", String(32), nullable=False),
)

# Every read of the archive: who, what, when.
access_log = Table(
    "access_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("who", String(200), nullable=False),
    Column("what", String(200), nullable=False),
    Column("query", Text, nullable=False),
)
