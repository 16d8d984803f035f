"""The archiver: consumes every topic (its own consumer group) and appends each batch to the
chains before committing the offsets — a record is archived before Kafka forgets it was read.

Broker epochs: the embedded broker forgets its log on restart and numbers every partition from 0
again, under a new cluster id. An archiver that carried its fetch position into the new log would
first read the new log past the old position and only later (after a rewind, a rebalance or a
restart of its own) the head it skipped: every record would still be archived once, but out of
the order the new log holds them, and the chain would record an arrival order that never was. So
no batch is archived unless the broker answers, after the batch was fetched, with the epoch the
positions belong to; when the epoch changed the batch is dropped unarchived and every partition
is read again from the start (records archived before are recognised by their event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.audit.domain.checkpoint import Signer
from services.audit.service_layer.archiving import Incoming, archive, checkpoint
from shared.bus.consumer import broker_epoch, read_from_start
from shared.bus.kafka import Cluster, cluster_for, start_with_retry
from shared.events.topics import ALL_TOPICS
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

Batches = dict[TopicPartition, list[ConsumerRecord]]  # type: ignore[type-arg]


class Archiver:
    def __init__(self, runtime: ServiceRuntime, *, retry_s: float = 0.5) -> None:
        self._runtime = runtime
        self._retry_s = retry_s
        self.archived_total = 0
        self.epoch: str | None = None  # the cluster id the consumer's positions belong to
        # Offsets were committed and the broker has not yet answered, since, with the epoch they
        # belong to: a restart in between may have put them into the new log.
        self._commit_unconfirmed = False

    async def run(self) -> None:
        settings = self._runtime.settings
        # A cluster client of its own: Cluster.epoch closes its admin client on a failure, which
        # must not pull the relay's from under it.
        cluster = cluster_for(settings)
        try:
            # Read before the consumer starts: whatever it fetches afterwards comes from this log
            # or a later one, never from an earlier one mistaken for this.
            self.epoch = await self._epoch_when_known(cluster)
            consumer = AIOKafkaConsumer(
                *ALL_TOPICS, bootstrap_servers=settings.kafka_bootstrap,
                group_id="onedoor-audit", enable_auto_commit=False,
                # From the start: a group with no offsets in this log (a first start, a restarted
                # embedded broker) reads all of it; records seen before are recognised by id.
                auto_offset_reset="earliest", fetch_max_wait_ms=200)
            await start_with_retry(consumer, "audit archiver")
            try:
                await self._consume(consumer, cluster)
            finally:
                await consumer.stop()
        finally:
            await cluster.close()

    async def _consume(self, consumer: AIOKafkaConsumer, cluster: Cluster) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away; the consumer reconnects by itself
                log.warning("audit archiver: fetch failed: %s", exc)
                await asyncio.sleep(self._retry_s)
                continue
            records = [r for part in batches.values() for r in part]
            if not records:
                # Idle: notice a restart now, so that the next fetch is already from the start.
                epoch = await self._epoch_now(cluster)
                if epoch is not None and epoch != self.epoch:
                    await self._rewind(consumer, epoch)
                continue
            # After the fetch, not before: a batch fetched from a new log at the old position is
            # caught here, because the old broker is gone by the time the new one served it.
            epoch = await self._epoch_when_known(cluster)
            if epoch != self.epoch:
                await self._rewind(consumer, epoch)  # the batch is read again, in log order
                continue
            incoming = [Incoming(r.topic, r.partition, r.offset, r.key or b"",
                                 list(r.headers or ()), r.value or b"") for r in records]
            self.archived_total += await asyncio.to_thread(self._archive, incoming)
            await self._commit(consumer, cluster, batches)

    async def _commit(self, consumer: AIOKafkaConsumer, cluster: Cluster,
                      batches: Batches) -> None:
        """Commits the offsets after a batch just archived, in the epoch it was read from."""
        self._commit_unconfirmed = True
        try:
            await consumer.commit({tp: part[-1].offset + 1 for tp, part in batches.items()
                                   if part})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The batch is archived; a redelivery (a rebalance, a restarted broker's group that
            # no longer knows this member) is recognised by its event ids.
            log.warning("audit archiver: offset commit failed: %s", exc)
        epoch = await self._epoch_now(cluster)
        if epoch == self.epoch:
            self._commit_unconfirmed = False
        elif epoch is not None:
            # The broker restarted between the check and the commit, which may have put the old
            # log's offsets into the new one: _rewind overwrites them.
            await self._rewind(consumer, epoch)

    async def _rewind(self, consumer: AIOKafkaConsumer, epoch: str) -> None:
        """A new log: read every partition again from its start; and if offsets of the old log
        may have been committed into the new one, overwrite them with that start, so that they
        cannot make a later start of the archiver skip the head of the new log."""
        if not await read_from_start(consumer, "audit archiver", self.epoch, epoch):
            # Mid-rebalance: positions will come from committed offsets, which may be the old
            # log's. The old epoch is kept, so that the next check rewinds, once assigned.
            return
        self.epoch = epoch
        if self._commit_unconfirmed:
            # If this fails too, the new broker did not know the group: nothing was committed.
            with contextlib.suppress(Exception):
                await consumer.commit({tp: 0 for tp in consumer.assignment()})
            self._commit_unconfirmed = False

    async def _epoch_now(self, cluster: Cluster) -> str | None:
        # Quiet: while the broker is down the archiver asks every half second.
        return await broker_epoch(cluster, "audit archiver", quiet=True)

    async def _epoch_when_known(self, cluster: Cluster) -> str:
        """The cluster id, waiting for a broker that answers. A batch in hand is held until
        then: archiving it unplaced could archive a new log's records before its head."""
        while (epoch := await self._epoch_now(cluster)) is None:
            await asyncio.sleep(self._retry_s)
        return epoch

    def _archive(self, incoming: list[Incoming]) -> int:
        with self._runtime.uow() as uow:
            added = archive(uow.conn, incoming)
            uow.commit()
        return added


async def checkpoints(runtime: ServiceRuntime, signer: Signer) -> None:
    """Signs a checkpoint of the heads every interval, when they moved."""
    while True:
        await asyncio.sleep(runtime.settings.audit_checkpoint_interval_s)
        await asyncio.to_thread(sign_now, runtime, signer)


def sign_now(runtime: ServiceRuntime, signer: Signer) -> None:
    with runtime.uow() as uow:
        signed = checkpoint(uow.conn, signer)
        uow.commit()
    if signed is not None:
        log.info("checkpoint %s signed over %s chains", signed.number, len(signed.heads))
