"""Archiving: records in, chained and stored once; checkpoints of the chains' heads signed.
``archive_batch`` and ``sign`` are where the archiver's units of work commit.

Kafka delivers at least once, and the relays re-send after a broker restart: a record whose
CloudEvents id was archived before on its topic is skipped, so the archive holds each event once
while the chain still records the order events arrived in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from services.audit.adapters import store
from services.audit.domain import event_time
from services.audit.domain.chain import encode_headers, extend
from services.audit.domain.checkpoint import Checkpoint, Signer
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Incoming:
    """One Kafka record as consumed."""

    topic: str
    partition: int
    offset: int
    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return None


def unit_of_work(engine: Engine) -> UnitOfWork:
    """Audit's unit of work outside the running service (the CLI, the archive's recovery):
    audit publishes nothing of its own, so there is no bus behind it."""
    return UnitOfWork(engine, None, "/onedoor/audit")


def archive_batch(uow_factory: Callable[[], UnitOfWork], incoming: Sequence[Incoming]) -> int:
    """A poll's records archived in one transaction: how many were new."""
    with uow_factory() as uow:
        added = archive(uow.conn, incoming)
        uow.commit()
    return added


def sign(uow_factory: Callable[[], UnitOfWork], signer: Signer) -> Checkpoint | None:
    """A checkpoint signed and stored in one transaction, when the heads moved."""
    with uow_factory() as uow:
        signed = checkpoint(uow.conn, signer)
        uow.commit()
    return signed


def archive(conn: Connection, incoming: Sequence[Incoming]) -> int:
    """Appends a batch to the chains in one transaction; answers how many were new."""
    # Only the chains this batch extends: finding every chain's head was a scan of the whole
    # archive per batch, and archiving slowed as the archive grew.
    heads = {chain: store.head(conn, *chain) for chain in {(r.topic, r.partition)
                                                           for r in incoming}}
    ids = [(r, r.header("ce_id")) for r in incoming]
    seen = {topic: store.known_events(conn, topic, [i for r, i in ids
                                                    if r.topic == topic and i])
            for topic in {r.topic for r in incoming}}
    chained = []
    for r, event_id in ids:
        if event_id is not None:
            if event_id in seen[r.topic]:
                continue
            seen[r.topic].add(event_id)
        record = extend(heads[(r.topic, r.partition)], r.topic, r.partition, r.offset,
                        r.key or b"", encode_headers(r.headers), r.value or b"")
        heads[(r.topic, r.partition)] = record.head
        chained.append((record, event_id, r.header("ce_type"),
                        event_time.micros(r.header("ce_time")), r.header("ce_subject")))
    if chained:
        store.append(conn, chained, datetime.now(UTC))
    return len(chained)


def checkpoint(conn: Connection, signer: Signer) -> Checkpoint | None:
    """Signs the current heads, unless nothing moved since the last checkpoint."""
    heads = sorted(store.heads(conn).values(), key=lambda h: (h.topic, h.partition))
    last = store.last_checkpoint(conn)
    if not heads or (last is not None and tuple(heads) == tuple(last.heads)):
        return None
    number = 1 if last is None else last.number + 1
    signed = signer.sign(number, datetime.now(UTC).isoformat(), heads)
    store.add_checkpoint(conn, signed)
    return signed
