"""OpenTelemetry traces: off unless the standard ``OTEL_*`` variables ask for an export.

When on, one household's path is one trace. The W3C trace context of the span current when an
event is published (the HTTP request that took the application, the handling of the event that
caused it) travels with the event as the CloudEvents distributed-tracing extension: the unit of
work writes ``ce_traceparent`` (and ``ce_tracestate``) among the outbox row's headers, the relay
sends them as they are, and the consumer starts the span of the event's handling as a child of
that context. FastAPI (server spans), httpx (the window's calls) and SQLAlchemy (statements) are
instrumented with the opentelemetry-instrumentation packages; the bus by hand, here: a span per
relay batch, linked to the events it carries, and a span per event handled.

Off — no ``OTEL_TRACES_EXPORTER`` and no OTLP endpoint, or ``OTEL_TRACES_EXPORTER=none`` — there
is no provider, nothing is instrumented, no instrumentation package is imported, and each hook
of the bus is one test of a module attribute (the relay and the consumer run ~1000 events/s).

On, the spans are held to the rule of the logs (shared/logs.py): they leave the process without a
request's path (its route template instead), query or full URL, without the caller's address,
and without any exception's message or a status description (the type only), since those can
quote input. A statement's text is kept: every engine hides its parameters (shared/db.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.tracing.pipeline import Scrubbed, exporters_from_env, exporting_to, make_provider
from shared.version import VERSION

__all__ = ["exporting_to", "make_provider"]  # for the tests: an exporter of their own

log = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()  # W3C trace context only: no baggage on events
_HEADERS = ("ce_traceparent", "ce_tracestate")
_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()
# Polled by orchestrators and scrapers: a span each would be noise (regexes on the URL).
_UNTRACED_URLS = "/health(/live|/ready)?$,/metrics$"
_MAX_LINKS = 128  # the SDK's own limit of links on one span


@dataclass
class _Tracing:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None
    instrumentors: list[Any] = field(default_factory=list)


_on = _Tracing()


def enabled() -> bool:
    return _on.tracer is not None


def export_configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for spans to be exported (ours is off by default,
    unlike the SDK's, whose default exporter is OTLP)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def set_up(service: str) -> None:
    """Trace this process when the ``OTEL_*`` variables say so (once: a second service made in
    the same process shares the first's provider)."""
    if _on.provider is not None or not export_configured():
        return
    exporters = exporters_from_env()
    if not exporters:
        return
    provider = make_provider(service)
    for exporter in exporters:
        provider.add_span_processor(Scrubbed(BatchSpanProcessor(exporter)))
    # Global too, for any library that traces by itself (FastAPI's own tracing then stands
    # aside for the instrumentation's middleware, which it recognises).
    trace.set_tracer_provider(provider)
    start(provider)
    log.info("tracing on: exporting spans (%s)", ", ".join(type(e).__name__ for e in exporters))


def start(provider: TracerProvider) -> None:
    """Trace into ``provider`` from now on: the bus's spans and httpx's calls; apps and engines
    made from now on are instrumented by :func:`instrument_app` and :func:`instrument_engine`."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    stop()
    _on.provider, _on.tracer = provider, provider.get_tracer("onedoor.bus", VERSION)
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    _on.instrumentors = [instrumentor]


def stop() -> None:
    """Off again (the tests): the bus stops tracing and httpx is let go (apps and engines
    already instrumented keep their instrumentation: the tests discard them)."""
    for instrumentor in _on.instrumentors:
        instrumentor.uninstrument()
    _on.provider = _on.tracer = None
    _on.instrumentors = []


def instrument_app(app: Any, service: str) -> None:
    """Server spans for ``app``'s requests, named by route, each saying which service served it
    (several may share a process, and so a provider, in the tests)."""
    if _on.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def hook(span: trace.Span, _scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute("onedoor.service", service)

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_on.provider,
                                       server_request_hook=hook, excluded_urls=_UNTRACED_URLS,
                                       exclude_spans=["receive", "send"])


def instrument_engine(engine: Any) -> None:
    """A span per statement on ``engine``. Per engine, not SQLAlchemyInstrumentor's patch of
    ``create_engine``: shared/db.py holds its own reference to that function, taken at import.
    (The instrumentation declares SQLAlchemy < 2.1; its EngineTracer hooks the engine events
    that 2.1 keeps, as tests/integration/test_tracing.py shows.)"""
    if _on.provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    usage = NoOpMeterProvider().get_meter("onedoor").create_up_down_counter(
        "db.client.connections.usage")  # metrics are Prometheus's here (shared/metrics.py)
    EngineTracer(trace.get_tracer(  # type: ignore[no-untyped-call]  # its __init__ is unannotated
        "opentelemetry.instrumentation.sqlalchemy", tracer_provider=_on.provider), engine, usage)


# -- the bus ----------------------------------------------------------------------------------

def outgoing() -> list[tuple[str, bytes]]:
    """The headers that carry the current span's context with an event published now (none when
    tracing is off, or nothing is being traced)."""
    if _on.tracer is None:
        return []
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(f"ce_{name}", value.encode()) for name, value in carrier.items()]


def handling(headers: Iterable[tuple[str, bytes]], event_type: str, event_id: str, topic: str,
             service: str) -> AbstractContextManager[object]:
    """Around one event's handler: a span, child of the context the event carries."""
    if _on.tracer is None:
        return _NOTHING
    return _span(_on.tracer, f"process {event_type}", SpanKind.CONSUMER, _incoming(headers), {
        "onedoor.service": service, "messaging.system": "kafka",
        "messaging.operation.type": "process", "messaging.destination.name": topic,
        "messaging.message.id": event_id, "cloudevents.event_type": event_type})


def publishing(service: str, carried: Sequence[Iterable[tuple[str, bytes]]]
               ) -> AbstractContextManager[object]:
    """Around one relay batch: a span of its own, linked to the contexts its events carry."""
    if _on.tracer is None:
        return _NOTHING
    links = []
    for headers in carried:
        context = trace.get_current_span(_incoming(headers)).get_span_context()
        if context.is_valid:
            links.append(Link(context))
            if len(links) == _MAX_LINKS:
                break
    return _span(_on.tracer, "publish outbox", SpanKind.PRODUCER, Context(), {
        "onedoor.service": service, "messaging.system": "kafka",
        "messaging.operation.type": "send", "messaging.batch.message_count": len(carried)},
        links)


def current_trace_id() -> str | None:
    """The trace id of the span current here, as hex, for log lines (None when off)."""
    if _on.tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _incoming(headers: Iterable[tuple[str, bytes]]) -> Context:
    carrier = {name[3:]: (value or b"").decode("ascii", "replace")
               for name, value in headers if name in _HEADERS}
    # An empty context, not the current one: an event without a trace starts its own.
    return _PROPAGATOR.extract(carrier) if carrier else Context()


@contextlib.contextmanager
def _span(tracer: Tracer, name: str, kind: SpanKind, context: Context,
          attributes: dict[str, Any], links: list[Link] | None = None) -> Iterator[object]:
    # The SDK would record the exception's message and set it as the status: they can quote
    # input (shared/logs.py). Its type is what the span says.
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes,
                                      links=links, record_exception=False,
                                      set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise


