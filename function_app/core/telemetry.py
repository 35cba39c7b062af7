"""OpenTelemetry: a span per step, one trace per turn (the `traceparent` travels in the envelope).

With APPLICATIONINSIGHTS_CONNECTION_STRING set, the Azure Monitor OpenTelemetry distro exports the
spans (and instruments the HTTP clients and the Azure SDKs: a dependency span for every Cosmos DB,
Storage, NLU, shop, QnA and SendBird call). `OTEL_TRACES_EXPORTER=console` prints them locally,
with the same instrumentation. With neither, spans are still made (log lines carry trace ids) and
dropped, and no client is instrumented.

Customer text is never an attribute: the envelope's text is not recorded, and every URL loses its
query string (a product search's words travel in one) before any exporter sees the span.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.envelope import Envelope, now_ms

log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("switchboard")
SERVICE = "switchboard-functions"
URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")


class DropQueryStrings(SpanProcessor):
    """Every URL attribute without its query string, whenever it is set (instrumentations set some
    as the span starts, some after), so no exporter ever sees one."""

    def on_start(self, span, parent_context=None) -> None:
        set_attribute = span.set_attribute

        def redacted(key: str, value) -> None:
            if key in URL_ATTRIBUTES and isinstance(value, str) and "?" in value:
                value = "" if key == "url.query" else value.split("?", 1)[0]
            set_attribute(key, value)

        span.set_attribute = redacted
        span.set_attributes = lambda attributes: [redacted(k, v) for k, v in attributes.items()]
        for key, value in dict(span.attributes or {}).items():
            redacted(key, value)


def configure(appinsights_connection: str = "", processors: Sequence[SpanProcessor] = (),
              service: str = SERVICE, env: Mapping[str, str] = os.environ) -> None:
    """Install the tracer provider once per process (a second call is a no-op, as in OpenTelemetry).
    `processors`: more span processors (a test's in-memory exporter)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    processors = [DropQueryStrings(), *processors]
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    resource = Resource.create({"service.name": service})
    if appinsights_connection:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=appinsights_connection, resource=resource,
                                span_processors=processors, enable_live_metrics=False)
        return
    provider = TracerProvider(resource=resource)
    trace.set_tracer_provider(provider)
    if len(processors) > 1:  # somewhere to send them: instrument as the distro does
        for processor in processors:
            provider.add_span_processor(processor)
        instrument_clients()


def instrument_clients() -> None:
    """The distro's client instrumentation, for a process exporting without it: httpx (the NLU,
    shop, QnA and SendBird clients), requests and urllib3, and the Azure SDKs' own spans."""
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for instrumentor in (HTTPXClientInstrumentor(), RequestsInstrumentor(), URLLib3Instrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    settings.tracing_implementation = OpenTelemetrySpan


@contextlib.contextmanager
def step(name: str, envelope: Envelope, server: bool = False) -> Iterator[trace.Span]:
    """A span for one step, child of the previous step's; the envelope then carries this span on.
    Queue steps are consumers (the `requests` table in Application Insights); a channel's accept
    step is the server side of its webhook."""
    parent = _propagator.extract({"traceparent": envelope.traceparent}) if envelope.traceparent else None
    kind = SpanKind.SERVER if server else SpanKind.CONSUMER
    with _tracer.start_as_current_span(name, context=parent, kind=kind) as span:
        span.set_attributes({"switchboard.step": name, "switchboard.turn_id": envelope.turn_id,
                             "switchboard.conversation_id": envelope.conversation_id,
                             "switchboard.channel": envelope.channel})
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        envelope.traceparent = carrier.get("traceparent", envelope.traceparent)
        yield span


def understood(span: trace.Span, envelope: Envelope) -> None:
    """What the dashboard charts of a routed turn: its intent, out of scope or not, its branch."""
    nlu = envelope.nlu or {}
    span.set_attributes({"switchboard.intent": (nlu.get("intent") or {}).get("name") or "",
                         "switchboard.out_of_scope": bool(nlu.get("out_of_scope")),
                         "switchboard.branch": envelope.branch or ""})


def delivered(span: trace.Span, envelope: Envelope) -> None:
    span.set_attributes({"switchboard.branch": envelope.branch or "", "switchboard.failed": bool(envelope.error),
                         "switchboard.end_to_end_ms": round(now_ms() - envelope.received_at, 3)})
