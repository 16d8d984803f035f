"""``/health/live`` and ``/health/ready`` (shared/health.py) on real infrastructure: each
service's app as its bootstrap builds it, its lifespan running (migrations, relay, consumer), on
SQLite and PostgreSQL, on the embedded broker and Apache Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.intake.bootstrap import create_app as create_intake
from services.window.bootstrap import create_app as create_window
from shared.bus.broker import free_port
from shared.health import READY_TIMEOUT_S
from shared.migrations import _script
from tests.conftest import ROOT
from tests.integration.test_bus import settings

INTAKE_MIGRATIONS = ROOT / "services" / "intake" / "migrations"


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://probe") as http:
        yield http


async def until_ready(http: httpx.AsyncClient, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await http.get("/health/ready")
        if answer.status_code == 200:
            return answer.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"never ready: {answer.text}"
        await asyncio.sleep(0.2)


def set_revision(app: FastAPI, revision: str) -> None:
    engine = app.state.runtime.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


async def test_ready_when_database_migrations_broker_and_consumer_are(database_url, bus_broker,
                                                                      tmp_path):
    app = create_intake(settings(bus_broker, intake_database_url=database_url,
                                 data_dir=tmp_path))
    async with serving(app) as http:
        body = await until_ready(http)
        assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok",
                                  "consumer": "ok"}
        assert body["failed"] == []
        assert (await http.get("/health/live")).json() == {"service": "intake",
                                                            "status": "alive"}


async def test_a_stopped_broker_is_named_and_the_process_stays_live(own_broker, tmp_path):
    app = create_intake(settings(own_broker, data_dir=tmp_path))
    async with serving(app) as http:
        await until_ready(http)
        await asyncio.to_thread(own_broker.stop)
        try:
            asked = time.monotonic()
            answer = await http.get("/health/ready")
            assert time.monotonic() - asked < READY_TIMEOUT_S + 1  # bounded, never hangs
            assert answer.status_code == 503, answer.text
            assert "broker" in answer.json()["failed"]
            assert answer.json()["checks"]["database"] == "ok"
            assert (await http.get("/health/live")).status_code == 200
        finally:
            # A broker to say goodbye to: the consumer's stop is quick then.
            await asyncio.to_thread(own_broker.start)


async def test_a_database_behind_the_code_is_named_and_a_newer_one_is_not(database_url, broker,
                                                                          tmp_path):
    app = create_intake(settings(broker, intake_database_url=database_url, data_dir=tmp_path))
    head, = _script(INTAKE_MIGRATIONS).get_heads()
    previous = _script(INTAKE_MIGRATIONS).get_revision(head).down_revision
    async with serving(app) as http:
        await until_ready(http)
        set_revision(app, str(previous))
        answer = await http.get("/health/ready")
        assert answer.status_code == 503, answer.text
        assert answer.json()["failed"] == ["migrations"]
        assert head in answer.json()["checks"]["migrations"]
        assert (await http.get("/health/live")).status_code == 200
        # A newer release's revision (its migration Job ran first, this release still serves):
        # not behind.
        set_revision(app, "9999_of_a_newer_release")
        assert (await http.get("/health/ready")).status_code == 200
        set_revision(app, head)


async def test_an_unreachable_database_is_named_without_its_address_or_password(tmp_path):
    port = free_port()
    url = f"postgresql://onedoor:pw-never-shown@127.0.0.1:{port}/intake"
    app = create_intake(settings(f"127.0.0.1:{free_port()}", intake_database_url=url,
                                 data_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://probe") as http:  # no lifespan: no migrations
        answer = await http.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["failed"] == ["broker", "consumer", "database", "migrations"]
    assert answer.json()["checks"]["database"] == "unavailable (OperationalError)"
    for secret in ("pw-never-shown", str(port), "postgresql", "onedoor:"):
        assert secret not in answer.text
    app.state.runtime.engine.dispose()


async def test_the_window_is_ready_with_its_database_alone(database_url, tmp_path):
    # Intake and the others are not running, and not asked: the window is ready all the same.
    app = create_window(settings(f"127.0.0.1:{free_port()}", window_database_url=database_url,
                                 data_dir=tmp_path, intake_url=f"http://127.0.0.1:{free_port()}"))
    async with serving(app) as http:
        body = await until_ready(http, timeout_s=10)
        assert body["checks"] == {"database": "ok", "migrations": "ok"}
        assert (await http.get("/health/live")).status_code == 200
        with app.state.web.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        answer = await http.get("/health/ready")
        assert answer.status_code == 503
        assert answer.json()["failed"] == ["migrations"]
