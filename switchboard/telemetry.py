"""OpenTelemetry for every deployable: the Azure Monitor OpenTelemetry distro when an Application
Insights connection string is set (requests and the HTTP clients' calls, the Azure SDKs' included, as spans,
exported to Application Insights; Entra ID auth through APPLICATIONINSIGHTS_AUTHENTICATION_STRING),
the console with `OTEL_TRACES_EXPORTER=console`, and nothing otherwise. The function app adds a span
per step of a turn (`core.telemetry`); the Flask services add `instrument_app`.

What telemetry may carry: never a customer's words. Spans record no URL's query string (a product
search's words travel in one) nor the identifiers in its path (an order number), and the HTTP
clients' request loggers, which log every URL at INFO, are kept at WARNING (`quiet_loggers`), so no
log line carries one either (tests/integration/test_customer_words.py drives whole turns to check).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.path", "url.query")
# Loggers that write every request's URL (query string and all) or headers at INFO
CHATTY_LOGGERS = ("httpx", "httpcore", "urllib3", "azure.core.pipeline.policies.http_logging_policy",
                  "azure.cosmos._cosmos_http_logging_policy")
NO_AZURE_SDK_SPANS = {"azure_sdk": {"enabled": False}}  # one dependency per SDK call: its HTTP request's
IDENTIFIER = re.compile(r"^(?!v\d+$)[^/]*\d[^/]*$")  # a path segment with a digit (not a version, v1)


def redact_url(url: str) -> str:
    """A URL without its query string and with every identifier in its path (a segment with a digit:
    an order number, a document id) as `{id}`: `/orders/A-1234?x=1` is `/orders/{id}`."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = url.partition("://")
    host, slash, path = (rest.partition("/") if sep else ("", "", url))
    segments = ["{id}" if IDENTIFIER.match(unquote(s)) else s for s in path.split("/")]
    return f"{scheme}{sep}{host}{slash}{'/'.join(segments)}" if sep else "/".join(segments)


class DropQueryStrings(SpanProcessor):
    """Every URL attribute without its query string and the identifiers in its path, whenever it is
    set (instrumentations set some as the span starts, some after), so no exporter ever sees one:
    a product search's words travel in the query string, an order number in the path."""

    def on_start(self, span, parent_context=None) -> None:
        set_attribute = span.set_attribute

        def redacted(key: str, value) -> None:
            if key in URL_ATTRIBUTES and isinstance(value, str):
                value = "" if key == "url.query" else redact_url(value)
            set_attribute(key, value)

        def redacted_all(attributes) -> None:
            for key, value in attributes.items():
                redacted(key, value)

        span.set_attribute = redacted
        span.set_attributes = redacted_all
        for key, value in dict(span.attributes or {}).items():
            redacted(key, value)


def quiet_loggers() -> None:
    """The HTTP clients' own loggers at WARNING: at INFO they log every request's URL."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(service: str, processors: Sequence[SpanProcessor] = (), env: Mapping[str, str] = os.environ,
              connection: str | None = None, always_trace: bool = False) -> None:
    """Once per process (a second call is a no-op, as in OpenTelemetry). `processors`: more span
    processors (a test's in-memory exporter); `connection`: the Application Insights connection
    string, when not `env`'s; `always_trace`: make spans even when none is exported (the function
    app: each step passes its trace on in the envelope, and log lines carry its ids)."""
    quiet_loggers()
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    processors = [DropQueryStrings(), *processors]
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    resource = Resource.create({"service.name": service})
    connection = (env.get(CONNECTION_SETTING, "") if connection is None else connection).strip()
    if connection:
        from azure.monitor.opentelemetry import configure_azure_monitor

        # No Azure SDK spans (`ContainerProxy.read_item`, `QueueClient.send_message`): each SDK call
        # would be two dependencies, that span and its HTTP request's; the request's CLIENT span (the
        # requests/urllib3 instrumentation's, or core/transport.py's for Cosmos DB; URL redacted) is
        # the one kept (docs/cost.md, "One span per Azure SDK call").
        configure_azure_monitor(connection_string=connection, resource=resource, span_processors=processors,
                                enable_live_metrics=False, instrumentation_options=NO_AZURE_SDK_SPANS)
        quiet_loggers()  # the distro sets up logging of its own
        return
    if len(processors) == 1 and not always_trace:  # nowhere to send spans: leave the no-op provider
        return
    provider = TracerProvider(resource=resource)
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    if len(processors) > 1:  # somewhere to send them: instrument the clients as the distro does
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
    """What the distro instruments, for a process exporting without it (Flask: `instrument_app`):
    httpx (the NLU, shop, QnA and SendBird clients), requests and urllib3 (the Azure SDKs' requests).
    Not the Azure SDKs' own spans (`settings.tracing_implementation`), as `configure` tells the distro:
    each SDK call is its HTTP request's CLIENT span alone."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for instrumentor in (HTTPXClientInstrumentor(), RequestsInstrumentor(), URLLib3Instrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
