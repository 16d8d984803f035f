"""Resting (shared/bus/poller.py): on the embedded broker a poller with nothing to read stops
fetching until a writer rings the doorbell or its rest is up; on Apache Kafka it never rests, the
broker holding its fetch instead. Behaviour only: how fast is `make bench`'s (bench/idle.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from shared.bus.broker import EmbeddedBroker
from shared.bus.doorbell import ring
from shared.bus.kafka import Cluster
from shared.bus.poller import Poller
from tests.integration.busutil import eventually
from tests.integration.test_poller import (
    WAIT_S,
    Broker,
    Recorder,
    consumer_for,
    new_topic,
    stopped,
)


def resting_poller(broker: Broker, topic: str, strategy: Recorder, rest_s: float) -> Poller:
    group = f"test-rest-{uuid.uuid4().hex[:8]}"
    return Poller(consumer_for(broker, topic, group), Cluster(broker.bootstrap, 1,
                  kind=broker.kind), strategy, who=f"test poller {group}",
                  fetch_timeout_ms=300, retry_s=0.2, rest_s=rest_s)


async def write(bootstrap: str, topic: str, value: bytes) -> None:
    """One record, by a writer that does not ring (a partner, a tool)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"k", partition=0)
    finally:
        await producer.stop()


def resting(poller: Poller) -> bool:
    consumer = poller.consumer
    return (poller.rests > 0 and consumer is not None and bool(consumer.assignment())
            and consumer.paused() == consumer.assignment())


async def test_an_idle_poller_rests_until_the_doorbell_rings(broker: EmbeddedBroker) -> None:
    topic = await new_topic(broker)
    strategy = Recorder()
    # A rest no test outlives: only the ring can end it.
    poller = resting_poller(broker, topic, strategy, rest_s=3600)
    task = asyncio.create_task(poller.run())
    try:
        await eventually(lambda: resting(poller), WAIT_S, "the poller at rest")
        await write(broker.bootstrap, topic, b"rung for")
        ring(broker.bootstrap)
        await eventually(lambda: strategy.values == [b"rung for"], WAIT_S, "the record")
        await eventually(lambda: resting(poller) and poller.rests > 1, WAIT_S, "at rest again")
    finally:
        await stopped(task)


async def test_a_record_nobody_rang_for_is_read_after_the_rest(broker: EmbeddedBroker) -> None:
    topic = await new_topic(broker)
    strategy = Recorder()
    poller = resting_poller(broker, topic, strategy, rest_s=0.5)
    task = asyncio.create_task(poller.run())
    try:
        await eventually(lambda: resting(poller), WAIT_S, "the poller at rest")
        await write(broker.bootstrap, topic, b"unannounced")
        await eventually(lambda: strategy.values == [b"unannounced"], WAIT_S, "the record")
    finally:
        await stopped(task)


@pytest.mark.kafka
async def test_on_kafka_a_poller_waits_at_the_broker_and_never_rests(
        kafka_cluster: Broker) -> None:
    topic = await new_topic(kafka_cluster)
    strategy = Recorder()
    poller = resting_poller(kafka_cluster, topic, strategy, rest_s=0.5)
    assert poller.doorbell is None
    task = asyncio.create_task(poller.run())
    try:
        await write(kafka_cluster.bootstrap, topic, b"one")
        await eventually(lambda: strategy.values == [b"one"], WAIT_S, "the record")
        await asyncio.sleep(1.0)  # idle fetches came back empty meanwhile
        assert poller.rests == 0
        assert poller.consumer is not None and not poller.consumer.paused()
    finally:
        await stopped(task)
