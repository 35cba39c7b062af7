"""A span per step, one trace per turn (the `traceparent` travels in the envelope).

`switchboard.telemetry.configure` sets up where spans go (function_app.py calls it at start-up):
with APPLICATIONINSIGHTS_CONNECTION_STRING set, the Azure Monitor OpenTelemetry distro exports them
(and instruments the HTTP clients and the Azure SDKs: a dependency span for every Cosmos DB,
Storage, NLU, shop, QnA and SendBird call). With nothing set, spans are still made (log lines carry
trace ids) and dropped.

Customer text is never an attribute: the envelope's text and entities are not recorded.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.envelope import Envelope, now_ms

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("switchboard")
SERVICE = "switchboard-functions"


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
