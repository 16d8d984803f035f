"""The idempotent consumer: at-least-once delivery in, exactly-once effects out.

For each batch fetched from Kafka, one unit of work runs every handler, records each event id in
the inbox and commits; only then are the offsets committed. A redelivered event finds its inbox
row and has no second effect.

When a batch fails, its events are retried one by one: a failure of the database itself (it is
down, locked, unreachable) is retried until it clears — dead-lettering would only move the outage
into the dead-letter topic — while an event that keeps failing in its handler goes, after bounded
attempts with backoff, to the dead-letter topic with the reason and its original bytes, and the
partition moves on. An event that cannot even be decoded goes there at once.

The loop is a ``Poller``'s (poller.py), which also keeps the consumer in step with the broker's
epoch. Offsets mean nothing across a restart of the embedded broker, whose log starts again at 0
(and fills up with what the relays re-send). A consumer that kept its old position would skip the
head of the new log, so the poller checks the cluster id before every offset commit and when idle
(``"before commit"``: a batch is handled first, the inbox makes reading it again harmless): when
it changed, it rewinds to the beginning of every partition and does not commit offsets fetched in
the old epoch.

Counted by event type: what it applies, each failed attempt of a handler, what it dead-letters
(shared/metrics.py). With tracing on, each handling is a span, child of the context the event
carries (shared/tracing/).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from shared import metrics, tracing
from shared.bus import poller
from shared.bus.kafka import Cluster
from shared.bus.poller import EpochCheck, Poller

# The epoch helpers moved to the poller, which owns the check; still importable from here.
from shared.bus.poller import broker_epoch as broker_epoch
from shared.bus.poller import read_from_start as read_from_start
from shared.bus.routing import Routes
from shared.events.base import registered_types
from shared.events.envelope import (
    Envelope,
    KafkaRecord,
    UnprocessableEvent,
    from_record,
    header_map,
)
from shared.events.topics import DEAD_LETTER
from shared.logs import about_case
from shared.reasons import reason_of
from shared.singleton import advisory_key
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Delivery:
    record: ConsumerRecord
    envelope: Envelope | None  # None when the record could not be decoded
    error: str | None = None


def _is_infrastructure_failure(exc: BaseException) -> bool:
    """The database, not the event: locked, unreachable, down, out of space."""
    if isinstance(exc, OperationalError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # Raw driver errors (not wrapped by SQLAlchemy) of the operational kind.
    return type(exc).__name__ == "OperationalError" and type(exc).__module__ in (
        "sqlite3", "psycopg", "psycopg.errors")


class EventConsumer:
    """Consumes some topics for one service (one consumer group) and applies its handlers: the
    strategy of a poller that handles a batch first and checks the epoch before committing."""

    epoch_check: EpochCheck = "before commit"

    def __init__(
        self,
        *,
        group_id: str,
        topics: list[str],
        handlers: Routes,
        uow_factory: Callable[[], UnitOfWork],
        bootstrap: str,
        cluster: Cluster,
        batch_size: int = 500,
        fetch_max_wait_ms: int | None = None,
        max_attempts: int = 4,
        retry_backoff_s: float = 0.2,
        service: str = "",
    ) -> None:
        self.group_id = group_id
        self.service = service or group_id.removeprefix("onedoor-")  # the metrics' label
        self._topics = topics
        self._handlers = handlers
        # Known event types this service has no handler for: skipped unread. Topics carry
        # several types (approval's decisions topic has six), and decoding a large event only
        # to ignore it was measurable. Unknown types are still decoded, and dead-lettered.
        handled = {cls.type for cls in handlers}
        self._ignored = {t for t in registered_types() if t not in handled}
        self._uow_factory = uow_factory
        self._bootstrap = bootstrap
        self._cluster = cluster
        self._batch_size = batch_size
        self._fetch_max_wait_ms = poller.fetch_max_wait_ms(cluster.kind, fetch_max_wait_ms)
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_s
        self.processed_total = 0
        self.dead_lettered_total = 0
        self._poller = Poller(self._new_consumer, cluster, self, who=f"consumer {group_id}",
                              fetch_timeout_ms=1000, max_records=batch_size)

    @property
    def assignment(self) -> set[TopicPartition]:
        return self._poller.assignment

    def lag(self) -> metrics.Lags:
        """Records behind, per assigned partition, as the consumer last saw its end."""
        return metrics.partition_lags(self._poller.consumer)

    async def run(self) -> None:
        await self._poller.run()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            # After the embedded broker restarts its log starts again at 0: reading from the
            # earliest offset then picks up what the publishers re-send.
            auto_offset_reset="earliest",
            metadata_max_age_ms=5000,
            max_poll_records=self._batch_size,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            consumer_timeout_ms=poller.FETCHER_TIMEOUT_MS,
        )

    async def close(self) -> None:
        await self._cluster.close()

    async def handle(self, records: list[ConsumerRecord]) -> None:
        """One batch: all in one unit of work, or, when that fails, event by event."""
        deliveries = [_decode(r) for r in records
                      if header_map(r.headers or ()).get("ce_type") not in self._ignored]
        if not deliveries:
            return
        started = time.perf_counter()
        try:
            await self._handle(deliveries)
        finally:
            metrics.CONSUMER_BATCH_SECONDS.labels(self.service).observe(
                time.perf_counter() - started)

    async def _handle(self, deliveries: list[Delivery]) -> None:
        try:
            await asyncio.to_thread(self._apply, deliveries)
            return
        except Exception as exc:
            log.info("consumer %s: batch of %d failed (%s); one by one", self.group_id,
                     len(deliveries), exc)
        for delivery in deliveries:
            with about_case((delivery.record.key or b"").decode(errors="replace") or None):
                await self._process_one(delivery)

    async def _process_one(self, delivery: Delivery) -> None:
        if delivery.envelope is None:
            await asyncio.to_thread(self._dead_letter, delivery, delivery.error or "undecodable")
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(self._apply, [delivery])
                return
            except Exception as exc:
                if _is_infrastructure_failure(exc):
                    log.warning("consumer %s: database unavailable (%s); waiting",
                                self.group_id, exc)
                    await asyncio.sleep(min(self._backoff * 2**min(attempt, 5), 5.0))
                    continue
                metrics.EVENTS_FAILED.labels(self.service, delivery.envelope.type).inc()
                if attempt >= self._max_attempts:
                    # Where and what kind of error, never the event's data: the reason is
                    # kept for years (shared/reasons.py); a log line likewise (shared/logs.py).
                    reason = reason_of(exc)
                    log.error("consumer %s: event %s dead-lettered after %d attempts: %s",
                              self.group_id, delivery.envelope.id, attempt, exc, exc_info=exc)
                    await asyncio.to_thread(self._dead_letter, delivery, reason)
                    return
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))

    def _apply(self, deliveries: list[Delivery]) -> None:
        """Run the handlers for a batch in one transaction, skipping events already in the inbox."""
        with self._uow_factory() as uow:
            one_at_a_time(uow.conn, {d.record.key or b"" for d in deliveries})
            inbox = uow.inbox
            ids = [d.envelope.id for d in deliveries if d.envelope is not None]
            done = set(
                uow.conn.execute(select(inbox.c.event_id).where(inbox.c.event_id.in_(ids))).scalars()
            )
            now = datetime.now(UTC)
            rows = []
            for delivery in deliveries:
                envelope = delivery.envelope
                if envelope is None:
                    raise UnprocessableEvent(delivery.error or "undecodable")
                if envelope.id in done:
                    continue
                handler = self._handlers.get(type(envelope.data))
                if handler is not None:
                    record = delivery.record
                    with about_case(envelope.subject), tracing.handling(
                            record.headers or (), envelope.type, envelope.id, record.topic,
                            self.service):
                        handler(envelope.data, envelope, uow)
                done.add(envelope.id)
                rows.append({"event_id": envelope.id, "event_type": envelope.type,
                             "topic": delivery.record.topic, "outcome": "processed",
                             "reason": None, "processed_at": now})
            if rows:
                uow.conn.execute(insert(inbox), rows)
            uow.commit()
        self.processed_total += len(rows)
        metrics.count_each(metrics.EVENTS_HANDLED, self.service, (r["event_type"] for r in rows))

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Send the original record to the dead-letter topic, through the outbox."""
        record = delivery.record
        envelope = delivery.envelope
        with self._uow_factory() as uow:
            if envelope is not None:
                inbox = uow.inbox
                seen = uow.conn.execute(
                    select(inbox.c.event_id).where(inbox.c.event_id == envelope.id)
                ).first()
                if seen:
                    return
                uow.conn.execute(insert(inbox).values(
                    event_id=envelope.id, event_type=envelope.type, topic=record.topic,
                    outcome="dead-lettered", reason=reason[:4000],
                    processed_at=datetime.now(UTC)))
            headers = [*(record.headers or ()),
                       *dead_letter_headers(record, reason, self.group_id)]
            uow.publish_record(
                f"dlq-{uuid.uuid4()}",
                KafkaRecord(topic=DEAD_LETTER, key=record.key or b"", value=record.value or b"",
                            headers=headers),
            )
            uow.commit()
        self.dead_lettered_total += 1
        kind = envelope.type if envelope is not None else header_map(
            record.headers or ()).get("ce_type")
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, metrics.event_type(kind)).inc()


# Events of one case come on several topics (the application, its report, its decisions), whose
# partitions two instances of a service may hold at once. A handler reads what the case's earlier
# events left and acts on it; two instances applying events of one case side by side would each
# miss the other's uncommitted half (found by bench/chaos.py: approval opened a case while another
# instance stored its report, and neither assessed it). So on PostgreSQL a batch first takes a
# transaction-scoped advisory lock per record key (the case id), in sorted order so that two
# batches never wait on each other in a circle; the second waits, then reads the first's commit.
_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:keys AS bigint[])) "
                  "AS k ORDER BY k) AS sorted")


def one_at_a_time(conn: Connection, keys: Iterable[bytes]) -> None:
    """Hold, until the transaction ends, the lock of each key's events (SQLite: one writer
    already, nothing to do)."""
    if conn.dialect.name != "postgresql":
        return
    hashed = sorted({advisory_key(key.decode(errors="replace")) for key in keys})
    if hashed:
        conn.execute(_LOCK_KEYS, {"keys": hashed})


def dead_letter_headers(record: ConsumerRecord, reason: str,
                        consumer: str) -> list[tuple[str, bytes]]:
    """Why a record could not be processed, by whom, and where it stands: the headers every
    dead-letter record carries (an operator re-reads the original by topic and offset)."""
    return [("dlq_reason", reason[:4000].encode()), ("dlq_consumer", consumer.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode())]


def _decode(record: ConsumerRecord) -> Delivery:
    try:
        return Delivery(record, from_record(record.value, list(record.headers or ())))
    except UnprocessableEvent as exc:
        return Delivery(record, None, str(exc))
