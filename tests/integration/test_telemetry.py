"""Telemetry through the Azure Monitor distro, against the running stack: one turn's steps make one
trace, every call to Cosmos DB, Storage, the NLU service, the shop, QnA and SendBird is a dependency
span, what reaches the Application Insights ingestion endpoint (a local one, speaking its track
protocol) says the same, and the customer's words are in no span."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from devstack.stack import app_settings
from devstack.standins.appinsights import TrackEndpoint
from helpers import ROOT

MARKER = "zebracornish"  # a word of the customer's that must not leave in telemetry

SCRIPT = r"""
import json, os, sys
sys.path[:0] = [os.path.join(os.getcwd(), "function_app")]
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.telemetry import SERVICE
from switchboard import telemetry
memory = InMemorySpanExporter()
telemetry.configure(SERVICE, [SimpleSpanProcessor(memory)],
                    connection=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"], always_trace=True)

import branches
from core import steps, wiring
from switchboard.envelope import Envelope
from core.settings import Settings

deps = wiring.build(Settings.from_env())
marker = sys.argv[1]
turn = Envelope(turn_id=f"sendbird:tel-{os.getpid()}", channel="sendbird", conversation_id=f"tel-{os.getpid()}",
                user_id="u1", text=f"show me {marker} running shoes", channel_data={"channel_url": "tel-channel"})
steps.accept(turn, "sendbird_webhook")
steps.understand(turn, deps)
turn.nlu = {"intent": {"name": "product_search", "confidence": 0.99}, "out_of_scope": False,
            "entities": [{"entity": "product", "value": f"{marker} running shoes", "start": 8, "end": 30}]}
logic = branches.all_branches()
turn.branch = "product_search"
steps.run_branch(turn, deps, logic["product_search"])
faq = Envelope(turn_id=turn.turn_id + "-faq", channel="sendbird", conversation_id=turn.conversation_id,
               user_id="u1", text=f"what is your {marker} returns policy", channel_data=turn.channel_data,
               traceparent=turn.traceparent)
faq.nlu = {"intent": {"name": "faq", "confidence": 0.99}, "out_of_scope": False, "entities": []}
steps.run_branch(faq, deps, logic["faq"])
# the stack's own host takes the message `understand` queued and answers it too: deliver ours as
# a turn of its own, or the outbox would say it was already sent
turn.turn_id += "-ours"
steps.deliver(turn, deps)
# one Cosmos DB read and one queue send, each alone under a span of its own (a queue no function reads)
with trace.get_tracer("probe").start_as_current_span("probe.cosmos"):
    deps.turn_log.get(turn.conversation_id, turn.turn_id)
deps.queues.send("telemetry-probe", "probe")  # the first send creates the queue
with trace.get_tracer("probe").start_as_current_span("probe.queue"):
    deps.queues.send("telemetry-probe", "probe")
trace.get_tracer_provider().force_flush()
print(json.dumps([{"name": s.name, "kind": s.kind.name, "trace": format(s.context.trace_id, "032x"),
                   "id": format(s.context.span_id, "016x"),
                   "parent": format(s.parent.span_id, "016x") if s.parent else None,
                   "attributes": dict(s.attributes or {})} for s in memory.get_finished_spans()]))
"""


@pytest.fixture(scope="module")
def telemetry_run(stack, tmp_path_factory):
    received: list[dict] = []
    endpoint = TrackEndpoint(received.extend).start()  # Application Insights' track endpoint
    env = {**app_settings(stack.ports), "NLU_API_KEY": stack.nlu_api_key, "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path_factory.mktemp("home")),
           "APPLICATIONINSIGHTS_CONNECTION_STRING": endpoint.connection_string,
           "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # every span, not the distro's 5 a second:
           "OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage", "OTEL_TRACES_SAMPLER_ARG": "1.0",
           "TMPDIR": str(tmp_path_factory.mktemp("tmp"))}
    done = subprocess.run([sys.executable, "-c", SCRIPT, MARKER], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    endpoint.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), received


def _targets(spans):
    """The ports the process called, from its client spans' URL or server attributes."""
    ports = set()
    for span in spans:
        if span["kind"] != "CLIENT":
            continue
        a = span["attributes"]
        url = a.get("url.full") or a.get("http.url") or ""
        ports.add(str(a.get("server.port") or a.get("net.peer.port") or urlparse(url).port))
    return ports


def test_every_outside_call_is_a_dependency_span(telemetry_run, stack):
    spans, _ = telemetry_run
    ports = stack.ports
    called = _targets(spans)
    for service in ("nlu", "cosmos", "queue", "shop", "qna", "sendbird"):
        assert str(getattr(ports, service)) in called, (service, called)


def test_one_turn_is_one_trace_with_its_steps(telemetry_run, stack):
    spans, _ = telemetry_run
    steps = {s["name"]: s for s in spans if "switchboard.step" in s["attributes"]}
    assert {"sendbird_webhook", "understand", "intent_product_search", "intent_faq", "deliver"} <= set(steps)
    (trace_id,) = {s["trace"] for s in steps.values()}
    in_turn = [s for s in spans if s["trace"] == trace_id]  # not the start-up's reads, nor the catalogue's
    for service in ("nlu", "shop", "qna", "sendbird"):
        assert str(getattr(stack.ports, service)) in _targets(in_turn), service
    assert steps["sendbird_webhook"]["kind"] == "SERVER" and steps["understand"]["kind"] == "CONSUMER"
    assert steps["understand"]["attributes"]["switchboard.intent"]
    assert steps["deliver"]["attributes"]["switchboard.end_to_end_ms"] > 0


def test_the_customers_words_are_in_no_span_and_nothing_sent(telemetry_run):
    spans, received = telemetry_run
    assert MARKER not in json.dumps(spans)
    assert MARKER not in json.dumps(received)


def test_application_insights_receives_requests_and_dependencies(telemetry_run, stack):
    _, received = telemetry_run
    kinds = {item["data"]["baseType"] for item in received}
    assert {"RequestData", "RemoteDependencyData"} <= kinds
    targets = " ".join(item["data"]["baseData"].get("target", "") for item in received
                       if item["data"]["baseType"] == "RemoteDependencyData")
    assert f"127.0.0.1:{stack.ports.shop}" in targets and f"127.0.0.1:{stack.ports.sendbird}" in targets
    names = {item["data"]["baseData"]["name"] for item in received if item["data"]["baseType"] == "RequestData"}
    assert {"understand", "deliver"} <= names


def test_the_workbooks_queries_match_what_application_insights_receives(telemetry_run):
    """infra/workbook.json reads customDimensions of the `requests` rows: each one it reads is in the
    rows the exporter sends, and booleans arrive as Python writes them ("True"), which tobool() reads
    and a comparison with "true" would not."""
    _, received = telemetry_run
    rows = {}
    for item in received:
        if item["data"]["baseType"] == "RequestData":
            rows.setdefault(item["data"]["baseData"]["name"], []).append(item["data"]["baseData"]["properties"])
    workbook = (ROOT / "infra" / "workbook.json").read_text()
    keys = set(re.findall(r'customDimensions\[\\"(switchboard\.[a-z_]+)\\"\]', workbook))
    assert {"switchboard.intent", "switchboard.out_of_scope", "switchboard.end_to_end_ms"} <= keys
    for key in keys:
        assert any(key in props for props_list in rows.values() for props in props_list), key
    understood = rows["understand"][0]
    assert understood["switchboard.out_of_scope"] in ("True", "False")
    assert '== \\"true\\"' not in workbook and "tobool(customDimensions" in workbook


def _under(spans, name):
    """The spans under the one named `name` (its children, theirs, and so on)."""
    (root,) = [s["id"] for s in spans if s["name"] == name]
    ids, found = {root}, []
    for _ in spans:
        more = [s for s in spans if s["parent"] in ids and s["id"] not in ids]
        if not more:
            break
        ids |= {s["id"] for s in more}
        found += more
    return found


@pytest.mark.parametrize(("probe", "service"), [("probe.cosmos", "cosmos"), ("probe.queue", "queue")])
def test_one_azure_sdk_call_is_one_dependency_span(telemetry_run, stack, probe, service):
    """A Cosmos DB read, a queue send: one CLIENT span each, the HTTP request's, with the port (the
    SDKs' own method spans, `ContainerProxy.read_item` and the like, are off: docs/cost.md)."""
    spans, _ = telemetry_run
    under = _under(spans, probe)
    assert [s["kind"] for s in under] == ["CLIENT"], [(s["name"], s["kind"]) for s in under]
    assert _targets(under) == {str(getattr(stack.ports, service))}
