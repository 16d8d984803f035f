"""The fresh store a replay writes: every case as rebuilt, its timeline, and the findings.

A new database per replay (a SQLite file by default; any URL will do), created from these
tables rather than migrated: it is an output, read by auditors and thrown away, never upgraded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
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

from services.audit.domain.replay import Entry, Finding
from shared.db import insert_rows, make_engine

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

timeline = Table(
    "timeline", metadata,
    Column("case_id", String(64), nullable=False),
    Column("at", String(40), nullable=False),
    Column("type", String(80), nullable=False),
    Column("summary", Text, nullable=False),
    Column("event_id", String(64)),
)

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
    def _fast(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    return engine


def create(engine: Engine, shares: int = 1) -> None:
    """A fresh store: refuses one that already holds a replay, so none is mixed with another.
    A replay shared out between processes (``replay_shares``) gets a timeline table for each
    share, which each fills and indexes on its own, and a view ``timeline`` over them all: one
    index built after the shares, over every event, kept the others waiting a second at
    1,000,000 events."""
    with engine.begin() as conn:
        if engine.dialect.has_table(conn, runs.name):
            raise FileExistsError(f"{engine.url.render_as_string(hide_password=True)} already "
                                  "holds a replay; give a new database")
        if shares == 1:
            metadata.create_all(conn)
            return
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t is not timeline])
        parts = MetaData()
        for share in range(shares):
            timeline.to_metadata(parts, name=timeline_of(share))
        parts.create_all(conn)
        conn.execute(text(f"CREATE VIEW {timeline.name} AS " + " UNION ALL ".join(
            f"SELECT * FROM {timeline_of(share)}" for share in range(shares))))


def timeline_of(share: int | None) -> str:
    """The table a share writes its timeline to (``timeline`` itself for a single process)."""
    return timeline.name if share is None else f"{timeline.name}_{share}"


def add_timeline(engine: Engine, entries: Iterable[Entry], share: int | None = None) -> None:
    """One row per event folded."""
    rows = [(case_id, at.isoformat(), kind, summary, event_id)
            for case_id, at, kind, summary, event_id in entries]
    with engine.begin() as conn:
        _insert_plain(conn, timeline_of(share), list(timeline.c.keys()), rows)


def index_timeline(engine: Engine, share: int | None = None) -> None:
    """A timeline's index, built once it is complete: cheaper than keeping it up on the way."""
    name = timeline_of(share)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX ix_{name}_case ON {name} (case_id, at)"))


def add_cases(engine: Engine, views: Iterable[dict[str, Any]]) -> None:
    rows = _case_rows(views)
    with engine.begin() as conn:
        _insert_plain(conn, cases.name, list(cases.c.keys()), rows)


def _case_rows(views: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    names = list(cases.c.keys())  # a case's view has every column
    return [tuple(view[n] for n in names) for view in views]


def _insert_plain(conn: Connection, table: str, columns: list[str],
                  rows: list[tuple[Any, ...]]) -> None:
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
        _insert_plain(conn, cases.name, list(cases.c.keys()), _case_rows(views))
        insert_rows(conn, findings, [finding_row(f) for f in found])
        conn.execute(insert(runs).values(started_at=summary["started_at"],
                                         summary=json.dumps(summary, sort_keys=True)))


def finding_row(f: Finding) -> dict[str, Any]:
    return {"kind": f.kind, "case_id": f.case_id, "at": f.at.isoformat(), "detail": f.detail,
            "event_id": f.event_id, "data": json.dumps(f.data, sort_keys=True, default=str)}
