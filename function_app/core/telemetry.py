"""OpenTelemetry: a span per step, one trace per turn (the `traceparent` travels in the envelope).

Spans are exported to Azure Monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is set; otherwise
they are still created (log lines carry trace ids) and dropped.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.envelope import Envelope

log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("switchboard")


def configure(appinsights_connection: str = "", exporter: SpanExporter | None = None) -> None:
    """Install the tracer provider once per process (a second call is a no-op, as in OpenTelemetry)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "switchboard-functions"}))
    if exporter is None and appinsights_connection:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
        exporter = AzureMonitorTraceExporter(connection_string=appinsights_connection)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


@contextlib.contextmanager
def step(name: str, envelope: Envelope) -> Iterator[trace.Span]:
    """A span for one step, child of the previous step's; the envelope then carries this span on."""
    parent = _propagator.extract({"traceparent": envelope.traceparent}) if envelope.traceparent else None
    with _tracer.start_as_current_span(name, context=parent) as span:
        span.set_attribute("switchboard.turn_id", envelope.turn_id)
        span.set_attribute("switchboard.conversation_id", envelope.conversation_id)
        span.set_attribute("switchboard.channel", envelope.channel)
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        envelope.traceparent = carrier.get("traceparent", envelope.traceparent)
        yield span
