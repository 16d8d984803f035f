"""Fixtures on real infrastructure: SQLite files, PostgreSQL, the embedded Tansu broker.

PostgreSQL: ``ONEDOOR_TEST_POSTGRES_URL`` (default: the machine's local server, database
``test``). When nothing answers there, the first test that needs PostgreSQL starts a throwaway
server the project owns (deploy/postgres.py: installs Debian's ``postgresql`` when absent, runs
it as the ``postgres`` user when we are root) and the session stops it at the end. When even that
fails the PostgreSQL tests skip and say why — unless ``ONEDOOR_REQUIRE_POSTGRES=1`` (set by
.ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from deploy.kafka_cluster import KafkaCluster, KafkaUnavailable
from deploy.postgres import LocalPostgres, PostgresUnavailable
from shared.bus.broker import EmbeddedBroker, free_port
from shared.db import make_engine
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]

PG_URL = os.environ.get("ONEDOOR_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("ONEDOOR_REQUIRE_POSTGRES") == "1"


def _answers(url: str) -> Engine | None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        engine.dispose()
        return None
    return engine


class _OwnServer:
    """The session's own PostgreSQL server, started the first time a test needs one."""

    server: LocalPostgres | None = None
    failure: str | None = None

    @classmethod
    def url(cls) -> str:
        if cls.server is None and cls.failure is None:
            server = LocalPostgres()
            try:
                server.start()
                cls.server = server
            except PostgresUnavailable as exc:
                cls.failure = str(exc)
        if cls.server is None:
            raise PostgresUnavailable(cls.failure or "not started")
        return cls.server.url

    @classmethod
    def stop(cls) -> None:
        if cls.server is not None:
            cls.server.stop()
            cls.server = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _OwnServer.stop()


def _pg_admin() -> Engine:
    global PG_URL
    engine = _answers(PG_URL)
    if engine is not None:
        return engine
    try:
        own = _OwnServer.url()
    except PostgresUnavailable as exc:
        message = (f"PostgreSQL not reachable at {PG_URL}, and no server of our own could be "
                   f"started: {exc}")
        if REQUIRE_PG:
            pytest.fail(message + " (ONEDOOR_REQUIRE_POSTGRES=1 makes it required)")
        pytest.skip(message)
    engine = _answers(own)
    if engine is None:
        pytest.fail(f"our own PostgreSQL server at {own} started but does not answer")
    PG_URL = own
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


@pytest.fixture
async def own_broker() -> AsyncIterator[EmbeddedBroker]:
    """An embedded broker of the test's own, for a test that restarts it."""
    instance = EmbeddedBroker(free_port())
    await asyncio.to_thread(instance.start)
    yield instance
    await asyncio.to_thread(instance.stop)


REQUIRE_KAFKA = os.environ.get("ONEDOOR_REQUIRE_KAFKA") == "1"


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    """A 3-node Apache Kafka cluster (KRaft, combined mode) on loopback for the whole session,
    fetched from Maven Central on first use (deploy/kafka_cluster.py). Skips, saying why, when
    Java or Maven is missing — unless ``ONEDOOR_REQUIRE_KAFKA=1`` (set by .ci/run)."""
    cluster = KafkaCluster(3)
    try:
        cluster.start()
    except KafkaUnavailable as exc:
        cluster.stop()
        message = f"Apache Kafka could not be started: {exc}"
        if REQUIRE_KAFKA:
            pytest.fail(message + " (ONEDOOR_REQUIRE_KAFKA=1 makes it required)")
        pytest.skip(message)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_broker(request: pytest.FixtureRequest) -> EmbeddedBroker | KafkaCluster:
    """Each broker OneDoor runs on: the bus contract holds on both."""
    name = "broker" if request.param == "embedded" else "kafka_cluster"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def bus_settings(broker: EmbeddedBroker | KafkaCluster) -> dict[str, str]:
    """The settings that point a service at ``broker``."""
    return {"kafka_bootstrap": broker.bootstrap, "broker": broker.kind}


def wait_until(predicate: Callable[[], object], timeout_s: float = 30.0,
               interval_s: float = 0.1, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
