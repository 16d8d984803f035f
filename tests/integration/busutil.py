"""Helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.bus.doorbell import ring


async def eventually(predicate: Callable[[], Any], timeout_s: float = 30.0,
                     what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes, list]]) -> None:
    """Send (topic, key, value, headers) records, in order, and wait for each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")  # as the relays send
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        ring(bootstrap)  # as the relays do: resting consumers look (embedded broker)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, match: Callable[[Any], bool], want: int,
                     timeout_s: float = 20.0) -> list[Any]:
    """Read a topic from the start, with no consumer group, until ``want`` records match."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(found) < want and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found += [r for part in batches.values() for r in part if match(r)]
    finally:
        await consumer.stop()
    return found


async def until_assigned(runtime: Any, timeout_s: float = 60.0) -> None:
    """Until the runtime's consumer holds every partition of its topics, and its relay knows the
    broker. Every partition, not just some: the services' groups are shared by the tests on the
    session's broker, and a member of an earlier test that has not yet left may still hold a
    partition the test then writes to, which it would not read until the group rebalanced
    (measured: 13 s after the previous test's consumer stopped; once, a test timed out waiting
    for its event)."""
    deadline = time.monotonic() + timeout_s
    while not (runtime.consumer and runtime.relay.epoch
               and runtime.consumer.assignment >= _every_partition(runtime)):
        if time.monotonic() > deadline:
            held = runtime.consumer.assignment if runtime.consumer else set()
            raise AssertionError(f"consumer never got all its partitions (holds {len(held)} of "
                                 f"{len(_every_partition(runtime))})")
        await asyncio.sleep(0.1)


def _every_partition(runtime: Any) -> set[TopicPartition]:
    consumer = runtime.consumer
    return {TopicPartition(topic, p) for topic in consumer._topics
            for p in range(runtime.settings.topic_partitions)}
