"""The unit of work: the only place in a service that commits.

A handler does its reads and writes through ``uow.conn`` and announces what happened with
``uow.publish(event)``. The transaction begins at the first use of ``uow.conn``: on SQLite it
takes the database's one write lock, so a handler does its pure work (validation, building and
serialising events) first and holds the lock only for its statements.

Nothing is written until ``commit()``, which stores the outbox rows in the same transaction as
the state change — so an event is published if and only if the change it describes happened —
and then wakes the relay. Leaving the block without committing rolls back.

Two things ride along (issue 25). An event staged while a span is current carries that span's
trace context in its headers (``ce_traceparent``: shared/tracing/), so that whoever handles it
continues the trace. And a commit counts the events it stored, by type, with the business
figures they carry (shared/metrics.py): the one place every service's events pass through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy import Connection, Engine, MetaData, NestedTransaction, RootTransaction, Table
from sqlalchemy.exc import IntegrityError

from shared import metrics, tracing
from shared.bulk import insert_rows
from shared.bus.tables import inbox_table, outbox_table
from shared.events.base import Event
from shared.events.envelope import Envelope, KafkaRecord, to_record


class BusTables:
    """The outbox and inbox of one service's database."""

    def __init__(self, metadata: MetaData) -> None:
        self.outbox: Table = outbox_table(metadata)
        self.inbox: Table = inbox_table(metadata)


class UnitOfWork:
    """One database transaction plus the events it will publish. A service that publishes no
    event (the window) has no outbox: ``bus`` None, and ``publish`` refuses."""

    def __init__(
        self,
        engine: Engine,
        bus: BusTables | None,
        source: str,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self.bus = bus
        self.source = source
        self.service = source.rsplit("/", 1)[-1]  # "/onedoor/intake": intake
        self._on_commit = on_commit
        self._pending: list[tuple[str, KafkaRecord]] = []
        self._events: list[Event] = []  # staged with publish(): counted when committed
        self._after_commit: list[Callable[[], None]] = []
        self.published: list[Envelope] = []
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    def __enter__(self) -> Self:
        return self

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect()
            try:
                self._tx = conn.begin()
            except BaseException:
                conn.close()  # the caller sees why BEGIN failed, not a missing attribute
                raise
            self._conn = conn
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end()

    def _end(self) -> None:
        """Leaving the block: roll back what was not committed, give the connection back."""
        if self._conn is not None:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
            self._conn.close()
            self._conn = None

    @property
    def inbox(self) -> Table:
        """The inbox of the consumer running this unit of work's handler."""
        if self.bus is None:
            raise RuntimeError(f"{self.service} consumes no events: it has no inbox")
        return self.bus.inbox

    def publish(self, event: Event) -> Envelope:
        """Stage an event for the outbox; it is written only if this unit of work commits."""
        if self.bus is None:
            raise RuntimeError(f"{self.service} publishes no events: it has no outbox")
        envelope = Envelope(data=event, source=self.source)
        record = to_record(envelope)
        if tracing.enabled():
            record.headers.extend(tracing.outgoing())
        self._pending.append((envelope.id, record))
        self._events.append(event)
        self.published.append(envelope)
        return envelope

    def publish_record(self, event_id: str, record: KafkaRecord) -> None:
        """Stage a ready-made record (the dead-letter path, which keeps the original bytes)."""
        if self.bus is None:
            raise RuntimeError(f"{self.service} publishes no events: it has no outbox")
        self._pending.append((event_id, record))

    def after_commit(self, then: Callable[[], None]) -> None:
        """Run ``then`` once this unit of work has committed (never if it rolls back): for a
        figure no event carries (shared/metrics.py, payments written to a bank file)."""
        self._after_commit.append(then)

    def commit(self) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "event_id": event_id,
                "topic": record.topic,
                "key": record.key,
                "value": record.value,
                "headers": json.dumps(
                    [[k, v.decode("utf-8", "replace")] for k, v in record.headers]),
                "created_at": now,
            }
            for event_id, record in self._pending
        ]
        if rows and self.bus is not None:  # publish() refused every event without a bus
            insert_rows(self.conn, self.bus.outbox, rows)
        if self._tx is not None:
            self._tx.commit()
        events, self._pending, self._events = self._events, [], []
        if events:
            metrics.count_committed(self.service, events)
        after, self._after_commit = self._after_commit, []
        for then in after:
            then()
        if rows and self._on_commit is not None:
            self._on_commit()

    def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        self._pending = []
        self._events = []
        self._after_commit = []

    def adopt(self, member: UnitOfWork) -> None:
        """Take over what ``member`` staged, to be stored and announced with this transaction's
        commit: the events, their figures, the work after the commit."""
        self._pending += member._pending
        self._events += member._events
        self._after_commit += member._after_commit
        member._pending, member._events, member._after_commit = [], [], []


class Savepoint(UnitOfWork):
    """A unit of work inside another's transaction (shared/group_commit.py): its statements run
    in a savepoint of the group's connection. Its ``commit`` releases the savepoint and hands its
    events to the group, which writes and announces them when the whole transaction commits; its
    ``rollback``, or leaving it without committing, undoes its own writes and nothing else."""

    def __init__(self, group: UnitOfWork) -> None:
        super().__init__(group._engine, group.bus, group.source)
        self._group = group
        self._savepoint: NestedTransaction | None = None

    @property
    def conn(self) -> Connection:
        if self._savepoint is None or not self._savepoint.is_active:
            self._savepoint = self._group.conn.begin_nested()
        return self._group.conn

    def _end(self) -> None:
        self.rollback()  # a no-op once committed; the group's connection stays open

    def commit(self) -> None:
        if self._savepoint is not None and self._savepoint.is_active:
            self._savepoint.commit()
        self._group.adopt(self)

    def rollback(self) -> None:
        if self._savepoint is not None and self._savepoint.is_active:
            self._savepoint.rollback()
        super().rollback()


T = TypeVar("T")


def once_more_on_conflict(attempt: Callable[[], T]) -> T:
    """Runs ``attempt`` — work that opens and commits a unit of work of its own — and, when the
    database refuses it for a unique key, once more. Two requests with one Idempotency-Key at
    once (PostgreSQL lets both pass the look-up): the loser's insert fails, and its second
    attempt finds the winner's answer. Or a once-only index refused a duplicate, which the
    second attempt reports as the state now is. A second refusal is raised."""
    try:
        return attempt()
    except IntegrityError:
        return attempt()
