"""Each service's migrations build exactly the tables its code uses, on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.approval.adapters.tables import metadata as approval
from services.audit.adapters.tables import metadata as audit
from services.intake.adapters.tables import metadata as intake
from services.payment.adapters.tables import metadata as payment
from services.verification.adapters.tables import metadata as verification
from services.window.adapters.tables import metadata as window
from shared.db import make_engine
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"intake": intake, "verification": verification, "approval": approval,
            "payment": payment, "audit": audit, "window": window}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_migrations_match_the_tables(service, database_url):
    upgrade(database_url, ROOT / "services" / service / "migrations")
    upgrade(database_url, ROOT / "services" / service / "migrations")  # idempotent
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SERVICES[service])
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    if service != "window":  # the window is a web application: no events in or out
        assert {"outbox", "inbox"} <= tables
