"""What every service's bootstrap wires the same way: database, outbox relay, consumer, health,
metrics and traces.

A service's ``bootstrap.py`` calls :func:`build_runtime` with its own tables, handlers and topics,
and mounts :func:`lifespan` and :func:`health_router` on its FastAPI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, MetaData, func, select

from shared import asyncapi, metrics, tracing
from shared.auth.dependencies import require
from shared.auth.principals import Principal
from shared.bus.consumer import EventConsumer
from shared.bus.kafka import Cluster, cluster_for
from shared.bus.relay import OutboxRelay
from shared.bus.routing import Routes
from shared.contract import api_routes, dependants, document_problems
from shared.db import make_engine, reading
from shared.group_commit import GroupCommit
from shared.health import service_probes
from shared.migrations import upgrade
from shared.settings import Settings
from shared.uow import BusTables, UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """One service's running parts."""

    name: str
    settings: Settings
    engine: Engine
    bus: BusTables
    relay: OutboxRelay
    cluster: Cluster
    migrations_dir: Path
    consumer: EventConsumer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Long-lived background work of the service's own (approval's recalculation jobs), started
    # and stopped with the relay and the consumer: (name, coroutine function).
    jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        """A fresh unit of work whose commit wakes this service's relay."""
        return UnitOfWork(self.engine, self.bus, source=f"/onedoor/{self.name}",
                          on_commit=self.relay.wake)

    @functools.cached_property
    def commands(self) -> GroupCommit:
        """Where the service's HTTP commands commit, several at once (shared/group_commit.py)."""
        return GroupCommit(self.uow, service=self.name)


def current_runtime(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the runtime the bootstrap stored on the app."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(current_runtime)]


def build_runtime(
    *,
    name: str,
    settings: Settings,
    metadata: MetaData,
    bus: BusTables,
    migrations_dir: Path,
    topics: list[str],
    handlers: Routes,
) -> ServiceRuntime:
    tracing.set_up(name)  # before the engine, which is then instrumented (when tracing is on)
    engine = make_engine(settings.database_url(name))
    tracing.instrument_engine(engine)
    cluster = cluster_for(settings)
    relay = OutboxRelay(engine, bus, settings.kafka_bootstrap, cluster, service=name)
    runtime = ServiceRuntime(name=name, settings=settings, engine=engine, bus=bus, relay=relay,
                             cluster=cluster, migrations_dir=migrations_dir)
    if topics:
        runtime.consumer = EventConsumer(
            group_id=f"onedoor-{name}",
            topics=topics,
            handlers=handlers,
            uow_factory=runtime.uow,
            bootstrap=settings.kafka_bootstrap,
            cluster=cluster_for(settings),
            batch_size=settings.consumer_batch_size,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            max_attempts=settings.consumer_max_attempts,
            retry_backoff_s=settings.consumer_retry_backoff_s,
            service=name,
        )
    return runtime


def supervised(name: str, make: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
    """Run a long-lived coroutine; if it dies of an unexpected error, log it and start it again."""

    async def loop() -> None:
        while True:
            try:
                await make()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s crashed; restarting in 1 s", name)
                await asyncio.sleep(1)

    return asyncio.create_task(loop(), name=name)


@contextlib.asynccontextmanager
async def lifespan(runtime: ServiceRuntime) -> AsyncIterator[None]:
    """Migrate, then start the relay and the consumer; stop both cleanly on shutdown."""
    url = runtime.settings.database_url(runtime.name)
    await asyncio.to_thread(upgrade, url, runtime.migrations_dir)
    runtime.tasks.append(supervised(f"{runtime.name}-relay", runtime.relay.run))
    consuming: list[asyncio.Task[None]] = []
    if runtime.consumer is not None:
        consuming.append(supervised(f"{runtime.name}-consumer", runtime.consumer.run))
        runtime.tasks += consuming
    for job_name, job in runtime.jobs:
        runtime.tasks.append(supervised(f"{runtime.name}-{job_name}", job))
    try:
        yield
    finally:
        # HTTP is drained by now (shared/health.py, then uvicorn). The consumer goes first and
        # leaves its group, so that the other instances take its partitions at once rather
        # than after a session timeout; then the relay publishes what this instance committed,
        # rather than leaving it to another's next poll.
        for task in consuming:
            task.cancel()
        if consuming:
            await asyncio.wait(consuming, timeout=CONSUMER_LEAVE_S)
        await _flush(runtime)
        for task in runtime.tasks:
            task.cancel()
        if runtime.tasks:
            # Each stops within its deadline, or is left behind with a log line: a Kafka
            # client's stop that waits on a broker with no answer (seen once in a test run, the
            # whole run held for minutes) must not hold the service's shutdown with it.
            stopped, stuck = await asyncio.wait(runtime.tasks, timeout=STOP_DEADLINE_S)
            for task in stopped:  # an error on the way out was logged where it happened
                if not task.cancelled():
                    task.exception()
            for task in stuck:
                log.error("%s did not stop within %.0f s; left behind", task.get_name(),
                          STOP_DEADLINE_S)
        runtime.tasks.clear()
        await _within_deadline(runtime.cluster.close(), f"{runtime.name} cluster admin")
        if runtime.consumer is not None:
            await _within_deadline(runtime.consumer.close(), f"{runtime.name} consumer")
        runtime.engine.dispose()


STOP_DEADLINE_S = 15.0  # for the background tasks together, then for each client
# The consumer's leaving first is worth a few seconds, not the whole grace period: a broker that
# does not answer must not make a graceful stop a killed one (Kubernetes allows 45 s in all).
CONSUMER_LEAVE_S = 5.0
FLUSH_DEADLINE_S = 5.0  # for the relay to publish what is committed, on the way out
FLUSH_STALL_S = 1.0  # ... and it gives up sooner when the backlog stops going down


async def _flush(runtime: ServiceRuntime) -> None:
    """Waits until no outbox row is left unpublished, while the relay makes progress and for
    :data:`FLUSH_DEADLINE_S` at most: a broker that does not answer must not hold the shutdown
    (the rows stay, and another instance's relay, or this one's next start, publishes them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FLUSH_DEADLINE_S
    best, moved = None, loop.time()
    try:
        # Each read bounded too: a database that hangs must not hold the way out.
        while left := await asyncio.wait_for(asyncio.to_thread(runtime.relay.backlog),
                                              max(0.1, deadline - loop.time())):
            if best is None or left < best:
                best, moved = left, loop.time()
            if loop.time() > min(deadline, moved + FLUSH_STALL_S):
                log.warning("%s: %d outbox rows unpublished on the way out; left to the other "
                            "relays", runtime.name, left)
                return
            runtime.relay.wake()
            await asyncio.sleep(0.1)
    except Exception:  # TimeoutError included: the rows stay for the other relays
        log.exception("%s: cannot read the outbox backlog on the way out", runtime.name)


async def _within_deadline(closing: Coroutine[object, object, object], what: str) -> None:
    try:
        await asyncio.wait_for(closing, STOP_DEADLINE_S)
    except TimeoutError:
        log.error("%s did not close within %.0f s; left behind", what, STOP_DEADLINE_S)
    except Exception:
        log.exception("%s failed to close", what)


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])
    router.include_router(service_probes(runtime))  # /health/live, /health/ready
    consumer = runtime.consumer
    router.include_router(metrics.metrics_router(  # /metrics
        runtime.name, runtime.engine, runtime.bus.outbox, consumer.lag if consumer else None))

    @router.get("/asyncapi.json", summary="The event contract: every topic and event type "
                                          "(AsyncAPI 3, docs/asyncapi.json)")
    def event_contract() -> dict[str, Any]:
        return asyncapi.document()

    @router.get("/health", summary="Liveness and the state of this service's bus")
    def health() -> dict[str, object]:
        inbox = runtime.bus.inbox
        with reading(runtime.engine) as conn:
            dead = conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.outcome == "dead-lettered")
            ).scalar_one()
        consumer = runtime.consumer
        return {
            "service": runtime.name,
            "status": "ok",
            "broker_epoch": runtime.relay.epoch,
            "outbox_backlog": runtime.relay.backlog(),
            "published": runtime.relay.published_total,
            "republished_after_broker_restart": runtime.relay.republished_total,
            "consumer": None if consumer is None else {
                "group": consumer.group_id,
                "assigned_partitions": sorted(f"{tp.topic}/{tp.partition}"
                                              for tp in consumer.assignment),
                "processed": consumer.processed_total,
            },
            "dead_lettered": int(dead),
        }

    # Event ids, types and failure reasons are the operators' business (administrators), not
    # anyone's who can reach the port.
    @router.get("/dead-letters", summary="Events this service could not process, and why "
                                         "(administrators)")
    def dead_letters(_who: Annotated[Principal, Depends(require("admin"))],
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100
                     ) -> list[dict[str, object]]:
        """Newest first. The original records are on the dead-letter topic, with the same
        reason in their ``dlq_reason`` header."""
        inbox = runtime.bus.inbox
        with reading(runtime.engine) as conn:
            rows = conn.execute(
                select(inbox.c.event_id, inbox.c.event_type, inbox.c.topic, inbox.c.reason,
                       inbox.c.processed_at)
                .where(inbox.c.outcome == "dead-lettered")
                .order_by(inbox.c.processed_at.desc())
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    return router


# -- 422s that name the field and the reason, never the value ------------------------------------

def refuse_without_input(app: FastAPI) -> None:
    """Answer request validation errors with :func:`unprocessable_without_input`, and say in the
    OpenAPI document what each operation's errors look like (shared/contract.py)."""
    app.add_exception_handler(RequestValidationError, unprocessable_without_input)  # type: ignore[arg-type]  # Starlette types a handler for any Exception
    app.add_middleware(RefuseNul)
    document_problems(app)


async def unprocessable_without_input(_request: Request, exc: RequestValidationError
                                      ) -> JSONResponse:
    """FastAPI's own 422 echoes the rejected value: a resident ID number, an account number —
    and a value JSON cannot carry back (NaN, a lone surrogate) turns the 422 into a 500. Where
    the error is (``loc``), what is wrong (``msg``) and its ``type`` are what the caller needs;
    a key or message that is not valid Unicode is sent with the bad characters replaced."""
    errors = [{"type": _text(e.get("type", "")),
               "loc": [part if isinstance(part, int) else _text(part)
                       for part in e.get("loc", ())],
               "msg": _text(e.get("msg", ""))}
              for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": errors})


def _text(value: object) -> str:
    return str(value).encode("utf-8", "replace").decode("utf-8")


class RefuseNul:
    """ASGI middleware: a NUL (U+0000) in a path or query parameter is a 422 naming it.

    PostgreSQL's text cannot hold a NUL: a query comparing a column with one fails, a 500 (found
    by tests/integration/test_openapi_fuzz.py on ``GET /applications?status=%00``), where SQLite
    compares and stores it. Refused before the route, the same on both — after the route's
    credential check (the ``gate`` of auth's ``require``), so that a stranger hears 401 or 403
    and not what the route expects. Only the parameters the route declares are looked at: one it
    does not read is ignored, as FastAPI ignores it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (b"%00" in scope.get("query_string", b"")
                                        or "\x00" in scope.get("path", "")):
            answer = await _refusing_nul(scope)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refusing_nul(scope: dict[str, Any]) -> JSONResponse | None:
    path = scope.get("path", "")
    for route in api_routes(scope["app"]):
        found = route.path_regex.match(path)
        if found is None or scope["method"] not in (route.methods or ()):
            continue
        loc = _nul_at(route, found.groupdict(), scope.get("query_string", b""))
        if loc is None:
            return None
        request = Request(scope)
        try:
            for gate in (d.call.gate for d in dependants(route.dependant)  # type: ignore[union-attr]  # hasattr: a gate (auth's require)
                         if hasattr(d.call, "gate")):
                await gate(request)
        except HTTPException as refused:
            return JSONResponse(status_code=refused.status_code,
                                content={"detail": refused.detail}, headers=refused.headers)
        return JSONResponse(status_code=422, content={"detail": [{
            "type": "string_nul", "loc": loc, "msg": "must not contain NUL (U+0000)"}]})
    return None


def _nul_at(route: Any, path_params: dict[str, str], query_string: bytes) -> list[str] | None:
    for name, value in path_params.items():
        if "\x00" in value:
            return ["path", name]
    declared = {(f.alias or f.name) for d in dependants(route.dependant) for f in d.query_params}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                                 encoding="utf-8", errors="replace"):
        if name in declared and "\x00" in value:
            return ["query", name]
    return None
