"""How spans leave a OneDoor process: the provider, its sampler, its exporters (from the standard
``OTEL_*`` variables) and the scrubbing every span goes through on its way out (see the package's
docstring for the rule)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status

from shared.version import VERSION

log = logging.getLogger("shared.tracing")


def make_provider(service: str) -> TracerProvider:
    """A provider for ``service``'s spans (``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
    apply), sampling as ``OTEL_TRACES_SAMPLER`` says."""
    attributes: dict[str, str] = {"service.namespace": "onedoor", "service.version": VERSION}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"onedoor-{service}"
    return TracerProvider(resource=Resource.create(attributes),
                          sampler=_ClientsInsideTraces(_sampler_from_env()))


def exporting_to(exporter: SpanExporter) -> SpanProcessor:
    """A processor that hands each ended span at once, scrubbed, to ``exporter`` (the tests)."""
    return Scrubbed(SimpleSpanProcessor(exporter))


class _ClientsInsideTraces(Sampler):
    """``inner``'s decision, except that a client span (a statement, an HTTP call) with no
    parent is not recorded: the relay's polls, the probes' and the scrapes' queries would
    otherwise each be a trace of one span."""

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None,
                      links: Sequence[Link] | None = None, trace_state: Any = None
                      ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes,
                                         links, trace_state)

    def get_description(self) -> str:
        return f"ClientsInsideTraces{{{self._inner.get_description()}}}"


def _sampler_from_env() -> Sampler:
    """``OTEL_TRACES_SAMPLER`` (and ``_ARG``), as the specification names them."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        ratio = 1.0
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON, "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio))}
    if name not in samplers:
        log.warning("OTEL_TRACES_SAMPLER %s is not known here; sampling every trace", name[:40])
    return samplers.get(name, samplers["parentbased_always_on"])


def exporters_from_env() -> list[SpanExporter]:
    """``OTEL_TRACES_EXPORTER`` (default ``otlp``): ``otlp`` over HTTP/protobuf (configured by
    the exporter's own ``OTEL_EXPORTER_OTLP_*`` variables), ``console`` for a look by hand."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")
             if n.strip() and n.strip() != "none"]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
            if protocol != "http/protobuf":
                log.warning("OTLP protocol %s is not installed; exporting over http/protobuf",
                            protocol[:40])
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter
            exporters.append(ConsoleSpanExporter())
        else:
            log.warning("OTEL_TRACES_EXPORTER %s is not installed here; ignored", name[:40])
    return exporters


# Attributes a log line may not hold either: the path (replaced by the route), the query, the
# full URL, the caller's address and agent.
_DROPPED = frozenset({
    "url.query", "url.full", "http.url", "http.target", "client.address", "client.port",
    "net.peer.ip", "net.peer.port", "http.client_ip", "net.sock.peer.addr", "net.sock.peer.port",
    "network.peer.address", "network.peer.port", "user_agent.original", "http.user_agent"})


class Scrubbed(SpanProcessor):
    """Hands ``inner`` each ended span without what shared/logs.py keeps out of a log line."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(scrubbed(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` as it may leave the process (see the module's docstring)."""
    attributes = {k: v for k, v in (span.attributes or {}).items()
                  if k not in _DROPPED and k != "url.path"}
    route = (span.attributes or {}).get("http.route")
    if route is not None and "url.path" in (span.attributes or {}):
        attributes["url.path"] = route
    events = [SpanEvent(e.name, {k: v for k, v in (e.attributes or {}).items()
                                 if k == "exception.type"} if e.name == "exception"
                        else e.attributes, e.timestamp)
              for e in span.events]
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=events, links=span.links, kind=span.kind,
        status=Status(span.status.status_code), start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope)
