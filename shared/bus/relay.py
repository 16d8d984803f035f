"""The outbox relay: publishes committed outbox rows to Kafka and marks them published.

It wakes when a unit of work commits (not on a slow poll; the five-second poll only catches rows
committed by another process, e.g. a migration or a crashed run). It never tracks a high-water
mark: it always takes the rows still unpublished, oldest first, so a transaction that committed
late is not skipped. On the embedded broker it rings the doorbell once a batch is in the log:
that is what wakes the readers resting there (doorbell.py).

Re-publishing after a broker restart: the embedded broker keeps its log in memory and comes back
empty with a new cluster id. Each published row records the cluster id it went to; when the relay
sees a new id it recreates the topics and re-sends every row published to an older one (within
the retention window). Consumers deduplicate by event id, so this is safe on any broker.

Settling: measured here, Tansu's memory storage can acknowledge and then lose the first records
written into a partition that a client implicitly re-created just after a restart. So for a
while after it adopts a new epoch, the relay marks what it publishes as "settling" and sends it
once more when the window closes, into partitions that are by then established.

Each batch is timed (``onedoor_relay_publish_duration_seconds``), each event's wait from its
commit to the broker's acknowledgement recorded, and, when tracing is on, the batch is a span
linked to the traces its events carry; their headers, ``ce_traceparent`` among them, are sent as
the unit of work wrote them (shared/metrics.py, shared/tracing/).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import ColumnElement, Connection, Engine, Row, delete, func, select, update

from shared import metrics, tracing
from shared.bus import doorbell
from shared.bus.kafka import Cluster, new_producer, start_with_retry
from shared.db import reading
from shared.uow import BusTables

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        bus: BusTables,
        bootstrap: str,
        cluster: Cluster,
        *,
        batch_size: int = 2000,
        # Both only for what no commit here announces; at rest, each look costs CPU (issue 24).
        poll_interval_s: float = 5.0,
        epoch_check_s: float = 5.0,
        retention: timedelta = timedelta(days=7),
        settle_s: float = 10.0,
        service: str = "",
    ) -> None:
        self._engine = engine
        self.service = service  # the metrics' label
        self._outbox = bus.outbox
        self._bootstrap = bootstrap
        self._cluster = cluster
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._epoch_check_s = epoch_check_s
        self._retention = retention
        self._settle_s = settle_s
        self._settling_until: float | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.epoch: str | None = None
        self.published_total = 0
        self.republished_total = 0

    def wake(self) -> None:
        """Called after a commit, from any thread: there is something to publish."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        producer = new_producer(self._bootstrap, idempotent=self._cluster.kind == "kafka")
        await start_with_retry(producer, "outbox relay")
        next_epoch_check = 0.0
        next_prune = time.monotonic() + 60
        try:
            while True:
                try:
                    if time.monotonic() >= next_epoch_check:
                        await self._check_epoch()
                        next_epoch_check = time.monotonic() + self._epoch_check_s
                    while await self._publish_batch(producer) == self._batch_size:
                        pass
                    settling = self._settling_until
                    if settling is not None and time.monotonic() >= settling:
                        await self._end_settling()
                    if time.monotonic() >= next_prune:
                        await asyncio.to_thread(self._prune)
                        next_prune = time.monotonic() + 60
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Unpublished rows stay unpublished; check the epoch at once, the broker may
                    # have restarted under us.
                    log.warning("outbox relay: %s; retrying", exc)
                    next_epoch_check = 0.0
                    await asyncio.sleep(0.5)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)
                self._wake.clear()
        finally:
            await producer.stop()

    async def _check_epoch(self) -> None:
        epoch = await self._cluster.epoch()
        if epoch == self.epoch:
            return
        await self._cluster.ensure_topics()
        o = self._outbox
        resent = await asyncio.to_thread(
            self._unpublish, o.c.published_at.is_not(None)
            & ((o.c.broker_epoch != epoch) | o.c.broker_epoch.is_(None)))
        if self.epoch is not None or resent:
            log.warning("broker epoch is now %s: re-publishing %d events", epoch, resent)
            self._settling_until = time.monotonic() + self._settle_s
        self.republished_total += resent
        self.epoch = epoch

    @property
    def _settling_tag(self) -> str:
        return f"{self.epoch}+settling"

    @property
    def _mark(self) -> str | None:
        """The epoch recorded on rows published now."""
        if self.epoch is not None and self._settling_until is not None:
            return self._settling_tag
        return self.epoch

    async def _end_settling(self) -> None:
        again = await asyncio.to_thread(
            self._unpublish, self._outbox.c.broker_epoch == self._settling_tag)
        self._settling_until = None  # only now: if the update failed, it is tried again
        self.republished_total += again
        if again:
            log.info("broker epoch %s settled: sending %d events once more", self.epoch, again)
            self.wake()

    async def _publish_batch(self, producer: AIOKafkaProducer) -> int:
        claim, rows = await asyncio.to_thread(self._claim_unpublished)
        try:
            return await self._send(producer, claim, rows)
        finally:
            if claim is not None:
                await asyncio.to_thread(claim.close)  # rolls back a claim not marked published

    async def _send(self, producer: AIOKafkaProducer, claim: Connection | None,
                    rows: list[Row[Any]]) -> int:
        if not rows:
            return 0
        epoch = self._mark
        headers = [[(k, v.encode()) for k, v in json.loads(row.headers)] for row in rows]
        with tracing.publishing(self.service, headers):
            started = time.perf_counter()
            futures = [
                await producer.send(row.topic, value=row.value, key=row.key, headers=carried)
                for row, carried in zip(rows, headers, strict=True)
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            acknowledged = datetime.now(UTC)
            metrics.RELAY_PUBLISH_SECONDS.labels(self.service).observe(
                time.perf_counter() - started)
            sent = [row for row, r in zip(rows, results, strict=True)
                    if not isinstance(r, Exception)]
            if sent and self._cluster.kind == "embedded":
                # In the log now: their readers may look.
                doorbell.ring(self._bootstrap, {row.topic for row in rows})
            if sent:
                await asyncio.to_thread(self._mark_published, claim, [r.id for r in sent],
                                        epoch)
                self.published_total += len(sent)
                self._observe_delays(sent, acknowledged)
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(rows)} sends failed: {failures[0]!r}")
        return len(rows)

    def _observe_delays(self, sent: list[Row[Any]], acknowledged: datetime) -> None:
        """Each event's wait from its commit to the broker's acknowledgement (SQLite gives the
        commit time back without its zone: it was written in UTC)."""
        observe = metrics.RELAY_DELAY_SECONDS.labels(self.service).observe
        naive = acknowledged.replace(tzinfo=None)  # UTC, to compare with SQLite's times
        for row in sent:
            committed = row.created_at
            since = (naive if committed.tzinfo is None else acknowledged) - committed
            observe(max(0.0, since.total_seconds()))
        metrics.RELAY_PUBLISHED.labels(self.service).inc(len(sent))

    def _claim_unpublished(self) -> tuple[Connection | None, list[Row[Any]]]:
        """The oldest unpublished rows. On PostgreSQL they stay locked (FOR UPDATE SKIP LOCKED)
        until marked published, so a second relay on the same database takes other rows instead
        of sending these again. SQLite has one writer anyway; there it is a plain read."""
        o = self._outbox
        query = (
            select(o.c.id, o.c.topic, o.c.key, o.c.value, o.c.headers, o.c.created_at)
            .where(o.c.published_at.is_(None))
            .order_by(o.c.id)
            .limit(self._batch_size)
        )
        if self._engine.dialect.name == "postgresql":
            conn = self._engine.connect()
            try:
                return conn, list(conn.execute(query.with_for_update(skip_locked=True)))
            except Exception:
                conn.close()
                raise
        with reading(self._engine) as conn:
            return None, list(conn.execute(query))

    def _mark_published(self, claim: Connection | None, ids: list[int],
                        epoch: str | None) -> None:
        o = self._outbox
        statement = (update(o).where(o.c.id.in_(ids))
                     .values(published_at=datetime.now(UTC), broker_epoch=epoch))
        if claim is not None:
            claim.execute(statement)
            claim.commit()
            return
        with self._engine.begin() as conn:
            conn.execute(statement)

    def _unpublish(self, condition: ColumnElement[bool]) -> int:
        """Mark the rows matching ``condition`` unpublished, so the relay sends them again."""
        o = self._outbox
        with self._engine.begin() as conn:
            result = conn.execute(update(o).where(condition)
                                  .values(published_at=None, broker_epoch=None))
            return result.rowcount or 0

    def _prune(self) -> None:
        o = self._outbox
        cutoff = datetime.now(UTC) - self._retention
        with self._engine.begin() as conn:
            conn.execute(delete(o).where(o.c.published_at < cutoff))

    def backlog(self) -> int:
        """Rows committed but not yet published (for /health and the tests)."""
        o = self._outbox
        with reading(self._engine) as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(o).where(o.c.published_at.is_(None))
                ).scalar_one()
            )
