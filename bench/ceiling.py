"""The ceiling: the same number of events through four hops that do no work at all.

Each hop is a consumer group that reads a topic and produces every record to the next, with
aiokafka on the same broker — what the bus alone costs on this machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.bus.kafka import min_insync

HOPS = 4


async def _hop(bootstrap: str, source: str, target: str, group: str,
               stop: asyncio.Event, idempotent: bool) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                                enable_idempotence=idempotent)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            futures = [await producer.send(target, value=r.value, key=r.key, headers=r.headers)
                       for part in batches.values() for r in part]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def ceiling(bootstrap: str, n: int, payload_bytes: int = 600, replicas: int = 1,
                  idempotent: bool = False) -> float:
    """Events per second through four do-nothing hops, on topics replicated as OneDoor's are
    (``replicas``, min.insync.replicas likewise) and with its producers (acks=all, idempotent
    where the broker allows)."""
    run = uuid.uuid4().hex[:8]
    topics = [f"bench.{run}.hop{i}" for i in range(HOPS + 1)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    configs = {"min.insync.replicas": str(min_insync(replicas))} if replicas > 1 else {}
    await admin.create_topics([NewTopic(t, 3, replicas, topic_configs=configs) for t in topics])
    await admin.close()
    stop = asyncio.Event()
    hops = [asyncio.create_task(_hop(bootstrap, topics[i], topics[i + 1], f"bench-{run}-{i}",
                                     stop, idempotent)) for i in range(HOPS)]
    sink = AIOKafkaConsumer(topics[-1], bootstrap_servers=bootstrap, group_id=None,
                            auto_offset_reset="earliest")
    await sink.start()
    await asyncio.sleep(6)  # let the four groups join before the clock starts
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                                enable_idempotence=idempotent)
    await producer.start()
    payload = b"x" * payload_bytes
    started = time.perf_counter()
    futures = [await producer.send(topics[0], value=payload, key=f"case-{i}".encode())
               for i in range(n)]
    await asyncio.gather(*futures)
    received = 0
    while received < n:
        batches = await sink.getmany(timeout_ms=1000)
        received += sum(len(part) for part in batches.values())
        if time.perf_counter() - started > 300:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*hops, return_exceptions=True)
    await sink.stop()
    await producer.stop()
    return received / elapsed
