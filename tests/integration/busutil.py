"""Helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


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
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
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


async def until_assigned(runtime: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (runtime.consumer and runtime.consumer.assignment and runtime.relay.epoch):
        if time.monotonic() > deadline:
            raise AssertionError("consumer never got its partitions")
        await asyncio.sleep(0.1)
