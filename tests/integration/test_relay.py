"""The two outbox bugs seen elsewhere (../shared/STYLE.md), tested on PostgreSQL, where
several writers and several relays can really run at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from services.intake.adapters.tables import bus
from shared.bus.kafka import Cluster
from shared.bus.relay import OutboxRelay
from shared.events import topics
from shared.events.catalogue import PaymentScheduled
from shared.events.envelope import Envelope, to_record
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.busutil import eventually, read_topic

pytestmark = pytest.mark.postgres


def event(tag: str) -> PaymentScheduled:
    return PaymentScheduled(case_id=f"relay-{tag}", payment_id=str(uuid.uuid4()),
                            programme="dibao", period="2026-11", amount_fen=100,
                            beneficiary_ref="p-x", region_code="330282",
                            scheduled_at=datetime.now(UTC))


@contextlib.asynccontextmanager
async def relays(engine, broker, count: int):  # type: ignore[no-untyped-def]
    running = [OutboxRelay(engine, bus, broker.bootstrap,
                           Cluster(broker.bootstrap, 3, kind=broker.kind), batch_size=50)
               for _ in range(count)]
    tasks = [asyncio.create_task(r.run()) for r in running]
    try:
        yield running
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def unpublished(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return len(conn.execute(select(bus.outbox.c.id)
                                .where(bus.outbox.c.published_at.is_(None))).all())


async def test_a_row_that_commits_late_is_still_published(postgres_url, bus_broker):
    tag = uuid.uuid4().hex[:8]
    with migrated_engine(postgres_url, "intake") as engine:
        async with relays(engine, bus_broker, 1):
            late = engine.connect()
            late.begin()
            record = to_record(Envelope(data=event(f"{tag}-late"), source="/test"))
            late.execute(insert(bus.outbox).values(  # takes the lower id, commits last
                event_id=f"late-{tag}", topic=record.topic, key=record.key, value=record.value,
                headers=json.dumps([[k, v.decode()] for k, v in record.headers]),
                created_at=datetime.now(UTC)))
            with UnitOfWork(engine, bus, "/test") as uow:
                uow.publish(event(f"{tag}-early"))
                uow.commit()
            early = await read_topic(bus_broker.bootstrap, topics.PAYMENTS,
                                     lambda r: r.key == f"relay-{tag}-early".encode(), want=1)
            assert len(early) == 1
            late.commit()
            late.close()
            found = await read_topic(bus_broker.bootstrap, topics.PAYMENTS,
                                     lambda r: r.key == f"relay-{tag}-late".encode(), want=1)
            assert len(found) == 1


async def test_two_relays_on_one_database_send_each_event_once(postgres_url, bus_broker):
    tag = uuid.uuid4().hex[:8]
    with migrated_engine(postgres_url, "intake") as engine:
        for batch in range(10):
            with UnitOfWork(engine, bus, "/test") as uow:
                for i in range(30):
                    uow.publish(event(f"{tag}-{batch}-{i}"))
                uow.commit()
        async with relays(engine, bus_broker, 2) as running:
            await eventually(lambda: unpublished(engine) == 0, what="every row published")
            shares = [r.published_total for r in running]
        records = await read_topic(bus_broker.bootstrap, topics.PAYMENTS,
                                   lambda r: r.key.startswith(f"relay-{tag}-".encode()),
                                   want=301, timeout_s=8)
    ids = [dict(r.headers)["ce_id"] for r in records]
    assert len(ids) == 300 and len(set(ids)) == 300  # all of them, none twice
    assert sum(shares) == 300
