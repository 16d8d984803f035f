"""Disaster recovery through the real embedded broker: the archive re-published into a fresh
broker comes back record for record (same topic, partition, order, key, headers and value), and
a replay's "from Kafka offset 0" source reads a broker's topics back into an archive that
verifies and holds the same events. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine

from services.audit.adapters import store
from services.audit.domain.chain import decode_headers
from services.audit.entrypoints.recovery import archive_from_kafka, republish
from services.audit.service_layer.archiving import Incoming, archive
from shared.bus.broker import EmbeddedBroker, free_port
from shared.events import topics
from tests.conftest import PostgresDatabases, migrated_engine

CHAINS = [(topics.APPLICATIONS, 0), (topics.APPLICATIONS, 2), (topics.DECISIONS, 1),
          (topics.PAYMENTS, 0)]


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "audit") as engine:
        yield engine


@pytest.fixture
def fresh_broker() -> Iterator[EmbeddedBroker]:
    """A broker of its own, started empty: the one the archive must refill."""
    instance = EmbeddedBroker(free_port())
    instance.start()
    yield instance
    instance.stop()


def records_of(topic: str, partition: int, n: int) -> list[Incoming]:
    out = []
    for i in range(n):
        case_id = f"330282-20261122-{partition:02d}{i:010d}"
        headers = [("ce_specversion", b"1.0"), ("ce_id", f"{topic}-{partition}-{i}".encode()),
                   ("ce_type", b"onedoor.test.happened"),
                   ("ce_time", f"2026-11-22T08:{i // 60:02d}:{i % 60:02d}+00:00".encode()),
                   ("ce_subject", case_id.encode()), ("content-type", b"application/json")]
        value = f'{{"case_id":"{case_id}","n":{i},"note":"第{i}条"}}'.encode()
        out.append(Incoming(topic, partition, 100 + i, case_id.encode(), headers, value))
    return out


async def read_back(bootstrap: str, parts: list[TopicPartition]) -> dict[tuple[str, int], list]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        got: dict[tuple[str, int], list] = {(tp.topic, tp.partition): [] for tp in parts}
        while any(len(got[(tp.topic, tp.partition)]) < ends[tp] for tp in parts):
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                got[(tp.topic, tp.partition)] += batch
        return got
    finally:
        await consumer.stop()


def test_the_archive_republished_into_a_fresh_broker_comes_back_record_for_record(
        engine, fresh_broker):
    for topic, partition in CHAINS:
        with engine.begin() as conn:
            archive(conn, records_of(topic, partition, 250))
    with engine.begin() as conn:  # a dead letter: a copy, not re-sent
        archive(conn, [Incoming(topics.DEAD_LETTER, 0, 0, b"k", [("ce_id", b"dl-1")], b"{}")])

    sent = asyncio.run(republish(engine, fresh_broker.bootstrap, partitions=3))
    assert sent == {topics.APPLICATIONS: 500, topics.DECISIONS: 250, topics.PAYMENTS: 250}

    got = asyncio.run(read_back(fresh_broker.bootstrap,
                                [TopicPartition(t, p) for t, p in CHAINS]))
    for topic, partition in CHAINS:
        archived = list(store.records(engine, topic=topic, partition=partition))
        published = got[(topic, partition)]
        assert [(r.key, r.value) for r in published] == [(a.key, a.value) for a in archived]
        assert [list(r.headers) for r in published] == \
            [[(n, v or b"") for n, v in decode_headers(a.headers)] for a in archived]

    # And back: a replay's Kafka source reads the fresh broker into a scratch archive.
    with migrated_engine_like(engine) as scratch:
        n = asyncio.run(archive_from_kafka(fresh_broker.bootstrap, scratch))
        assert n == 1_000
        for topic, partition in CHAINS:
            assert [(r.key, r.value) for r in store.records(scratch, topic=topic,
                                                            partition=partition)] == \
                [(r.key, r.value) for r in store.records(engine, topic=topic,
                                                         partition=partition)]


@contextlib.contextmanager
def migrated_engine_like(engine: Engine) -> Iterator[Engine]:
    """A second, empty audit database of the same kind (SQLite file or PostgreSQL)."""
    if engine.dialect.name == "sqlite":
        with migrated_engine(f"sqlite:///{tempfile.mkdtemp()}/scratch.db", "audit") as scratch:
            yield scratch
        return
    databases = PostgresDatabases()
    try:
        with migrated_engine(databases.create(), "audit") as scratch:
            yield scratch
    finally:
        databases.drop_all()
