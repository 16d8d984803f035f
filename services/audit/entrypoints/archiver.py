"""The archiver: consumes every topic (its own consumer group) and appends each batch to the
chains before committing the offsets — a record is archived before Kafka forgets it was read."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

from services.audit.domain.checkpoint import Signer
from services.audit.service_layer.archiving import Incoming, archive, checkpoint
from shared.events.topics import ALL_TOPICS
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self.archived_total = 0

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            *ALL_TOPICS, bootstrap_servers=self._runtime.settings.kafka_bootstrap,
            group_id="onedoor-audit", enable_auto_commit=False,
            # From the start: after the embedded broker restarts, the group's offsets are gone
            # and the log is new; records seen before are recognised by their event id.
            auto_offset_reset="earliest", fetch_max_wait_ms=200)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
                incoming = [Incoming(r.topic, r.partition, r.offset, r.key or b"",
                                     list(r.headers or ()), r.value or b"")
                            for part in batches.values() for r in part]
                if not incoming:
                    continue
                self.archived_total += await asyncio.to_thread(self._archive, incoming)
                await consumer.commit()
        finally:
            await consumer.stop()

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
