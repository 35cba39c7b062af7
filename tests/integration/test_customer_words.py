"""The customer's words in no log: whole turns through the app's own functions (the SendBird webhook and
the web chat, a product search, an FAQ, an order, an outside service failing), against the running
stack's services, with logging at DEBUG and at INFO (the Functions host forwards every record the root
logger passes; host.json keeps Information and up). Every log record, exported span and span event
is captured; none may carry what the customer typed, an entity's value, or an outside service's
answer. The turn log keeps a failure's status and reason, never the body.

In a subprocess: logging and the tracer provider are once per process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack.stack import app_settings
from helpers import ROOT

WORDS = "zebracornish"  # the customer's words: a product nobody sells
ORDER = "Q-7731"  # an entity value: the order number the customer gives
BODY = "quokkaflamingo"  # what a failing outside service says in its answer's body

SCRIPT = r"""
import dataclasses, json, logging, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path[:0] = [os.path.join(os.getcwd(), "function_app"), os.path.join(os.getcwd(), "tests")]
level, words, order, body_word = sys.argv[1:5]

records = []
class Capture(logging.Handler):
    def emit(self, record):
        records.append(self.format(record))  # the message, its arguments and any traceback
capture = Capture()
capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
logging.getLogger().addHandler(capture)
logging.getLogger().setLevel(level)

asked = []
class FailingShop(BaseHTTPRequestHandler):
    # answers every search 503 and every order 400, quoting what it was asked, as real services may
    def do_GET(self):
        asked.append(self.path)
        answer = json.dumps({"error": f"{body_word}: cannot serve {self.path}"}).encode()
        self.send_response(400 if self.path.startswith("/orders/") else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *a): pass
failing = ThreadingHTTPServer(("127.0.0.1", 0), FailingShop)
threading.Thread(target=failing.serve_forever, daemon=True).start()

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard import telemetry
memory = InMemorySpanExporter()
telemetry.configure("switchboard-functions", [SimpleSpanProcessor(memory)], always_trace=True)

import azure.functions as func
import function_app  # the composition root, as the Functions host loads it: settings, telemetry, Blueprints
from core import wiring
from core.clients import ShopClient
from core.memory import MemoryQueues
from core.queues import MAX_DEQUEUE_COUNT, queue_for
from core.sendbird import signature
from core.settings import get_settings
from livestack import message_event
from pipeline import Pipeline
from switchboard.errors import TransientError
from switchboard.retry import RetryPolicy

settings = get_settings()
deps = dataclasses.replace(wiring.build(settings), queues=MemoryQueues())  # the turn's queues in-process
pipeline = Pipeline(deps)
run = str(os.getpid())

def request(method, url, body=None, headers=None, **route):
    data = json.dumps(body).encode() if body is not None else b""
    return func.HttpRequest(method, url, headers=headers or {}, body=data, route_params=route)

def sendbird(text, message_id):
    event = json.dumps(message_event(text, f"logs-{run}", f"{run}{message_id}")).encode()
    req = func.HttpRequest("POST", "/api/channels/sendbird/webhook", body=event,
                           headers={"x-sendbird-signature": signature(event, settings.sendbird_api_token)})
    assert pipeline.http("sendbird_webhook", req).status_code == 200
    pipeline.drain()

def webchat_conversation():
    opened = pipeline.http("webchat_conversations", request("POST", "/api/channels/webchat/conversations"))
    opened = json.loads(opened.get_body())
    return opened["conversation_id"], {"Authorization": f"Bearer {opened['token']}"}

def webchat(chat, text):
    body = {"conversation_id": chat[0], "text": text, "message_id": f"m{time.time_ns()}"}
    answer = pipeline.http("webchat_messages", request("POST", "/api/channels/webchat/messages", body, chat[1]))
    assert answer.status_code == 202, answer.get_body()
    pipeline.drain()

sendbird(f"what is your returns policy for {words}", 1)  # an FAQ (question answering)
sendbird(f"show me {words} running shoes", 2)  # a product search
chat = webchat_conversation()
webchat(chat, f"show me {words} running shoes")
webchat(chat, f"where is my order {order}")  # an order the shop does not know
replies = json.loads(pipeline.http("webchat_replies", request(
    "GET", f"/api/channels/webchat/conversations/{chat[0]}/messages", headers=chat[1],
    conversation_id=chat[0])).get_body())["messages"]

# the shop fails: a search (503: retried as the host would, until the customer is told) and an order (400)
deps.services = dataclasses.replace(deps.services, shop=ShopClient(
    f"http://127.0.0.1:{failing.server_port}", "k", policy=RetryPolicy(attempts=2, backoff=0.01)))
failing_chat = webchat_conversation()
try:
    webchat(failing_chat, f"any {words} jeans in stock?")
except TransientError:
    pass
for attempt in range(2, MAX_DEQUEUE_COUNT + 1):
    message = deps.queues.sent[queue_for("product_search")].pop()
    try:
        pipeline.run(queue_for("product_search"), message, dequeue_count=attempt)
        break
    except TransientError:
        deps.queues.sent[queue_for("product_search")].append(message)
pipeline.drain()
webchat(failing_chat, f"where is my order {order}")
trace.get_tracer_provider().force_flush()

turns = deps.turn_log.recent(50)
spans = [{"name": s.name, "attributes": dict(s.attributes or {}),
          "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in s.events],
          "status": s.status.description or ""} for s in memory.get_finished_spans()]
print(json.dumps({"records": records, "spans": spans, "replies": [m["text"] for m in replies], "asked": asked,
                  "turns": [t for t in turns if t["conversation_id"] in (chat[0], failing_chat[0], f"logs-{run}")]}))
"""


@pytest.fixture(scope="module", params=["DEBUG", "INFO"])
def captured(request, stack):
    env = {**app_settings(stack.ports), "NLU_API_KEY": stack.nlu_api_key, "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, request.param, WORDS, ORDER, BODY], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_turns_ran_and_were_logged(captured):
    """Not vacuous: the turns were answered, failed as arranged, and the logs say things."""
    replies = captured["replies"]
    assert any("Here's what I found" in r or "found nothing" in r for r in replies), replies
    statuses = {t["status"] for t in captured["turns"]}
    assert "delivered" in statuses and "failed" in statuses, statuses
    assert len(captured["records"]) > 5 and len(captured["spans"]) > 20
    assert any(WORDS in path for path in captured["asked"]) and any(ORDER in p for p in captured["asked"])


@pytest.mark.parametrize("secret", [WORDS, ORDER, BODY])
def test_no_log_record_span_or_event_carries_the_customers_words(captured, secret):
    for record in captured["records"]:
        assert secret.lower() not in record.lower(), record
    for span in captured["spans"]:
        assert secret.lower() not in json.dumps(span).lower(), span


def test_the_turn_log_keeps_a_failures_status_and_reason_not_the_body(captured):
    failed = [t for t in captured["turns"] if t["status"] == "failed"]
    assert failed and all(t["error"] for t in failed)
    assert any("the shop API answered 400 Bad Request" in t["error"] for t in failed), failed
    assert any("503 Service Unavailable" in t["error"] for t in failed), failed
    for turn in captured["turns"]:
        assert BODY not in (turn["error"] or "") and (turn["error"] or "").count(ORDER) == 0, turn
