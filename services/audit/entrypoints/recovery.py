"""The archive and Kafka, the other way round: re-publishing the archive into a fresh broker
(disaster recovery), and reading a broker's topics from offset 0 into a scratch archive (so a
replay can start from Kafka instead of the archive).

Re-publishing is safe because every consumer deduplicates by event id (its inbox): an event the
consumer had seen has no second effect, one it had not is handled now.
"""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine

from services.audit.adapters import store
from services.audit.domain.chain import decode_headers
from services.audit.service_layer.archiving import Incoming, archive_batch, unit_of_work
from shared.bus.kafka import Cluster, new_producer, start_with_retry
from shared.db import reading
from shared.events.topics import ALL_TOPICS, DEAD_LETTER
from shared.settings import BrokerKind

IN_FLIGHT = 5_000  # sends awaited together: enough to fill batches, bounded memory


async def republish(engine: Engine, bootstrap: str, *, partitions: int,
                    broker: BrokerKind = "embedded",
                    topics: tuple[str, ...] | None = None,
                    progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Every archived record, chain by chain in its original order, to the same topic and
    partition, with its key, headers and value unchanged. Dead letters are not re-sent (they are
    copies; their originals are re-sent on their own topics). Answers records sent per topic."""
    with reading(engine) as conn:
        chains = [c for c in store.chains(conn) if c[0] != DEAD_LETTER
                  and (topics is None or c[0] in topics)]
    needed = max([partitions, *(p + 1 for _, p in chains)])
    # The catalogue's topics, as every service makes them.
    cluster = Cluster(bootstrap, needed, kind=broker)
    try:
        await cluster.ensure_topics()
    finally:
        await cluster.close()
    producer = new_producer(bootstrap, idempotent=broker == "kafka")
    await start_with_retry(producer, "republish")
    sent: dict[str, int] = {}
    try:
        pending = []
        for topic, partition in chains:
            for record in store.records(engine, topic=topic, partition=partition):
                pending.append(await producer.send(
                    topic, value=record.value, key=record.key, partition=partition,
                    headers=[(n, v or b"") for n, v in decode_headers(record.headers)]))
                sent[topic] = sent.get(topic, 0) + 1
                if len(pending) >= IN_FLIGHT:
                    for future in pending:
                        await future  # raises if the broker did not take it
                    pending.clear()
                    if progress is not None:
                        progress(sum(sent.values()))
        for future in pending:
            await future
    finally:
        await producer.stop()
    return sent


async def archive_from_kafka(bootstrap: str, engine: Engine, *, batch: int = 2_000) -> int:
    """Read every catalogued topic from offset 0 to its end now into ``engine``'s archive (an
    empty scratch one). Answers how many records were archived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, max_poll_records=batch)
    await start_with_retry(consumer, "replay from kafka")
    archived = 0
    try:
        parts = [TopicPartition(t, p) for t in ALL_TOPICS if t != DEAD_LETTER
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            await consumer.topics()  # metadata not loaded yet
            parts = [TopicPartition(t, p) for t in ALL_TOPICS if t != DEAD_LETTER
                     for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        # Measured with the embedded broker: after a batch was produced, ListOffsets answered 1
        # for a partition holding 250 records. So the end is where the broker's answer says AND
        # where two fetches in a row bring nothing more; with Apache Kafka the first suffices.
        idle = 0
        while idle < 2:
            fetched = await consumer.getmany(*parts, timeout_ms=1000)
            incoming = [Incoming(r.topic, r.partition, r.offset, r.key or b"",
                                 list(r.headers or ()), r.value or b"")
                        for records in fetched.values() for r in records]
            if incoming:
                idle = 0
                archived += archive_batch(
                    lambda: unit_of_work(engine), incoming)
                continue
            behind = [tp for tp in parts if await consumer.position(tp) < ends[tp]]
            idle = 0 if behind else idle + 1
    finally:
        await consumer.stop()
    return archived
