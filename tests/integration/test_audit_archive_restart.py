"""The audit archiver across a restart of the embedded broker, on SQLite and PostgreSQL.

Tansu keeps its log in memory: a restarted broker is empty, has a new cluster id, and numbers
every partition from offset 0 again — offsets the archive already holds for records of the old
log. The archive deduplicates by CloudEvents id, never by offset, so a new record at a re-used
offset is a new record; what must not happen is the archiver's consumer carrying its old
position (or an offset committed in the old log) into the new log, which would silently skip
the head of the new log. These tests run the audit service as deployed (its app, its
lifespan, the supervised archiver) against real brokers: nothing is mocked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.audit.adapters import store
from services.audit.adapters.tables import archive
from services.audit.bootstrap import create_app
from services.audit.domain.checkpoint import Signer
from services.audit.domain.verify import Verification, verify
from services.audit.entrypoints.archiver import Archiver, sign_now
from services.audit.entrypoints.recovery import republish
from shared.bus.broker import EmbeddedBroker
from shared.bus.kafka import new_producer
from shared.events import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.integration.busutil import eventually

Chain = tuple[str, int]  # (topic, partition): one hash chain in the archive

# A few chains on different topics and partitions (the broker makes every topic with 3).
CHAINS: list[Chain] = [(topics.APPLICATIONS, 0), (topics.APPLICATIONS, 2),
                       (topics.DECISIONS, 1), (topics.PAYMENTS, 0)]
BEFORE = 5  # records per chain in the first broker's log
# More per chain after the restart than before: offsets 0..BEFORE-1 of the new log are exactly
# what an archiver that kept its old position would skip, and there are records past them to
# show that it did.
AFTER = 12
CATCH_UP_S = 60.0  # generous: the consumer reconnects and rejoins its group after a restart


@dataclass(frozen=True)
class Event:
    """One record as a relay would publish it: CloudEvents headers, the case id as key."""

    topic: str
    partition: int
    event_id: str
    key: bytes
    value: bytes

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [("ce_specversion", b"1.0"), ("ce_id", self.event_id.encode()),
                ("ce_type", b"onedoor.test.happened"), ("ce_source", b"/onedoor/test"),
                ("ce_time", b"2026-11-22T08:00:00+00:00"),
                ("content-type", b"application/json")]


def events(label: str, n: int) -> list[Event]:
    """``n`` fresh events on each chain; ids are unique, so nothing here is a re-send."""
    out = []
    for topic, partition in CHAINS:
        for i in range(n):
            case_id = f"330282-20261122-{partition:02d}{i:010d}"
            out.append(Event(topic, partition, f"{label}-{uuid.uuid4()}", case_id.encode(),
                             f'{{"case_id":"{case_id}","n":{i},"label":"{label}"}}'.encode()))
    return out


async def produce(bootstrap: str, batch: list[Event]) -> None:
    """Publish in order, each to its own partition, and wait until the broker has them all."""
    producer = new_producer(bootstrap)  # the relays' producer: acks=all
    await producer.start()
    try:
        for e in batch:
            await producer.send_and_wait(e.topic, value=e.value, key=e.key,
                                         partition=e.partition, headers=e.headers)
    finally:
        await producer.stop()


@dataclass
class Audit:
    """The running audit service: what the tests look at."""

    app: FastAPI
    runtime: ServiceRuntime
    archiver: Archiver
    signer: Signer

    def rows(self) -> list[tuple[str, int, int, int, str | None]]:
        """(topic, partition, seq, kafka offset, event id) of every archived record."""
        with self.runtime.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                select(archive.c.topic, archive.c.partition, archive.c.seq,
                       archive.c.kafka_offset, archive.c.event_id)
                .order_by(archive.c.topic, archive.c.partition, archive.c.seq))]

    def count(self) -> int:
        with self.runtime.engine.connect() as conn:
            return store.count(conn)

    def checkpoint(self) -> None:
        sign_now(self.runtime, self.signer)

    def verify(self) -> Verification:
        """The project's verification, against the checkpoints signed so far."""
        engine = self.runtime.engine
        with engine.connect() as conn:
            marks = store.all_checkpoints(conn)
        return verify(store.records(engine), marks,
                      {self.signer.key_id: self.signer.public_key_pem()})


@pytest.fixture
async def audit(database_url: str, own_broker: EmbeddedBroker,
                tmp_path: Path) -> AsyncIterator[Audit]:
    """The audit service, started as bootstrap wires it (migrations, the supervised archiver),
    on this test's database. Checkpoints are signed by the test, not on a timer."""
    settings = Settings(env="test", kafka_bootstrap=own_broker.bootstrap, data_dir=tmp_path,
                        audit_database_url=database_url, audit_checkpoint_interval_s=3600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield Audit(app, app.state.runtime, app.state.archiver, app.state.signer)


def archiver_task(audit: Audit) -> asyncio.Task[None]:
    [task] = [t for t in audit.runtime.tasks if t.get_name() == "audit-archiver"]
    return task


def by_chain(rows: list[tuple[str, int, int, int, str | None]]) -> dict[Chain, list[str | None]]:
    """Each chain's event ids in seq order."""
    chains: dict[Chain, list[str | None]] = {}
    for topic, partition, _seq, _offset, event_id in rows:
        chains.setdefault((topic, partition), []).append(event_id)
    return chains


def expected(*batches: list[Event]) -> dict[Chain, list[str | None]]:
    """Each chain's event ids in the order they were published, batch after batch."""
    chains: dict[Chain, list[str | None]] = {}
    for batch in batches:
        for e in batch:
            chains.setdefault((e.topic, e.partition), []).append(e.event_id)
    return chains


async def archived(audit: Audit, n: int, what: str) -> None:
    """Wait until the archive holds ``n`` records — and not more."""
    await eventually(lambda: audit.count() >= n, timeout_s=CATCH_UP_S, what=what)
    assert audit.count() == n


async def test_a_broker_restart_loses_no_record_and_archives_none_twice(
        audit: Audit, own_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:
    first = events("old-log", BEFORE)
    await produce(own_broker.bootstrap, first)
    await archived(audit, len(first), "the first log archived")
    audit.checkpoint()  # the heads of the first log, signed: the restart must not rewrite them

    # The broker goes away under the running archiver and comes back empty on the same port.
    old_epoch = own_broker.cluster_id
    await asyncio.to_thread(own_broker.stop)
    await asyncio.to_thread(own_broker.start)
    assert own_broker.cluster_id != old_epoch
    # New events at once, before the archiver has necessarily noticed anything: their offsets
    # 0..AFTER-1 re-use offsets the archive holds, and the first BEFORE of them sit below the
    # archiver's old position in each partition.
    second = events("new-log", AFTER)
    await produce(own_broker.bootstrap, second)

    await archived(audit, len(first) + len(second), "the new log archived")
    rows = audit.rows()
    # Not one lost, not one twice, and each chain continues in the order of publication.
    assert Counter(r[4] for r in rows).most_common(1)[0][1] == 1
    assert by_chain(rows) == expected(first, second)
    # The offsets did start again: each chain holds offsets 0..BEFORE-1 twice, one per log.
    for chain in CHAINS:
        offsets = [r[3] for r in rows if (r[0], r[1]) == chain]
        assert offsets == list(range(BEFORE)) + list(range(AFTER))

    audit.checkpoint()
    result = audit.verify()
    assert result.ok, result.findings
    assert (result.records, result.chains, result.checkpoints) == (
        len(first) + len(second), len(CHAINS), 2)
    # Nobody restarted the archiver, by hand or by its supervisor: it rode the restart out.
    assert not archiver_task(audit).done()
    assert not [r for r in caplog.records if "audit-archiver crashed" in r.getMessage()]


async def test_republishing_the_archive_into_the_fresh_broker_archives_nothing_twice(
        audit: Audit, own_broker: EmbeddedBroker) -> None:
    first = events("old-log", BEFORE)
    await produce(own_broker.bootstrap, first)
    await archived(audit, len(first), "the first log archived")
    audit.checkpoint()

    await asyncio.to_thread(own_broker.restart)  # the log is gone: disaster recovery
    sent = await republish(audit.runtime.engine, own_broker.bootstrap, partitions=3)
    assert sum(sent.values()) == len(first)
    # The archiver reads the re-published copies back: they carry their original ids, so none
    # is archived again. To know it has read them all (without sleeping), one new event per
    # chain goes in after them: a partition is read in order, so once these are archived every
    # copy before them has been seen.
    markers = events("after-republish", 1)
    await produce(own_broker.bootstrap, markers)

    await archived(audit, len(first) + len(markers), "the markers after the re-published log")
    rows = audit.rows()
    assert by_chain(rows) == expected(first, markers)
    audit.checkpoint()
    result = audit.verify()
    assert result.ok, result.findings
    assert (result.records, result.checkpoints) == (len(first) + len(markers), 2)
    assert not archiver_task(audit).done()
