"""The poller (shared/bus/poller.py) on real brokers: the embedded Tansu broker, restarted where a
test needs a new log, and a 3-node Apache Kafka cluster. Nothing of Kafka is mocked: the
strategies here only record what they were given, and hold or fail a batch when told to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy import select

from deploy.households import resident_id
from deploy.kafka_cluster import KafkaCluster
from services.verification.adapters.tables import bus, partner_records
from services.verification.bootstrap import create_app as create_verification
from services.verification.entrypoints.partner_topics import TOPICS, topic_of
from shared.bus.broker import EmbeddedBroker
from shared.bus.doorbell import ring
from shared.bus.kafka import Cluster, new_producer
from shared.bus.poller import EpochCheck, Poller
from shared.events.topics import DEAD_LETTER
from tests.integration.busutil import eventually
from tests.integration.test_bus import settings

Broker = EmbeddedBroker | KafkaCluster
MODES: list[EpochCheck] = ["before commit", "before handling"]
WAIT_S = 90.0  # generous: two cores, shared with another test run; a rejoin after a restart


class Failed(RuntimeError):
    """What a failing strategy raises."""


class Recorder:
    """A strategy that records each batch's values; told to, it holds a batch until released,
    or fails it."""

    def __init__(self, epoch_check: EpochCheck = "before commit") -> None:
        self.epoch_check = epoch_check
        self.values: list[bytes] = []
        self.handling = asyncio.Event()  # set once a batch is in handle
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def handle(self, records: list[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        self.handling.set()
        await self.release.wait()
        if self.fail:
            raise Failed("the strategy could not handle the batch")
        self.values += [r.value for r in records]


class CountingCluster(Cluster):
    """The project's Cluster, counting how often it asks the broker (only ``epoch`` does)."""

    asked = 0

    async def _client(self) -> AIOKafkaAdminClient:
        self.asked += 1
        return await super()._client()


async def new_topic(broker: Broker, name: str | None = None) -> str:
    """A topic of the test's own (one partition), replicated to every node on Kafka."""
    name = name or f"test.poller.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        replicas = broker.replication_factor if isinstance(broker, KafkaCluster) else 1
        with contextlib.suppress(TopicAlreadyExistsError):  # a client may have made it first
            await admin.create_topics([NewTopic(name, 1, replicas)])
    finally:
        await admin.close()
    return name


def consumer_for(broker: Broker, topic: str, group: str,
                 **over: object) -> Callable[[], AIOKafkaConsumer]:
    def make() -> AIOKafkaConsumer:
        options: dict[str, object] = dict(
            bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=5000)
        options.update(over)
        return AIOKafkaConsumer(topic, **options)  # type: ignore[arg-type]
    return make


def poller(broker: Broker, topic: str, group: str, strategy: Recorder,
           cluster: Cluster | None = None, **over: object) -> Poller:
    cluster = cluster or Cluster(broker.bootstrap, 1, kind=broker.kind)
    return Poller(consumer_for(broker, topic, group, **over), cluster, strategy,
                  who=f"test poller {group}", fetch_timeout_ms=300, retry_s=0.2)


async def committed(broker: Broker, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset for ``tp``, read as the group's consumers read it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp)  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def commits(broker: Broker, group: str, tp: TopicPartition, offset: int) -> None:
    """Until the group has committed ``offset`` for ``tp``."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (now := await committed(broker, group, tp)) != offset:
        assert asyncio.get_running_loop().time() < deadline, f"committed {now}, not {offset}"
        await asyncio.sleep(0.1)


async def publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Records in order, all to partition 0, whatever the number of partitions the topic has (a
    client may make it, with the broker's default, before the test does after a restart)."""
    producer = new_producer(bootstrap)  # the relays' producer: acks=all
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=b"k", partition=0)
        ring(bootstrap)  # as the relays do: resting pollers look (embedded broker)
    finally:
        await producer.stop()


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def poller_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="shared.bus.poller"):
        yield caplog


@pytest.mark.parametrize("mode", MODES)
async def test_offsets_are_committed_only_after_the_strategy_handled_the_batch(
        bus_broker: Broker, mode: EpochCheck) -> None:
    topic = await new_topic(bus_broker)
    group = f"test-poller-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    strategy = Recorder(mode)
    strategy.release.clear()
    await publish(bus_broker.bootstrap, topic, [b"a", b"b", b"c"])
    task = asyncio.create_task(poller(bus_broker, topic, group, strategy).run())
    try:
        await asyncio.wait_for(strategy.handling.wait(), WAIT_S)
        await asyncio.sleep(1.0)  # the batch held: time enough for a commit that came early
        assert await committed(bus_broker, group, tp) is None
        strategy.release.set()
        await eventually(lambda: strategy.values == [b"a", b"b", b"c"], WAIT_S, "the batch")
        await commits(bus_broker, group, tp, 3)

        # A batch the strategy fails ends the run, uncommitted.
        strategy.fail = True
        await publish(bus_broker.bootstrap, topic, [b"d", b"e"])
        with pytest.raises(Failed):
            await asyncio.wait_for(task, WAIT_S)
        assert await committed(bus_broker, group, tp) == 3
    finally:
        await stopped(task)

    # So the next run of the group is given the batch again.
    again = Recorder(mode)
    task = asyncio.create_task(poller(bus_broker, topic, group, again).run())
    try:
        await eventually(lambda: again.values == [b"d", b"e"], WAIT_S, "the failed batch again")
    finally:
        await stopped(task)


async def test_a_fetch_error_does_not_end_the_loop(
        bus_broker: Broker, poller_log: pytest.LogCaptureFixture) -> None:
    """A consumer told not to reset its position, in a group with no offset: every fetch fails
    (NoOffsetForPartition, raised by getmany at once, again and again) until the position is
    set."""
    topic = await new_topic(bus_broker)
    group = f"test-poller-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    await publish(bus_broker.bootstrap, topic, [b"zero", b"one", b"two"])
    strategy = Recorder()
    the_poller = poller(bus_broker, topic, group, strategy, auto_offset_reset="none")
    task = asyncio.create_task(the_poller.run())

    def failures() -> list[logging.LogRecord]:
        return [r for r in poller_log.records if "fetch failed" in r.getMessage()]

    try:
        await eventually(lambda: len(failures()) >= 3, WAIT_S, "fetches failing, and retried")
        assert not task.done()
        assert "NoOffsetForPartition" in failures()[0].getMessage()
        # Retried after a short sleep (0.2 s here), not in a tight loop.
        first = failures()[0].created
        await asyncio.sleep(1.0)
        recent = failures()
        assert len(recent) <= (recent[-1].created - first) / 0.2 + 2

        assert the_poller.consumer is not None
        the_poller.consumer.seek(tp, 1)  # an operator's choice: where the group starts
        await eventually(lambda: strategy.values == [b"one", b"two"], WAIT_S,
                         "the records from the position set")
        await commits(bus_broker, group, tp, 3)
        assert not task.done()
    finally:
        await stopped(task)


@pytest.mark.parametrize("mode", MODES)
async def test_after_a_broker_restart_the_new_log_is_read_again_from_the_start(
        own_broker: EmbeddedBroker, mode: EpochCheck) -> None:
    topic = await new_topic(own_broker)
    group = f"test-poller-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    strategy = Recorder(mode)
    the_poller = poller(own_broker, topic, group, strategy)
    task = asyncio.create_task(the_poller.run())
    try:
        old = [f"old-{i}".encode() for i in range(4)]
        await publish(own_broker.bootstrap, topic, old)
        await eventually(lambda: strategy.values == old, WAIT_S, "the old log")
        old_epoch = own_broker.cluster_id
        assert the_poller.epoch == old_epoch

        # A new log, longer than the old position: its first records sit below that position.
        await asyncio.to_thread(own_broker.restart)
        await new_topic(own_broker, topic)  # the new broker has only the catalogue's topics
        new = [f"new-{i}".encode() for i in range(10)]
        await publish(own_broker.bootstrap, topic, new)

        await eventually(lambda: set(strategy.values) >= set(new), WAIT_S, "the new log")
        assert the_poller.epoch == own_broker.cluster_id != old_epoch
        assert strategy.values[:len(old)] == old
        if mode == "before handling":
            # No record of the new log handled before every record ahead of it: a batch read at
            # the old position was dropped. (Read again from the start, when the restarted
            # broker's group is joined anew, is harmless and allowed.)
            assert list(dict.fromkeys(strategy.values[len(old):])) == new
        await commits(own_broker, group, tp, len(new))
        assert not task.done()
    finally:
        await stopped(task)


async def test_the_epoch_costs_kafka_no_round_trip(bus_broker: Broker) -> None:
    """On Apache Kafka the epoch is read once; the embedded broker is asked at every check."""
    topic = await new_topic(bus_broker)
    group = f"test-poller-{uuid.uuid4().hex[:8]}"
    cluster = CountingCluster(bus_broker.bootstrap, 1, kind=bus_broker.kind)
    strategy = Recorder("before handling")
    task = asyncio.create_task(poller(bus_broker, topic, group, strategy, cluster).run())
    try:
        for i in range(3):
            await publish(bus_broker.bootstrap, topic, [f"r-{i}".encode()])
            await eventually(lambda i=i: len(strategy.values) == i + 1, WAIT_S, "a batch")
        await asyncio.sleep(1.0)  # idle checks too
    finally:
        await stopped(task)
        await cluster.close()
    if bus_broker.kind == "kafka":
        assert cluster.asked == 1
    else:
        assert cluster.asked > 3


# The partner topics' consumer, as the verification service runs it.

async def make_partner_topics(bootstrap: str, partitions: int) -> None:
    """The partner topics, as the service makes them when it starts."""
    cluster = Cluster(bootstrap, partitions)
    try:
        await cluster.ensure_topics(TOPICS)
    finally:
        await cluster.close()


def partner_line(record_id: str, n: int, kind: str = "wage") -> bytes:
    return json.dumps({"record_id": record_id, "kind": kind, "amount_fen": 100_000 + n,
                       "resident_id": resident_id("330282", date(1971, 4, 4), n % 50 + 1),
                       "as_of": "2026-11-30"}).encode()


async def test_after_a_broker_restart_the_partner_topics_are_read_again_from_the_start(
        own_broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The embedded broker restarts with an empty log, and a department publishes more lines
    than before. Read from the old position, the new log's tail would come before its head (and
    the head not at all while the position held). The new log's lines are all refused here (a
    kind the department does not publish), because a refused line leaves a trace in the order
    it was read: a dead-letter record naming its offset, written in the batch's transaction."""
    topic = topic_of("hr_social_security")
    tag = uuid.uuid4().hex[:8]
    app = create_verification(settings(
        own_broker.bootstrap, verification_database_url=f"sqlite:///{tmp_path / 'v.db'}"))
    engine = app.state.runtime.engine
    partitions = app.state.runtime.settings.topic_partitions

    def stored() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(select(partner_records.c.record_id).where(
                partner_records.c.record_id.like(f"%-{tag}"))).scalars())

    def dead_lettered_offsets() -> list[int]:
        """The offsets of the topic's refused lines, in the order they were dead-lettered."""
        with engine.connect() as conn:
            rows = conn.execute(select(bus.outbox.c.headers).where(
                bus.outbox.c.topic == DEAD_LETTER).order_by(bus.outbox.c.id)).scalars()
            headers = [dict(json.loads(h)) for h in rows]
        return [int(h["dlq_offset"]) for h in headers if h.get("dlq_topic") == topic]

    await make_partner_topics(own_broker.bootstrap, partitions)
    async with app.router.lifespan_context(app):
        old = [f"old-{i}-{tag}" for i in range(5)]
        await publish(own_broker.bootstrap, topic,
                      [partner_line(r, i) for i, r in enumerate(old)])
        await eventually(lambda: stored() == set(old), WAIT_S, "the first log's lines")

        await asyncio.to_thread(own_broker.restart)
        # The new broker has only the catalogue's topics; the service made these at its start.
        await make_partner_topics(own_broker.bootstrap, partitions)
        new = [f"new-{i}-{tag}" for i in range(15)]
        await publish(own_broker.bootstrap, topic,
                      [partner_line(r, i, "vehicle") for i, r in enumerate(new)])
        await eventually(lambda: set(dead_lettered_offsets()) == set(range(len(new))), WAIT_S,
                         "every line of the new log refused")
        # The new log read from its start, in order: no line before every line ahead of it.
        # Reading it again (the restarted broker's group rejoined, and the position came from
        # its start once more) is harmless and allowed.
        assert list(dict.fromkeys(dead_lettered_offsets())) == list(range(len(new)))
        assert stored() == set(old)
        [task] = [t for t in app.state.runtime.tasks if t.get_name().endswith("partner-topics")]
        assert not task.done()
    assert not [r for r in caplog.records if "partner-topics crashed" in r.getMessage()]
