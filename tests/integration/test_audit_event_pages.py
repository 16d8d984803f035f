"""The replay's read of the archive (``store.event_pages``) on real databases: every event once,
in event time with ties by chain and seq, whatever the page size — also where many events share
one moment across a page's end, up to a bound, without dead letters, and with a case taken from
a key that is not text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.audit.adapters import store
from services.audit.domain import event_time
from services.audit.service_layer.archiving import Incoming, archive
from tests.conftest import migrated_engine

DEAD_LETTER = "onedoor.dead-letter"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def incoming(topic: str, partition: int, offset: int, at: datetime | None, case_id: str, *,
             subject: bool = True, key: bytes | None = None, typed: bool = True) -> Incoming:
    headers = [("ce_specversion", b"1.0"), ("ce_id", f"{topic}/{partition}/{offset}".encode())]
    if typed:
        headers.append(("ce_type", b"onedoor.test.happened"))
    if at is not None:
        headers.append(("ce_time", at.isoformat().encode()))
    if subject:
        headers.append(("ce_subject", case_id.encode()))
    value = json.dumps({"case_id": case_id, "offset": offset}).encode()
    return Incoming(topic, partition, offset, case_id.encode() if key is None else key, headers,
                    value)


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    with migrated_engine(database_url, "audit") as engine:
        yield engine


def archived(engine, records: list[Incoming]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        archive(conn, records)


def expected(records: list[Incoming], until: datetime | None = None
             ) -> list[tuple[int, str, str, str, bytes]]:
    """What the replay must read: events (a type and a time) off the dead-letter topic, up to
    ``until``, by (time, topic, partition, seq); the case is the subject, else the key."""
    rows = []
    for r in records:
        at, kind = r.header("ce_time"), r.header("ce_type")
        if at is None or kind is None or r.topic == DEAD_LETTER:
            continue
        micros = event_time.micros(at)
        assert micros is not None
        if until is not None and micros > event_time.of(until):
            continue
        case = r.header("ce_subject") or r.key.decode("utf-8", "replace")
        rows.append(((micros, r.topic, r.partition, r.offset),
                     (micros, kind, case, r.header("ce_id"), r.value)))
    return [row for _, row in sorted(rows, key=lambda x: x[0])]


def read(engine, batch: int, until: datetime | None = None  # type: ignore[no-untyped-def]
         ) -> list[list[tuple]]:
    return list(store.event_pages(engine, leaving_out=DEAD_LETTER, batch=batch,
                                  until=None if until is None else event_time.of(until)))


def history() -> list[Incoming]:
    """Three chains whose events interleave in time; a burst of seven events at one moment in
    two chains; a record with no type, one with no time, and a dead letter."""
    records = []
    for n in range(40):
        topic, partition = ("onedoor.applications", n % 2) if n % 3 else ("onedoor.decisions", 0)
        at = T0 + timedelta(seconds=n // 2)  # pairs share a moment
        records.append(incoming(topic, partition, n, at, f"330282-20260302-{n % 9:04d}"))
    burst = T0 + timedelta(seconds=7, microseconds=500)
    records += [incoming("onedoor.decisions", 1, 100 + i, burst, f"330282-20260302-b{i}")
                for i in range(4)]
    records += [incoming("onedoor.applications", 2, 200 + i, burst, f"330282-20260302-c{i}")
                for i in range(3)]
    records.append(incoming("onedoor.applications", 3, 1, None, "no-time"))
    records.append(incoming("onedoor.applications", 3, 2, T0, "no-type", typed=False))
    records.append(incoming(DEAD_LETTER, 0, 0, T0 + timedelta(seconds=3), "a-dead-letter"))
    return records


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 20_000])
def test_every_event_is_read_once_in_time_order_whatever_the_page(engine, batch: int) -> None:
    records = history()
    archived(engine, records)
    pages = read(engine, batch)
    assert [row for page in pages for row in page] == expected(records)
    if batch == 3:  # a page holds every event of its last moment: the burst's 7 in one page
        burst = event_time.of(T0 + timedelta(seconds=7, microseconds=500))
        assert any(sum(1 for row in page if row[0] == burst) == 7 for page in pages)


@pytest.mark.parametrize("batch", [1, 4, 20_000])
def test_reading_stops_at_the_bound(engine, batch: int) -> None:
    records = history()
    archived(engine, records)
    until = T0 + timedelta(seconds=7, microseconds=500)  # the burst's moment, included
    rows = [row for page in read(engine, batch, until) for row in page]
    assert rows == expected(records, until)
    assert rows[-1][0] == event_time.of(until)


def test_a_case_whose_key_is_not_text_is_read_as_python_reads_it(engine) -> None:
    """An event without a subject (archived before there was one) takes its case from its key;
    a key that is not UTF-8 is read with replacement characters, not refused."""
    records = [incoming("onedoor.applications", 0, n, T0 + timedelta(seconds=n), f"c-{n}")
               for n in range(5)]
    records.append(incoming("onedoor.applications", 0, 5, T0 + timedelta(seconds=5), "?",
                            subject=False, key=b"330282-\xff\xfe-bad"))
    records.append(incoming("onedoor.applications", 0, 6, T0 + timedelta(seconds=6), "?",
                            subject=False, key=b"330282-20260302-0006"))
    archived(engine, records)
    rows = [row for page in read(engine, 3) for row in page]
    assert rows == expected(records)
    assert [row[2] for row in rows[-2:]] == ["330282-\ufffd\ufffd-bad", "330282-20260302-0006"]


def test_an_empty_archive_gives_no_page(engine) -> None:
    assert read(engine, 3) == []
