"""Prometheus metrics (``prometheus-client``): what each service counts, and ``GET /metrics``.

One set of metric objects per process, made here at import and registered once in the client's
default registry, each with a ``service`` label. Not a registry per app: the relay, the consumer
and the unit of work record from wherever they run, and would need their app's registry handed
down through every constructor; and several services do run in one process (the tests), where a
second registration of the same name in one registry raises. With the label, a service made twice
in one process records into the same objects, and its ``/metrics`` answers only the samples of
its own ``service`` (and the process's own: CPU, memory, garbage collection). In production each
instance is one process (no uvicorn workers), so nothing needs prometheus-client's multiprocess
mode.

Every label is bounded, and none holds personal data or a case id: a route *template*, never a
path; an event type registered in the catalogue (anything else reads ``unknown``); programme,
outcome, status and tier, which the catalogue enumerates; a district's 6-digit code, never a
town's or a household's. The figures that are a state rather than a count (the outbox, the
consumer's lag, the database pool) are read when scraped: one query, and what the clients keep.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, Table, func, select

from shared.db import reading

if TYPE_CHECKING:
    from shared.events.base import Event
    from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

_S = ["service"]

HTTP_SECONDS = Histogram(
    "onedoor_http_request_duration_seconds",
    "HTTP requests served, by route template and status, and how long each took",
    [*_S, "method", "route", "status"])

EVENTS_HANDLED = Counter("onedoor_events_handled", "Events a consumer applied, by type",
                         [*_S, "type"])
EVENTS_FAILED = Counter(
    "onedoor_events_failed",
    "Failed attempts at one event (retried, then dead-lettered when they keep failing)",
    [*_S, "type"])
EVENTS_DEAD_LETTERED = Counter("onedoor_events_dead_lettered",
                               "Events sent to the dead-letter topic, by type", [*_S, "type"])
EVENTS_COMMITTED = Counter("onedoor_events_committed",
                           "Events committed to the outbox (to be published), by type",
                           [*_S, "type"])
CONSUMER_BATCH_SECONDS = Histogram("onedoor_consumer_batch_duration_seconds",
                                   "Time to apply one fetched batch of events", _S)
CONSUMER_LAG = Gauge(
    "onedoor_consumer_lag",
    "Records in a partition not yet read by this instance (the partition's end as last fetched, "
    "less the consumer's position)", [*_S, "topic", "partition"])

# Audit's archiver reads every topic in a consumer group of its own, in one instance at a time
# (the one that holds its lock): how far it is behind, and whether this instance is the one.
ARCHIVER_LAG = Gauge(
    "onedoor_audit_archiver_lag",
    "Records in a partition the audit archiver has not archived yet (the partition's end as "
    "last fetched, less the archiver's position)", [*_S, "topic", "partition"])
ARCHIVER_ACTIVE = Gauge("onedoor_audit_archiver_active",
                        "1 in the instance whose archiver is running (holds the lock), else 0",
                        _S)

OUTBOX_BACKLOG = Gauge("onedoor_outbox_backlog", "Outbox rows committed but not yet published",
                       _S)
OUTBOX_OLDEST_SECONDS = Gauge(
    "onedoor_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none waits)", _S)
GROUP_COMMIT_COMMANDS = Histogram(
    "onedoor_group_commit_commands",
    "HTTP commands committed together in one transaction (shared/group_commit.py)", _S,
    buckets=(1, 2, 4, 8, 16, 32, 64))
RELAY_PUBLISH_SECONDS = Histogram(
    "onedoor_relay_publish_duration_seconds",
    "Time for the relay to send one batch and have the broker acknowledge it", _S)
RELAY_DELAY_SECONDS = Histogram(
    "onedoor_relay_event_delay_seconds",
    "From an event's commit to the broker's acknowledgement of it", _S,
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
RELAY_PUBLISHED = Counter("onedoor_relay_published_events", "Outbox rows published", _S)

DB_POOL_CHECKED_OUT = Gauge("onedoor_db_pool_checked_out",
                            "Database connections in use (checked out of the pool)", _S)
DB_POOL_SIZE = Gauge("onedoor_db_pool_size", "Database connections the pool keeps", _S)

# What a bureau asks: applications by programme and district, decisions by outcome, payments by
# status, warnings by tier. Counted by the service that publishes each event, at its commit
# (payments sent, which no event carries, at the commit of the bank files: payments_sent).
APPLICATIONS = Counter("onedoor_applications", "Applications taken, by programme and district",
                       [*_S, "programme", "region"])
DECISIONS = Counter("onedoor_decisions", "Decisions made, by programme and outcome",
                    [*_S, "programme", "outcome"])
PAYMENTS = Counter(
    "onedoor_payments",
    "Payments by status: scheduled, held (stopped by a guard), sent (written to a bank file), "
    "paid or failed (the bank's answer)",
    [*_S, "programme", "status"])
WARNINGS = Counter("onedoor_warnings", "Early warnings raised, by tier", [*_S, "tier"])

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request served (``route``: the template, or "(no route)")."""
    HTTP_SECONDS.labels(service, method if method in _METHODS else "other", route,
                        str(status)).observe(seconds)


def event_type(name: str | None) -> str:
    """An event type fit for a label: one the catalogue registers, or ``unknown``."""
    return name if name is not None and name in _known_types() else "unknown"


# The catalogue is imported when first needed, not with this module: shared.events imports
# shared.logs, which imports this.
@cache
def _known_types() -> frozenset[str]:
    from shared.events import catalogue  # noqa: F401 (registers every type)
    from shared.events.base import registered_types

    return frozenset(registered_types())


# Which business counter an event adds one to, and with which labels (the service's aside).
_Figure = Callable[[Any], tuple[Counter, tuple[str, ...]]]


@cache
def _figures() -> dict[str, _Figure]:
    """What each event of a business figure counts in, by event type."""
    from shared.events.catalogue import (
        ApplicationDecided,
        ApplicationSubmitted,
        EarlyWarningRaised,
        PaymentHeld,
        PaymentScheduled,
        PaymentSettled,
    )

    def paid(status: str) -> _Figure:
        return lambda e: (PAYMENTS, (e.programme, status))

    return {
        # region_code has 6 digits: the district (a 9-digit town is never a label).
        ApplicationSubmitted.type: lambda e: (APPLICATIONS, (e.programme, e.region_code[:6])),
        ApplicationDecided.type: lambda e: (DECISIONS, (e.programme, e.outcome)),
        PaymentScheduled.type: paid("scheduled"),
        PaymentHeld.type: paid("held"),
        PaymentSettled.type: lambda e: (PAYMENTS, (e.programme, e.outcome)),
        EarlyWarningRaised.type: lambda e: (WARNINGS, (e.tier,)),
    }


def count_each(counter: Counter, service: str, types: Iterable[str]) -> None:
    """Add one per event to ``counter``, by type: one increment per type, not per event."""
    for name, n in Tally(types).items():
        counter.labels(service, event_type(name)).inc(n)


def count_committed(service: str, events: Iterable[Event]) -> None:
    """Events that a unit of work just committed to the outbox, and the business figures they
    carry (the only place those are counted: no service's handler needs to know). Tallied
    first: a batch of a consumer's commit is mostly alike, and each increment costs a lock."""
    types: Tally[str] = Tally()
    figures: Tally[tuple[Counter, tuple[str, ...]]] = Tally()
    table = _figures()
    for event in events:
        types[event.type] += 1
        figure = table.get(event.type)
        if figure is not None:
            figures[figure(event)] += 1
    for name, n in types.items():
        EVENTS_COMMITTED.labels(service, event_type(name)).inc(n)
    for (counter, labels), n in figures.items():
        counter.labels(service, *labels).inc(n)


def payments_sent(uow: UnitOfWork, by_programme: Mapping[str, int]) -> None:
    """Payments written to bank files (``status="sent"``), by programme, counted once ``uow``
    commits. No event says so — the file goes to the bank, not the bus — so the service that
    writes the file hands the figure here; by programme only, never by bank, file or case."""
    def count() -> None:
        for programme, n in by_programme.items():
            PAYMENTS.labels(uow.service, programme, "sent").inc(n)
    if by_programme:
        uow.after_commit(count)


def outbox_state(service: str, backlog: int, oldest: datetime | None) -> None:
    """The outbox as just read: its backlog, and when its oldest unpublished row was committed
    (SQLite gives back naive times: they were written in UTC)."""
    OUTBOX_BACKLOG.labels(service).set(backlog)
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    OUTBOX_OLDEST_SECONDS.labels(service).set(age)


def pool_state(service: str, pool: object) -> None:
    """A SQLAlchemy pool's connections in use and kept (pools without a size say only the
    first)."""
    checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
    size: Callable[[], int] | None = getattr(pool, "size", None)
    if checked_out is not None:
        DB_POOL_CHECKED_OUT.labels(service).set(checked_out())
    if size is not None:
        DB_POOL_SIZE.labels(service).set(size())


class LagGauge:
    """One service's lag samples: set each scrape, and those of partitions no longer assigned
    removed (a rebalance gave them to another instance, whose own lag they are now)."""

    def __init__(self, service: str, gauge: Gauge = CONSUMER_LAG) -> None:
        self.service = service
        self.gauge = gauge
        self._shown: set[tuple[str, str]] = set()

    def set(self, lags: dict[tuple[str, int], int]) -> None:
        now = {(topic, str(partition)): lag for (topic, partition), lag in lags.items()}
        for gone in self._shown - now.keys():
            self.gauge.remove(self.service, *gone)
        for (topic, partition), lag in now.items():
            self.gauge.labels(self.service, topic, partition).set(lag)
        self._shown = set(now)


class _ServiceView:
    """The default registry as one service shows it: its own samples and the process's."""

    def __init__(self, service: str) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            samples = [s for s in family.samples
                       if s.labels.get("service", self.service) == self.service]
            shown = Metric(family.name, family.documentation, family.type, family.unit)
            shown.samples = samples
            yield shown


def exposition(service: str) -> tuple[bytes, str]:
    """The text ``/metrics`` answers for ``service``, and its content type."""
    view = CollectorRegistry(auto_describe=False)
    view.register(_ServiceView(service))
    return generate_latest(view), CONTENT_TYPE_LATEST


Lags = dict[tuple[str, int], int]  # (topic, partition) -> records behind


def partition_lags(consumer: AIOKafkaConsumer | None) -> Lags:
    """Records behind in each partition assigned to ``consumer``: the partition's end as the
    last fetch response said (``highwater``), less the consumer's position — both what the client
    keeps, no broker asked. A partition not fetched from yet, or whose position is being reset,
    is left out. Call it on the consumer's event loop."""
    lags: Lags = {}
    if consumer is None:
        return lags
    for tp in consumer.assignment():
        try:
            # The per-partition state that consumer.highwater() reads, for the position too:
            # consumer.position() would ask the broker when it has none.
            state = consumer._subscription.subscription.assignment.state_value(tp)
            if state.highwater is not None and state.has_valid_position:
                lags[(tp.topic, tp.partition)] = max(0, state.highwater - state.position)
        except Exception:  # a rebalance under way: this partition's figure next time
            continue
    return lags


# app.state's list of what to read on the event loop before each scrape (read_when_scraped).
_READERS = "metrics_readers"


def read_when_scraped(app: FastAPI, reader: Callable[[], None]) -> None:
    """Run ``reader`` on ``app``'s event loop before each of its scrapes: for a figure only a
    part of the app's own knows, such as audit's archiver (its consumer lives on that loop)."""
    readers: list[Callable[[], None]] = getattr(app.state, _READERS, [])
    setattr(app.state, _READERS, [*readers, reader])


def archiver_state(service: str, lags: LagGauge, consumer: AIOKafkaConsumer | None) -> None:
    """Audit's archiver as a scrape finds it: its lag per partition, and whether it runs here
    (None: another instance holds its lock, and shows its lag)."""
    ARCHIVER_ACTIVE.labels(service).set(0 if consumer is None else 1)
    lags.set(partition_lags(consumer))


def metrics_router(service: str, engine: Engine, outbox: Table | None = None,
                   lag: Callable[[], Lags] | None = None) -> APIRouter:
    """``GET /metrics`` for ``service``: its counters and histograms, and, read as it is asked,
    its database pool, its outbox (when it has one) and its consumer's lag (``lag``, read on the
    event loop, where the consumer runs)."""
    router = APIRouter(tags=["operations"])
    lags = LagGauge(service)

    def read_then_render() -> bytes:
        if outbox is not None:
            try:
                outbox_state(service, *_read_outbox(engine, outbox))
            except Exception as exc:  # the database is away: no figure rather than a stale one
                log.warning("metrics: cannot read the outbox: %s", exc)
                OUTBOX_BACKLOG.remove(service)
                OUTBOX_OLDEST_SECONDS.remove(service)
        pool_state(service, engine.pool)
        return exposition(service)[0]

    # Prometheus text, for the scraper, not the API's callers: not in the OpenAPI document.
    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if lag is not None:
            lags.set(lag())
        for reader in getattr(request.app.state, _READERS, ()):
            reader()
        body = await asyncio.to_thread(read_then_render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def _read_outbox(engine: Engine, outbox: Table) -> tuple[int, datetime | None]:
    """The backlog and the oldest unpublished row's commit time, in one query: both from the
    partial index of unpublished rows, the oldest by id (ids grow with commit time)."""
    o = outbox
    waiting = o.c.published_at.is_(None)
    oldest = (select(o.c.created_at).where(waiting).order_by(o.c.id).limit(1)
              .correlate(None).scalar_subquery())
    with reading(engine) as conn:
        backlog, first = conn.execute(select(func.count(), oldest).select_from(o)
                                      .where(waiting)).one()
    return int(backlog), first
