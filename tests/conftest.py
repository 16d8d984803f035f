"""Fixtures on real infrastructure: SQLite files, PostgreSQL, the embedded Tansu broker.

PostgreSQL: ``ONEDOOR_TEST_POSTGRES_URL`` (default: the machine's local server, database
``test``). When it cannot be reached the PostgreSQL tests skip and say why — unless
``ONEDOOR_REQUIRE_POSTGRES=1`` (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from shared.bus.broker import EmbeddedBroker, free_port
from shared.db import make_engine
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]

PG_URL = os.environ.get("ONEDOOR_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("ONEDOOR_REQUIRE_POSTGRES") == "1"


def _pg_admin():  # type: ignore[no-untyped-def]
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        engine.dispose()
        message = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}: {exc}"
        if REQUIRE_PG:
            pytest.fail(message + " (ONEDOOR_REQUIRE_POSTGRES=1 makes it required)")
        pytest.skip(message)
    return engine


class PostgresDatabases:
    """Creates fresh, uniquely named databases and drops them afterwards."""

    def __init__(self) -> None:
        self._admin = _pg_admin()
        self._made: list[str] = []

    def create(self) -> str:
        name = f"onedoor_t_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin.connect() as conn:
            for name in self._made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty database of each kind: the contract tests run against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for behaviour only a multi-writer database can show."""
    dbs = PostgresDatabases()
    try:
        yield dbs.create()
    finally:
        dbs.drop_all()


@contextlib.contextmanager
def migrated_engine(database_url: str, service: str) -> Iterator[Engine]:
    """An engine on a database that the service's own migrations have brought up to date."""
    upgrade(database_url, ROOT / "services" / service / "migrations")
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A real Tansu broker for the whole session (in memory, so it starts empty)."""
    instance = EmbeddedBroker(free_port())
    instance.start()
    yield instance
    instance.stop()


def wait_until(predicate: Callable[[], object], timeout_s: float = 30.0,
               interval_s: float = 0.1, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
