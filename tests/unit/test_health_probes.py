"""The probes' own rules (shared/health.py), with checks that stand in for a database or broker
that hangs or fails: a bounded answer, one attempt in flight, and no detail in the body."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI

from shared.health import NotReady, probes


def client(checks, timeout_s: float = 2.0) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.include_router(probes("test", checks, timeout_s))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")


async def test_a_check_that_hangs_is_answered_in_time_and_started_once():
    started = 0
    release = asyncio.Event()

    async def hangs() -> None:
        nonlocal started
        started += 1
        await release.wait()

    async def fine() -> None:
        pass

    async with client({"database": hangs, "broker": fine}, timeout_s=0.2) as http:
        for _ in range(3):
            asked = time.monotonic()
            answer = await http.get("/health/ready")
            assert time.monotonic() - asked < 1.0
            assert answer.status_code == 503
            assert answer.json()["checks"] == {"database": "no answer within 0.2 s",
                                               "broker": "ok"}
        assert started == 1  # each probe waited for the same attempt
        assert (await http.get("/health/live")).status_code == 200
        release.set()
        await asyncio.sleep(0)
        assert (await http.get("/health/ready")).status_code == 200


async def test_a_failure_is_named_by_its_kind_and_never_by_its_message():
    async def fails() -> None:
        raise ConnectionError("postgresql://onedoor:hunter2@db.internal:5432/intake refused")

    async def says_why() -> None:
        raise NotReady("no partition assigned yet")

    async with client({"database": fails, "consumer": says_why}) as http:
        answer = await http.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json() == {"service": "test", "status": "not ready",
                             "checks": {"database": "unavailable (ConnectionError)",
                                        "consumer": "no partition assigned yet"},
                             "failed": ["consumer", "database"]}
