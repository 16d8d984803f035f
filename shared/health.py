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

Draining (a rolling restart without a failed request). On SIGTERM an instance answers
``/health/ready`` with 503 "draining" at once, and goes on serving — requests in flight and new
ones alike — for ``shutdown_drain_s`` (2 s by default): the time a load balancer polling
readiness needs to take it out of rotation. Only then is the signal handed to the server, whose
graceful shutdown waits for the requests still open and then runs the service's own (the
consumer leaves its group, the relay publishes what is committed: shared/service.py). This is
what Kubernetes does with a readiness probe and a ``preStop`` pause, done by the process itself
so that any balancer that polls readiness gets it; a second SIGTERM ends the wait at once.
docs/RELIABILITY.md shows it under load (``python -m bench.rollout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import FrameType
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
DRAIN_S = 2.0  # Settings.shutdown_drain_s's default, for a caller without settings at hand

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


class Drain:
    """This process's way out of rotation: begun by SIGTERM, after which readiness fails and
    the signal reaches the server ``seconds`` later (see the module's docstring)."""

    def __init__(self, seconds: float = DRAIN_S) -> None:
        self.seconds = seconds
        self.began: float | None = None  # time.monotonic() of the SIGTERM

    @property
    def draining(self) -> bool:
        return self.began is not None

    @contextlib.asynccontextmanager
    async def on_sigterm(self, _app: object) -> AsyncIterator[None]:
        """A lifespan: while the app runs, SIGTERM begins the drain instead of the shutdown.
        The server's own handler (uvicorn's, installed before the app starts) is kept and
        called when the drain is over. Signals reach only the main thread: an app run
        elsewhere (a test's client) keeps the server's handling as it was."""
        server_handler = signal.getsignal(signal.SIGTERM)
        if threading.current_thread() is not threading.main_thread() or \
                not callable(server_handler):
            yield
            return
        loop = asyncio.get_running_loop()

        def begin(sig: int, frame: FrameType | None) -> None:
            if self.began is not None or self.seconds <= 0:
                server_handler(sig, frame)  # a second SIGTERM: no more waiting
                return
            self.began = time.monotonic()
            log.info("SIGTERM: draining for %g s (readiness answers 503), then shutting down",
                     self.seconds)
            # From a signal handler: through the loop's self-pipe, which wakes it.
            loop.call_soon_threadsafe(loop.call_later, self.seconds, server_handler, sig,
                                      frame)

        signal.signal(signal.SIGTERM, begin)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGTERM) is begin:
                signal.signal(signal.SIGTERM, server_handler)


def probes(service: str, checks: Mapping[str, Check], timeout_s: float = READY_TIMEOUT_S,
           drain_s: float = DRAIN_S) -> APIRouter:
    """``GET /health/live`` and ``GET /health/ready`` for ``service``, with these ``checks``
    (name → coroutine function raising when not ready), each waited for ``timeout_s`` at
    most; and the drain of ``drain_s`` seconds on SIGTERM, through the router's lifespan (which
    FastAPI runs within the app's). Left out of the OpenAPI document: they are the
    orchestrator's, not a partner's, and a 503 is their answer, not an error."""
    drain = Drain(drain_s)
    router = APIRouter(tags=["operations"], lifespan=drain.on_sigterm)
    named = [Probe(name, check) for name, check in checks.items()]

    @router.get("/health/live", include_in_schema=False)
    def live() -> dict[str, str]:
        return {"service": service, "status": "alive"}

    @router.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        if drain.draining:  # asked nothing: out of rotation whatever the checks would say
            return JSONResponse({"service": service, "status": "draining",
                                 "checks": {}, "failed": ["draining"]}, status_code=503)
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


REBALANCE_GRACE_S = 30.0  # how long a consumer that held partitions may hold none and be ready


def consumer_check(consumer: EventConsumer,
                   grace_s: float = REBALANCE_GRACE_S) -> Check:
    """The consumer holds at least one partition of its topics: it has joined its group. (An
    instance beyond the topics' partitions would hold none: run at most as many.)

    Once it has held some, a rebalance does not take it out of rotation: aiokafka's rebalances
    revoke every partition of every member, and when one instance of a service leaves (a rolling
    restart), the others would all fail readiness together for that moment, leaving a balancer
    nowhere to send a request — which their HTTP side would have answered. Holding none for
    ``grace_s`` is no rebalance any more: not ready."""
    held_at: float | None = None

    async def holds_partitions() -> None:
        nonlocal held_at
        if consumer.assignment:
            held_at = time.monotonic()
            return
        if held_at is not None and time.monotonic() - held_at < grace_s:
            return
        raise NotReady(f"consumer group {consumer.group_id}: no partition assigned "
                       + ("yet (joining the group)" if held_at is None
                          else f"for {grace_s:g} s (a rebalance that does not end)"))

    return holds_partitions


def service_probes(runtime: ServiceRuntime) -> APIRouter:
    """The probes of a service built by :func:`shared.service.build_runtime`."""
    checks = {**database_checks(runtime.engine, runtime.migrations_dir),
              "broker": broker_check(runtime.settings)}
    if runtime.consumer is not None:
        checks["consumer"] = consumer_check(runtime.consumer)
    return probes(runtime.name, checks, drain_s=runtime.settings.shutdown_drain_s)


def web_app_health(service: str, engine: Engine) -> APIRouter:
    """``GET /health`` for a service with no bus (the window), in the same shape as the others'
    (shared/service.py), so that tools reading every service's health read it too: no broker,
    no consumer, and ``dead_lettered`` 0 by construction."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", include_in_schema=False)
    def health() -> dict[str, object]:
        with reading(engine) as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"service": service, "status": "ok", "uses_bus": False, "broker_epoch": None,
                "consumer": None, "dead_lettered": 0}

    return router
