"""The fresh store a replay writes: every case as rebuilt, its timeline, and the findings.

A new database per replay (a SQLite file by default; any URL will do), created from these
tables rather than migrated: it is an output, read by auditors and thrown away, never upgraded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from services.audit.domain.cases import Entry
from services.audit.domain.findings import Finding
from shared.bulk import insert_rows
from shared.db import make_engine

metadata = MetaData()

runs = Table(
    "replay_run", metadata,
    Column("started_at", String(40), primary_key=True),
    Column("summary", Text, nullable=False),  # JSON: scope, counts, policy, timings
)

cases = Table(
    "cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("programme", String(20)),
    Column("region_code", String(12)),
    Column("stage", String(30)),
    Column("sequence", Integer, nullable=False),
    Column("submitted_at", String(40)),
    Column("stage_since", String(40)),
    Column("due_at", String(40)),
    Column("members", Integer, nullable=False),
    Column("outcome", String(20)),
    Column("decided_at", String(40)),
    Column("monthly_amount_fen", Integer, nullable=False),
    Column("one_off_amount_fen", Integer, nullable=False),
    Column("assessments", Integer, nullable=False),
    Column("divergences", Integer, nullable=False),
    Column("payments", Integer, nullable=False),
    Column("paid_fen", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Index("ix_cases_region_stage", "region_code", "stage"),
)

# Each process of a replay writes its own part of the timeline (``create``); auditors read
# the view ``timeline`` over them all, with ``at`` as text like every other moment here.
timeline_part = Table(
    "timeline_part", MetaData(),
    Column("case_id", String(64), nullable=False),
    # The event's moment as the archive keeps it (microseconds since the epoch, UTC): the view
    # writes it as text. Written as text by each process, it cost a second at 1,000,000 events.
    Column("at_us", BigInteger, nullable=False),
    Column("type", String(80), nullable=False),
    Column("summary", Text, nullable=False),
    Column("event_id", String(64)),
)
TIMELINE = "timeline"

findings = Table(
    "findings", metadata,
    Column("kind", String(40), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("at", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("event_id", String(64)),
    Column("data", Text, nullable=False),
    Index("ix_findings_kind", "kind"),
)


def open_store(url: str) -> Engine:
    """An engine for a replay's store. A SQLite store is written without a journal and without
    waiting for the disk: it is an output made in one go, and a replay that stops half-way is
    run again into a new store, never resumed. (With the services' WAL settings, writing the
    timeline of 1,000,000 events took longer than the replay itself.) The processes of one
    replay write to it in turn, each waiting for SQLite's lock as long as the others hold it."""
    if make_url(url).get_backend_name() != "sqlite":
        return make_engine(url)
    engine = create_engine(url, hide_parameters=True, connect_args={"timeout": 3600})

    @event.listens_for(engine, "connect")
    def _fast(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        # Large pages for a file written once in bulk (set before its first table; a store
        # made elsewhere keeps its own): the timeline of 1,000,000 events went in 6% faster
        # and its index was built a quarter faster than with 4 KiB pages.
        cursor.execute("PRAGMA page_size=65536")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB a connection
        cursor.close()

    return engine


def create(engine: Engine, shares: int = 1) -> None:
    """A fresh store: refuses one that already holds a replay, so none is mixed with another.
    Each process of the replay (``replay_shares``) gets a timeline table of its own, which it
    fills and indexes alone; the view ``timeline`` reads them as one. (One index built after
    the processes, over every event, kept the others waiting a second at 1,000,000 events.)"""
    with engine.begin() as conn:
        if engine.dialect.has_table(conn, runs.name):
            raise FileExistsError(f"{engine.url.render_as_string(hide_password=True)} already "
                                  "holds a replay; give a new database")
        metadata.create_all(conn)
        parts = MetaData()
        for share in range(shares):
            timeline_part.to_metadata(parts, name=timeline_of(share))
        parts.create_all(conn)
        at = _iso_text(engine.dialect.name, "at_us")
        conn.execute(text(f"CREATE VIEW {TIMELINE} AS " + " UNION ALL ".join(
            f"SELECT case_id, {at} AS at, at_us, type, summary, event_id FROM {timeline_of(n)}"
            for n in range(shares))))


def _iso_text(dialect: str, micros: str) -> str:
    """SQL writing a moment kept in microseconds since the epoch (UTC) as ``isoformat`` writes
    it: ``2025-01-06T01:06:31+00:00``, with ``.ffffff`` before the zone unless it is zero."""
    fraction = f"{micros} % 1000000"
    if dialect == "postgresql":
        whole = (f"to_char(timestamp 'epoch' + ({micros} / 1000000) * interval '1 second', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS')")
        part = f"'.' || lpad(({fraction})::text, 6, '0')"
    else:
        whole = f"strftime('%Y-%m-%dT%H:%M:%S', {micros} / 1000000, 'unixepoch')"
        part = f"printf('.%06d', {fraction})"
    return f"({whole} || CASE WHEN {fraction} = 0 THEN '' ELSE {part} END || '+00:00')"


def timeline_of(share: int) -> str:
    """The table a process of the replay writes its part of the timeline to."""
    return f"{TIMELINE}_{share}"


def add_timeline(engine: Engine, entries: list[Entry], share: int = 0) -> None:
    """One row per event folded: the entries as they are (every column in the table's order)."""
    with engine.begin() as conn:
        _insert_plain(conn, timeline_of(share), list(timeline_part.c.keys()), entries)


def index_timeline(engine: Engine, share: int = 0) -> None:
    """A part of the timeline's index, built once it is complete: cheaper than keeping it up
    on the way."""
    name = timeline_of(share)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX ix_{name}_case ON {name} (case_id, at_us)"))


def add_cases(engine: Engine, views: Iterable[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        _insert_cases(conn, views)


def _insert_cases(conn: Connection, views: Iterable[dict[str, Any]]) -> None:
    names = list(cases.c.keys())  # a case's view has every column
    _insert_plain(conn, cases.name, names, list(map(itemgetter(*names), views)))


def _insert_plain(conn: Connection, table: str, columns: list[str],
                  rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of text and whole numbers, every column in the table's order, as plain tuples to
    the driver: nothing to convert, so none of ``insert_rows``' dict per row and pass over
    every value."""
    if not rows:
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                         f"({', '.join([marker] * len(columns))})", rows)


def finish(engine: Engine, views: Iterable[dict[str, Any]], found: Iterable[Finding],
           summary: dict[str, Any]) -> None:
    """The cases (unless given to ``add_cases`` already), the findings and the run's summary."""
    with engine.begin() as conn:
        _insert_cases(conn, views)
        insert_rows(conn, findings, [finding_row(f) for f in found])
        conn.execute(insert(runs).values(started_at=summary["started_at"],
                                         summary=json.dumps(summary, sort_keys=True)))


def finding_row(f: Finding) -> dict[str, Any]:
    return {"kind": f.kind, "case_id": f.case_id, "at": f.at.isoformat(), "detail": f.detail,
            "event_id": f.event_id, "data": json.dumps(f.data, sort_keys=True, default=str)}
