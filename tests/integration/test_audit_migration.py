"""Audit's migration 0003 on an archive that already holds records (SQLite and PostgreSQL): each
record's subject column filled from its own hashed headers, the append-only triggers back in
place, and the archive still verifying."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.audit.adapters import store
from services.audit.domain.verify import verify
from services.audit.service_layer.archiving import Incoming, archive
from shared.db import make_engine
from tests.conftest import ROOT, migrated_engine

TOPIC = "onedoor.decisions"
SUBJECTS = ["330282-20261203-000000000001", None, 'odd "quoted" \\ subject 第3', "lead-4"]


def records() -> list[Incoming]:
    out = []
    for i, subject in enumerate(SUBJECTS, start=1):
        headers = [("ce_id", f"ev-{i}".encode()), ("ce_type", b"onedoor.test.happened"),
                   ("ce_time", f"2026-12-03T08:00:0{i}+00:00".encode())]
        if subject is not None:
            headers.append(("ce_subject", subject.encode()))
        out.append(Incoming(TOPIC, 0, i, f"key-{i}".encode(), headers, b'{"n": %d}' % i))
    return out


def subjects(engine) -> list[str | None]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT subject FROM archive ORDER BY seq")).scalars())


def test_0003_fills_the_subject_of_archived_records_from_their_headers(database_url):
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / "audit" / "migrations"))
    config.attributes["url"] = database_url
    with migrated_engine(database_url, "audit") as engine:
        with engine.begin() as conn:
            archive(conn, records())
        assert subjects(engine) == SUBJECTS  # archiving fills it itself
    command.downgrade(config, "0002")  # the archive as it was before the column
    command.upgrade(config, "head")
    engine = make_engine(database_url)
    try:
        assert subjects(engine) == SUBJECTS
        result = verify(store.records(engine), [], {})
        assert result.records == len(SUBJECTS) and result.findings == []
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE archive SET subject = 'forged'"))
    finally:
        engine.dispose()
