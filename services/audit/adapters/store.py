"""The archive in audit's database: chains appended to, streamed back, and checkpoints."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Text, cast, func, insert, select, tuple_

from services.audit.adapters.tables import access_log, archive, checkpoints
from services.audit.domain.chain import ChainHead, Record
from services.audit.domain.checkpoint import Checkpoint, from_json, to_json
from shared.bulk import driver_rows, insert_rows
from shared.db import reading


def heads(conn: Connection) -> dict[tuple[str, int], ChainHead]:
    """The last record of every chain."""
    last = (select(archive.c.topic, archive.c.partition, func.max(archive.c.seq).label("seq"))
            .group_by(archive.c.topic, archive.c.partition).subquery())
    rows = conn.execute(
        select(archive.c.topic, archive.c.partition, archive.c.seq, archive.c.hash)
        .join(last, (last.c.topic == archive.c.topic) & (last.c.partition == archive.c.partition)
              & (last.c.seq == archive.c.seq)))
    return {(r.topic, r.partition): ChainHead(r.topic, r.partition, r.seq, r.hash) for r in rows}


def head(conn: Connection, topic: str, partition: int) -> ChainHead | None:
    """The last record of one chain: the primary key's last entry for it, not a scan."""
    row = conn.execute(select(archive.c.seq, archive.c.hash)
                       .where(archive.c.topic == topic, archive.c.partition == partition)
                       .order_by(archive.c.seq.desc()).limit(1)).first()
    return None if row is None else ChainHead(topic, partition, row.seq, row.hash)


def known_events(conn: Connection, topic: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    return set(conn.execute(select(archive.c.event_id).where(
        archive.c.topic == topic, archive.c.event_id.in_(event_ids))).scalars())


def append(conn: Connection,
           records: Sequence[tuple[Record, str | None, str | None, int | None, str | None]],
           at: datetime) -> None:
    """Inserts chained records (with their event id, type, time and subject)."""
    insert_rows(conn, archive, [
        {"topic": r.topic, "partition": r.partition, "seq": r.seq, "kafka_offset": r.offset,
         "event_id": event_id, "event_type": event_type, "key": r.key, "headers": r.headers,
         "value": r.value, "prev_hash": r.prev_hash, "hash": r.hash, "archived_at": at,
         "event_time": event_time, "subject": subject}
        for r, event_id, event_type, event_time, subject in records])


def records(engine: Engine, *, topic: str | None = None, partition: int | None = None,
            batch: int = 10_000) -> Iterator[Record]:
    """Every record, chain by chain in seq order, streamed in pages: keyset pagination on the
    primary key with a row-value comparison (an OR of the three columns made SQLite rescan the
    index from the start for every page), each page a read-only snapshot (no writer lock taken
    from the archiver), so neither side holds the archive in memory."""
    columns = (archive.c.topic, archive.c.partition, archive.c.seq, archive.c.kafka_offset,
               archive.c.key, archive.c.headers, archive.c.value, archive.c.prev_hash,
               archive.c.hash, archive.c.event_type, archive.c.event_time, archive.c.subject)
    query = select(*columns).order_by(archive.c.topic, archive.c.partition, archive.c.seq)
    if topic is not None:
        query = query.where(archive.c.topic == topic)
    if partition is not None:
        query = query.where(archive.c.partition == partition)
    after: tuple[str, int, int] | None = None
    while True:
        page = query if after is None else query.where(
            tuple_(archive.c.topic, archive.c.partition, archive.c.seq) > tuple_(*after))
        with reading(engine) as conn:
            rows = driver_rows(conn, page.limit(batch))
        if not rows:
            return
        for t, p, seq, offset, key, headers, value, prev_hash, hash_, kind, at, subject in rows:
            yield Record(t, p, seq, offset, _bytes(key), _bytes(headers), _bytes(value),
                         prev_hash, hash_, (kind, at, subject))
        last = rows[-1]
        after = (last[0], last[1], last[2])


def chains(conn: Connection) -> list[tuple[str, int]]:
    """Every (topic, partition) the archive holds a chain for."""
    return [(t, p) for t, p in conn.execute(
        select(archive.c.topic, archive.c.partition).distinct()
        .order_by(archive.c.topic, archive.c.partition))]


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(archive)).scalar_one())


def topic_values(conn: Connection, topic: str, event_type: str) -> list[bytes]:
    """The values of one topic's events of a type, every partition, in chain order (the
    primary key's prefix: a topic of a few records is read without a scan)."""
    return [_bytes(v) for v in conn.execute(
        select(archive.c.value).where(archive.c.topic == topic,
                                      archive.c.event_type == event_type)
        .order_by(archive.c.partition, archive.c.seq)).scalars()]


def topic_count(conn: Connection, topic: str) -> int:
    """How many records one topic holds (its range of the primary key)."""
    return int(conn.execute(select(func.count()).select_from(archive)
                            .where(archive.c.topic == topic)).scalar_one())


# An event as the replay folds it: (event time in µs, type, case id, event id, value).
Event = tuple[int, str, str, str | None, bytes]


def event_pages(engine: Engine, *, leaving_out: str, until: int | None = None,
                batch: int = 20_000) -> Iterator[list[Event]]:
    """Every event as the replay reads it, all chains in one stream by event time (microseconds;
    ties by chain and seq, the order a merge of the chains gave), in pages of about ``batch``.
    The case is the event's subject, else its key. Records without a type or time are not
    events; the topic ``leaving_out`` is skipped.

    Each process of a parallel replay reads every event, so the rows are the driver's own, in
    the fold's shape: on SQLite the case is taken in SQL too, and no row is made twice (the
    chain's columns, read to page on, and a comprehension remaking each row were a third of
    the reading). So pages are windows of event time, not of the index's whole key: each ends
    at the time ``batch`` records on (found in the index alone), and holds every event of that
    time — more than ``batch`` only where that many share one moment."""
    at = archive.c.event_time
    sqlite = engine.dialect.name == "sqlite"
    case = func.coalesce(archive.c.subject, cast(archive.c.key, Text)) if sqlite \
        else archive.c.subject
    query = (select(at, archive.c.event_type, case, *(() if sqlite else (archive.c.key,)),
                    archive.c.event_id, archive.c.value)
             .where(archive.c.event_type.is_not(None), archive.c.topic != leaving_out)
             .order_by(at, archive.c.topic, archive.c.partition, archive.c.seq))
    after: int | None = None
    while True:
        window = at.is_not(None) if after is None else at > after
        with reading(engine) as conn:
            end = conn.execute(select(at).where(window, *_until(at, until)).order_by(at)
                               .offset(batch - 1).limit(1)).scalar()
            last = end is None or (until is not None and end >= until)
            page = query.where(window, *_until(at, until if last else end))
            try:
                rows: list[Any] = driver_rows(conn, page)
            except sqlite3.OperationalError as e:  # "Could not decode to UTF-8 …"
                if "UTF-8" not in str(e):
                    raise
                rows = _keyed(conn, page)  # a case whose key is not text: read in Python
        if not sqlite:  # PostgreSQL's driver may give a memoryview for bytes
            rows = [(t, kind, subject if subject is not None else _bytes(key).decode(
                "utf-8", "replace"), event_id, _bytes(value))
                for t, kind, subject, key, event_id, value in rows]
        if rows:
            yield rows
        if last:
            return
        after = end


def _until(at: Any, bound: int | None) -> tuple[Any, ...]:
    return () if bound is None else (at <= bound,)


def _keyed(conn: Connection, page: Any) -> list[Event]:
    """A page of ``event_pages`` on SQLite whose case, where there is no subject, is a key
    that is not UTF-8 (SQLite's text of it then cannot be read): each decoded in Python."""
    rows = conn.execute(page.with_only_columns(
        archive.c.event_time, archive.c.event_type, archive.c.subject, archive.c.key,
        archive.c.event_id, archive.c.value)).all()
    return [(t, kind, subject if subject is not None else key.decode("utf-8", "replace"),
             event_id, value) for t, kind, subject, key, event_id, value in rows]


def last_event_time(conn: Connection, *, leaving_out: str, until: int | None = None
                    ) -> int | None:
    """The latest event time ``event_pages`` would read: walked back from the index's end (a
    ``max()`` under these conditions scans the whole table on SQLite)."""
    query = (select(archive.c.event_time)
             .where(archive.c.event_time.is_not(None), archive.c.event_type.is_not(None),
                    archive.c.topic != leaving_out)
             .order_by(archive.c.event_time.desc()).limit(1))
    if until is not None:
        query = query.where(archive.c.event_time <= until)
    return conn.execute(query).scalar()


def _bytes(value: bytes | memoryview) -> bytes:
    # SQLite gives bytes; PostgreSQL's driver may give a memoryview.
    return value if isinstance(value, bytes) else bytes(value)


def add_checkpoint(conn: Connection, checkpoint: Checkpoint) -> None:
    conn.execute(insert(checkpoints).values(
        number=checkpoint.number, at=checkpoint.at, key_id=checkpoint.key_id,
        body=json.dumps(to_json(checkpoint), sort_keys=True)))


def all_checkpoints(conn: Connection) -> list[Checkpoint]:
    return [from_json(json.loads(body)) for body in conn.execute(
        select(checkpoints.c.body).order_by(checkpoints.c.number)).scalars()]


def last_checkpoint(conn: Connection) -> Checkpoint | None:
    body = conn.execute(select(checkpoints.c.body).order_by(checkpoints.c.number.desc())
                        .limit(1)).scalar()
    return None if body is None else from_json(json.loads(body))


def log_access(conn: Connection, who: str, what: str, query: dict[str, Any],
               at: datetime) -> None:
    conn.execute(insert(access_log).values(at=at, who=who, what=what,
                                           query=json.dumps(query, sort_keys=True, default=str)))
