"""OpenTelemetry for the NLU service, the admin site and the training worker: the Azure Monitor
OpenTelemetry distro when APPLICATIONINSIGHTS_CONNECTION_STRING is set (Flask's requests, the HTTP
clients and the Azure SDKs' calls as spans, exported to Application Insights; Entra ID auth through
APPLICATIONINSIGHTS_AUTHENTICATION_STRING), the console with `OTEL_TRACES_EXPORTER=console`, and
nothing otherwise; then `instrument_app` the Flask app.

The function app has its own copy of this (`function_app/core/telemetry.py`, with the turn's step
spans): it is deployed without this package. Neither ever records a URL's query string.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

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


def configure(service: str, processors: Sequence[SpanProcessor] = (), env: Mapping[str, str] = os.environ) -> None:
    """Once per process (a second call is a no-op). `processors`: more span processors (a test's)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    processors = [DropQueryStrings(), *processors]
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    resource = Resource.create({"service.name": service})
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if connection:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection, resource=resource, span_processors=processors,
                                enable_live_metrics=False)
        return
    if len(processors) == 1:  # nowhere to send spans: leave the no-op provider and instrument nothing
        return
    provider = TracerProvider(resource=resource)
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _instrument()


def instrument_app(app):
    """A server span for each of the Flask app's requests, when spans go somewhere (the distro
    instruments Flask by class, which misses an app whose module imported Flask before)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        if not getattr(app, "_is_instrumented_by_opentelemetry", False):
            FlaskInstrumentor.instrument_app(app)
    return app


def _instrument() -> None:
    """What the distro instruments, for a process exporting without it (Flask: `instrument_app`)."""
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for instrumentor in (HTTPXClientInstrumentor(), RequestsInstrumentor(), URLLib3Instrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    settings.tracing_implementation = OpenTelemetrySpan
