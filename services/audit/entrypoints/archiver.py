"""The archiver: consumes every topic (its own consumer group) and appends each batch to the
chains before committing the offsets — a record is archived before Kafka forgets it was read.

Broker epochs: the embedded broker forgets its log on restart and numbers every partition from 0
again, under a new cluster id. An archiver that carried its fetch position into the new log would
first read the new log past the old position and only later (after a rewind, a rebalance or a
restart of its own) the head it skipped: every record would still be archived once, but out of
the order the new log holds them, and the chain would record an arrival order that never was. So
no batch is archived unless the broker answers, after the batch was fetched, with the epoch the
positions belong to; when the epoch changed the batch is dropped unarchived and every partition
is read again from the start (records archived before are recognised by their event id). That is
the ``"before handling"`` check of the poller that runs the loop (shared/bus/poller.py).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.audit.domain.checkpoint import Signer
from services.audit.service_layer.archiving import Incoming, archive_batch, sign
from shared.bus.kafka import cluster_for
from shared.bus.poller import FETCHER_TIMEOUT_MS, EpochCheck, Poller
from shared.events.topics import ALL_TOPICS
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


class Archiver:
    """The poller's strategy: the epoch is checked after each fetch, before archiving."""

    epoch_check: EpochCheck = "before handling"

    def __init__(self, runtime: ServiceRuntime, *, retry_s: float = 0.5) -> None:
        self._runtime = runtime
        # A cluster client of its own: Cluster.epoch closes its admin client on a failure, which
        # must not pull the relay's from under it.
        self._cluster = cluster_for(runtime.settings)
        # Quiet: while the broker is down the archiver asks every half second.
        self._poller = Poller(self._new_consumer, self._cluster, self, who="audit archiver",
                              fetch_timeout_ms=500, max_records=2_000, retry_s=retry_s,
                              quiet=True)

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The consumer while the archiver runs in this instance (None on a standby)."""
        return self._poller.consumer

    @property
    def epoch(self) -> str | None:
        """The cluster id the consumer's positions belong to."""
        return self._poller.epoch

    async def run(self) -> None:
        try:
            await self._poller.run()
        finally:
            await self._cluster.close()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *ALL_TOPICS, bootstrap_servers=self._runtime.settings.kafka_bootstrap,
            group_id="onedoor-audit", enable_auto_commit=False,
            # From the start: a group with no offsets in this log (a first start, a restarted
            # embedded broker) reads all of it; records seen before are recognised by id.
            auto_offset_reset="earliest", fetch_max_wait_ms=200,
            consumer_timeout_ms=FETCHER_TIMEOUT_MS)

    async def handle(self, records: list[ConsumerRecord]) -> None:
        incoming = [Incoming(r.topic, r.partition, r.offset, r.key or b"",
                             list(r.headers or ()), r.value or b"") for r in records]
        await asyncio.to_thread(self._archive, incoming)

    def _archive(self, incoming: list[Incoming]) -> int:
        return archive_batch(self._runtime.uow, incoming)

async def checkpoints(runtime: ServiceRuntime, signer: Signer) -> None:
    """Signs a checkpoint of the heads every interval, when they moved."""
    while True:
        await asyncio.sleep(runtime.settings.audit_checkpoint_interval_s)
        await asyncio.to_thread(sign_now, runtime, signer)


def sign_now(runtime: ServiceRuntime, signer: Signer) -> None:
    signed = sign(runtime.uow, signer)
    if signed is not None:
        log.info("checkpoint %s signed over %s chains", signed.number, len(signed.heads))
