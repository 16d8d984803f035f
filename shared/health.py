"""Probes for the supervisor and for an orchestrator: ``/health/live`` and ``/health/ready``.

Live: the process answers HTTP, and nothing else is asked, so that an outage of the database or
the broker never gets healthy processes restarted (a restart brings neither back).

Ready: this instance can do its work now. Its database answers; it is at the code's migration
head (or past it: see :func:`shared.migrations.pending`); the broker answers; and its consumer,
if it has one, holds partitions. Otherwise 503, naming each failed check and why, in words that
carry no URL, host or credential: the details go to the log.

Every check is bounded: a probe waits :data:`READY_TIMEOUT_S` for it, then answers "no answer".
A check still running is not started again; the next probe waits for the same attempt, so that a
database that hangs holds one worker thread, not one per probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from shared.bus.kafka import cluster_for
from shared.db import reading
from shared.migrations import pending
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.bus.consumer import EventConsumer
    from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0  # per check; the checks run together, so also about the whole probe's
ATTEMPT_DEADLINE_S = 30.0  # an attempt no probe waits for any more is abandoned after this

Check = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A check's answer in words fit for the probe's body: no URL, host or credential."""


class Probe:
    """One readiness check, with at most one attempt in flight."""

    def __init__(self, name: str, check: Check) -> None:
        self.name = name
        self._check = check
        self._attempt: asyncio.Task[None] | None = None

    async def reason(self, timeout_s: float) -> str | None:
        """None when the check passed; else why not."""
        attempt = self._attempt
        loop = asyncio.get_running_loop()
        if attempt is None or attempt.done() or attempt.get_loop() is not loop:
            attempt = self._attempt = loop.create_task(self._bounded(),
                                                       name=f"readiness {self.name}")
            attempt.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({attempt}, timeout=timeout_s)
        if not done:
            return f"no answer within {timeout_s:g} s"
        error = attempt.exception()
        if error is None:
            return None
        if isinstance(error, NotReady):
            return str(error)
        log.warning("readiness check %s failed: %s", self.name, error)
        return f"unavailable ({type(error).__name__})"

    async def _bounded(self) -> None:
        try:
            await asyncio.wait_for(self._check(), ATTEMPT_DEADLINE_S)
        except TimeoutError:
            raise NotReady(f"no answer within {ATTEMPT_DEADLINE_S:g} s") from None


def _retrieve(task: asyncio.Task[None]) -> None:
    # An attempt that finished after every probe stopped waiting: its error was logged, or
    # will be by the next probe; without this, asyncio reports it as never retrieved.
    if not task.cancelled():
        task.exception()


def probes(service: str, checks: Mapping[str, Check],
           timeout_s: float = READY_TIMEOUT_S) -> APIRouter:
    """``GET /health/live`` and ``GET /health/ready`` for ``service``, with these ``checks``
    (name → coroutine function raising when not ready), each waited for ``timeout_s`` at
    most. Left out of the OpenAPI document: they
    are the orchestrator's, not a partner's, and a 503 is their answer, not an error."""
    router = APIRouter(tags=["operations"])
    named = [Probe(name, check) for name, check in checks.items()]

    @router.get("/health/live", include_in_schema=False)
    def live() -> dict[str, str]:
        return {"service": service, "status": "alive"}

    @router.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        reasons = await asyncio.gather(*(probe.reason(timeout_s) for probe in named))
        failed = {probe.name: reason for probe, reason in zip(named, reasons, strict=True)
                  if reason is not None}
        body = {"service": service, "status": "not ready" if failed else "ready",
                "checks": {probe.name: failed.get(probe.name, "ok") for probe in named},
                "failed": sorted(failed)}
        return JSONResponse(body, status_code=503 if failed else 200)

    return router


def database_checks(engine: Engine, migrations_dir: Path) -> dict[str, Check]:
    """``database``: a ``SELECT 1`` answers; ``migrations``: nothing of ``migrations_dir`` is
    left to apply to it."""

    def select_one() -> None:
        with reading(engine) as conn:
            conn.exec_driver_sql("SELECT 1")

    async def database() -> None:
        await asyncio.to_thread(select_one)

    async def migrations() -> None:
        behind = await asyncio.to_thread(pending, engine, migrations_dir)
        if behind:
            raise NotReady(f"the database is {len(behind)} revision(s) behind the code's "
                           f"head {behind[0]}: run the migrations (onedoor migrate)")

    return {"database": database, "migrations": migrations}


def broker_check(settings: Settings) -> Check:
    """The cluster answers an admin client's metadata request: a client of the probe's own, made
    and closed for each attempt, so that a failure never disturbs the relay's or the
    consumer's."""

    async def broker() -> None:
        cluster = cluster_for(settings)
        try:
            await cluster.describe()
        finally:
            await cluster.close()

    return broker


def consumer_check(consumer: EventConsumer) -> Check:
    """The consumer holds at least one partition of its topics: it has joined its group. (An
    instance beyond the topics' partitions would hold none: run at most as many.)"""

    async def holds_partitions() -> None:
        if not consumer.assignment:
            raise NotReady(f"consumer group {consumer.group_id}: no partition assigned yet "
                           "(joining the group, or a rebalance)")

    return holds_partitions


def service_probes(runtime: ServiceRuntime) -> APIRouter:
    """The probes of a service built by :func:`shared.service.build_runtime`."""
    checks = {**database_checks(runtime.engine, runtime.migrations_dir),
              "broker": broker_check(runtime.settings)}
    if runtime.consumer is not None:
        checks["consumer"] = consumer_check(runtime.consumer)
    return probes(runtime.name, checks)
