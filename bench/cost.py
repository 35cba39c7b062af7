"""What one chat turn does, counted on the real local stack, for pricing it on Azure (docs/cost.md).

The stack is the one `make run` starts (Azurite, the Cosmos DB stand-in, the NLU service, the SaaS
stand-ins, the local functions host), with a counting proxy (bench/counting_proxy.py) in front of
everything the function app calls: Azurite's queue and blob ports, the Cosmos DB stand-in, the NLU
service, and the SendBird, shop and QnA stand-ins. Signed SendBird webhooks carry a mix of turns
(bench/turns.py TEXTS: greetings, order status, product search, FAQ, goodbye) at a gentle pace; every
reply is awaited. Then, per turn, overall and by intent branch:

- queue transactions by operation (put, get, delete, update, peek; Class 1 / Class 2), counting the
  host's empty polls apart (their number depends on the polling interval, not on the turns);
- blob transactions;
- Functions executions (the webhook's HTTP request, and every queue message the host took and
  deleted) and their wall time: the webhook's from the load generator, a queue function's from
  the proxy's view of the host (the message received -> the message deleted);
- Cosmos DB operations by kind and container, the documents' sizes, and request units estimated
  from the sizes (`estimated_ru`: the stand-in reports no charge);
- NLU, SendBird, shop and QnA calls;
- Application Insights items and bytes, measured: the function app exports with the Azure Monitor
  OpenTelemetry distro (every span, no sampling) to a local ingestion endpoint (`Ingestion`), which
  records each envelope's type, name and JSON size; an envelope counts in the phase its time falls
  in. Left out: what comes on a timer whatever the traffic (the distro's metrics, `customMetrics`;
  its configuration polling) and the local host's own log lines; statsbeat is off. Modelled: the
  Functions host's own two `traces` lines per execution ("Executing ..."/"Executed ...": the local
  host is not Microsoft's), each sized as the exporter's envelope of such a line (`telemetry_sizes`).

    .venv/bin/python bench/cost.py [--turns 200] [--rate 2] [--conversations 20] [--history 0] [--name cost]
"""
from __future__ import annotations

import argparse
import bisect
import http.client
import json
import math
import re
import shutil
import signal
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "function_app")]

from bench.common import VAR, recorded, save  # noqa: E402
from bench.cost_model import monthly  # noqa: E402
from bench.counting_proxy import (  # noqa: E402
    QUEUE_CLASS_1,
    CountingProxy,
    Log,
    Record,
    blob_operation,
    cosmos_operation,
    queue_operation,
)
from bench.turns import TEXTS  # noqa: E402
from devstack.stack import Ports, Stack, storage_connection  # noqa: E402
from devstack.standins.appinsights import TrackEndpoint  # noqa: E402
from livestack import message_event, sign  # noqa: E402

INSTANCE_GB = 2048 / 1024  # infra/main.bicep functionInstanceMemoryMB
SERVICES = ("queue", "blob", "cosmos", "nlu", "shop", "qna", "sendbird")

# Request units by document size, Microsoft's table ("Understand request unit consumption",
# learn.microsoft.com/azure/cosmos-db/understand-request-unit-consumption; session consistency,
# default indexing): KB -> (point read, write). Between the rows: linear interpolation.
RU_TABLE = [(1, 1.00, 4.95), (2, 1.04, 6.29), (4, 1.14, 6.67), (8, 1.33, 7.04), (16, 1.67, 9.52),
            (32, 2.19, 11.23), (64, 4.76, 22.67), (128, 9.95, 48.19), (256, 20.28, 98.29)]
QUERY_BASE_RU = 2.5  # assumed: a single-partition query's fixed cost, plus a point read per item returned


def ru_for(kb: float, column: int) -> float:
    sizes = [row[0] for row in RU_TABLE]
    if kb <= sizes[0]:
        return RU_TABLE[0][column]
    i = min(bisect.bisect_left(sizes, kb), len(sizes) - 1)
    (k0, *a), (k1, *b) = RU_TABLE[i - 1], RU_TABLE[i]
    return a[column - 1] + (b[column - 1] - a[column - 1]) * (kb - k0) / (k1 - k0)


def estimated_ru(operation: str, status: int, request_bytes: int, response_bytes: int, items: int) -> float:
    """Request units of one Cosmos DB operation, from the sizes (the model above)."""
    if operation == "point read":
        return 1.0 if status == 404 else ru_for(response_bytes / 1024, 1)
    if operation in ("create", "upsert", "replace", "patch"):
        return ru_for(max(request_bytes, response_bytes) / 1024, 2)
    if operation == "delete":
        return ru_for(1, 2)
    if operation == "query":
        return QUERY_BASE_RU + items * ru_for(response_bytes / max(items, 1) / 1024, 1)
    return 0.0  # metadata: the account, database and container reads at start-up


# ---- the load ---------------------------------------------------------------------------------------
class Turns:
    """Signed webhooks paced at `rate` per second, one text after another of TEXTS over `conversations`
    channels; remembers each turn's text and how long the webhook took to answer."""

    def __init__(self, stack: Stack, tag: str, conversations: int, first: int = 0, only: str | None = None) -> None:
        self.port, self.token = stack.ports.functions, stack.settings["SENDBIRD_API_TOKEN"]
        self.tag, self.conversations, self.first, self.only = tag, conversations, first, only
        self.sent = 0
        self.texts: dict[str, str] = {}  # turn id -> text
        self.ack_ms: list[float] = []
        self.failed = 0
        self._local = threading.local()

    def send(self, n: int) -> None:
        text = self.only or TEXTS[n % len(TEXTS)]
        message_id = f"{self.tag}-{n}"
        event = message_event(text, f"cost_{self.tag}_{n % self.conversations}", message_id,
                              sender=f"customer-{n % self.conversations}")
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "x-sendbird-signature": sign(body, self.token)}
        if not hasattr(self._local, "connection"):
            self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for _ in range(5):
            started = time.perf_counter()
            try:
                self._local.connection.request("POST", "/api/channels/sendbird/webhook", body=body, headers=headers)
                response = self._local.connection.getresponse()
                response.read()
                if response.status == 200:
                    self.ack_ms.append((time.perf_counter() - started) * 1000)
                    self.texts[f"sendbird:{message_id}"] = text
                    return
            except (OSError, http.client.HTTPException):
                self._local.connection.close()
            time.sleep(0.5)
        self.failed += 1

    def run(self, count: int, rate: float) -> None:
        # One conversation's turns must not overtake each other (a customer waits for the answer), so
        # the pace is per turn; with `conversations` channels a channel gets a turn every conversations/rate s.
        with ThreadPoolExecutor(8) as pool:
            start = time.perf_counter()
            for n in range(count):
                time.sleep(max(0.0, start + n / rate - time.perf_counter()))
                pool.submit(self.send, self.first + n)
        self.sent += count

    def wait_for_replies(self, sendbird_port: int, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", sendbird_port, timeout=10)
            connection.request("GET", "/__standin/sent")
            sent = json.loads(connection.getresponse().read())["messages"]
            answered = {m["dedup_id"] for m in sent if m["dedup_id"] in self.texts}
            if len(answered) == len(self.texts) or time.monotonic() > deadline:
                return len(answered)
            time.sleep(0.5)


# ---- from the records to the figures -----------------------------------------------------------------
def queue_messages(record: Record) -> list[str]:
    """The message ids a get-messages answer carried."""
    return re.findall(r"<MessageId>(.*?)</MessageId>", record.response_body.decode("utf-8", "replace"))


def executions(records: list[Record]) -> list[dict]:
    """Each queue function execution the host ran: its queue, and the wall time from the answer that
    handed it the message to the request that deleted it."""
    received: dict[str, tuple[str, float]] = {}
    done = []
    for r in sorted(records, key=lambda r: r.started):
        if r.service != "queue":
            continue
        op = queue_operation(r)
        if op == "get messages":
            queue = r.path.strip("/").split("/")[1]
            for mid in queue_messages(r):
                received[mid] = (queue, r.ended)
        elif op == "delete message":
            mid = r.path.rstrip("/").split("/")[-1]
            if mid in received:
                q, at = received.pop(mid)
                done.append({"queue": q, "ms": (r.ended - at) * 1000})
    return done


def billable_seconds(ms: float) -> float:
    """Flex Consumption's rule for one activity period: at least 1,000 ms, then rounded up to 100 ms."""
    return max(1.0, math.ceil(ms / 100) / 10)


def tally(records: list[Record], ack_ms: list[float], envelopes: list[dict] = ()) -> dict:
    """Everything one phase did, in totals; `envelopes`: what reached Application Insights (`Ingestion`)."""
    t: dict = {"queue": Counter(), "blob": Counter(), "cosmos": Counter(), "ru": Counter(), "calls": Counter(),
               "ai_items": Counter(), "ai_bytes": Counter(),
               "cosmos_request_bytes": 0, "cosmos_response_bytes": 0, "dependencies": 0,
               "documents": defaultdict(list), "branches": Counter(), "function_body_ms": Counter()}
    for r in records:
        if r.service == "queue":
            op = queue_operation(r)
            if op == "get messages" and not queue_messages(r):
                op = "get messages (empty)"
            t["queue"][op] += 1
            if r.headers.get("user-agent", "").startswith("azsdk"):
                t["dependencies"] += 1  # the function code's own send (the host's binding writes are not)
        elif r.service == "blob":
            t["blob"][blob_operation(r)] += 1
        elif r.service == "cosmos":
            op, container = cosmos_operation(r)
            if op == "metadata":
                t["cosmos"]["metadata"] += 1
                continue
            items = 0
            if op == "query":
                try:
                    items = len(json.loads(r.response_body).get("Documents", []))
                except ValueError:
                    items = 0
            key = f"{container} {op}"
            t["cosmos"][key] += 1
            t["ru"][key] += estimated_ru(op, r.status, r.request_bytes, r.response_bytes, items)
            t["cosmos_request_bytes"] += r.request_bytes
            t["cosmos_response_bytes"] += r.response_bytes
            t["dependencies"] += 1
            if op in ("create", "upsert", "replace", "patch"):
                t["documents"][container].append(r.request_bytes)
                if container == "turns":
                    doc = json.loads(r.request_body)
                    t["branches"][doc.get("branch") or "none"] += 1
                    for step, ms in (doc.get("timings") or {}).items():
                        if step != "end_to_end":
                            t["function_body_ms"][step] += ms
        else:
            t["calls"][r.service] += 1
            t["dependencies"] += 1
    for envelope in envelopes:
        t["ai_items"][envelope["table"]] += 1
        t["ai_bytes"][envelope["table"]] += envelope["bytes"]
    t["executions"] = defaultdict(list)
    for run in executions(records):
        t["executions"][run["queue"]].append(run["ms"])
    t["executions"]["http: sendbird webhook"] = list(ack_ms)
    return t


def per_turn(t: dict, n: int) -> dict:
    """A phase's (or the whole run's) totals as per-turn averages."""
    def avg(counter: Counter) -> dict:
        return {k: round(v / n, 3) for k, v in sorted(counter.items())}

    queue = avg(t["queue"])
    productive = {op: v for op, v in queue.items() if op != "get messages (empty)"}
    runs = t["executions"]
    all_ms = [ms for v in runs.values() for ms in v]
    return {
        "turns": n, "branches": dict(t["branches"]),
        "queue": queue,
        "queue_class_1": round(sum(v for op, v in productive.items() if op in QUEUE_CLASS_1), 3),
        "queue_class_2": round(sum(v for op, v in productive.items() if op not in QUEUE_CLASS_1), 3),
        "blob": avg(t["blob"]),
        "cosmos": avg(t["cosmos"]),
        "cosmos_operations": round(sum(v for k, v in t["cosmos"].items() if k != "metadata") / n, 3),
        "estimated_ru_by_operation": {k: round(v / n, 2) for k, v in sorted(t["ru"].items())},
        "estimated_ru": round(sum(t["ru"].values()) / n, 2),
        "cosmos_request_bytes": round(t["cosmos_request_bytes"] / n),
        "cosmos_response_bytes": round(t["cosmos_response_bytes"] / n),
        "documents_bytes": {c: {"writes": len(v), "mean": round(statistics.fmean(v)), "max": max(v)}
                            for c, v in sorted(t["documents"].items()) if v},
        "calls": avg(t["calls"]),
        "dependencies": round(t["dependencies"] / n, 3),
        "executions": {q: round(len(v) / n, 3) for q, v in sorted(runs.items())},
        "executions_total": round(len(all_ms) / n, 3),
        "execution_ms_mean": {q: round(statistics.fmean(v), 1) for q, v in sorted(runs.items()) if v},
        "function_body_ms": {s: round(ms / n, 1) for s, ms in sorted(t["function_body_ms"].items())},
        # Flex Consumption bills an instance's activity periods (>= 1 s, then 100 ms steps) at its memory
        "gb_s_isolated": round(sum(billable_seconds(ms) for ms in all_ms) * INSTANCE_GB / n, 3),
        "gb_s_busy": round(sum(all_ms) / 1000 * INSTANCE_GB / n, 4),
        # measured: what the function app's exporter sent, by table (`Ingestion`)
        "app_insights_items": avg(t["ai_items"]),
        "app_insights_bytes": {k: round(v / n) for k, v in sorted(t["ai_bytes"].items())},
    }


def merged(tallies: list[dict]) -> dict:
    total: dict = {}
    for t in tallies:
        for k, v in t.items():
            if isinstance(v, Counter):
                total.setdefault(k, Counter()).update(v)
            elif isinstance(v, defaultdict):
                target = total.setdefault(k, defaultdict(list))
                for kk, vv in v.items():
                    target[kk].extend(vv)
            else:
                total[k] = total.get(k, 0) + v
    return total


# ---- Application Insights: a local ingestion endpoint, and the modelled host lines -----------------------
TABLES = {"RequestData": "requests", "RemoteDependencyData": "dependencies", "MessageData": "traces",
          "ExceptionData": "exceptions", "EventData": "customEvents", "MetricData": "customMetrics"}
# Left out of the per-turn figures, by why: what comes on a timer per process, whatever the traffic
# (the distro's standard metrics, a batch a minute; its polling of settings.sdk.monitor.azure.com
# for configuration changes, a dependency, and offline here an exception too), and the local host's
# own log lines (logger `functions_host...`: Azure's host logs its own, modelled below).
METRICS = "the distro's standard metrics, a batch a minute"
CONFIGURATION = "the distro's configuration polling (settings.sdk.monitor.azure.com)"
LOCAL_HOST = "the local functions host's own log lines"
HOST_TRACES_PER_EXECUTION = 2  # the Functions host's "Executing ..." and "Executed ..." lines (modelled)


def envelope_time(item: dict) -> float:
    """An envelope's time (a span's start, a log line's), as seconds since the epoch."""
    return datetime.fromisoformat(item["time"].replace("Z", "+00:00")).timestamp()


def excluded(table: str, base: dict) -> str | None:
    """Why an envelope is left out of the per-turn figures, or None (see METRICS ...)."""
    if table == "customMetrics":
        return METRICS
    if "AzMonSDKDynamicConfigurationChanges" in json.dumps(base):
        return CONFIGURATION
    if table == "traces" and base.get("properties", {}).get("logger_name", "").startswith("functions_host"):
        return LOCAL_HOST
    return None


class Ingestion:
    """What reaches a local Application Insights track endpoint (devstack.standins.appinsights), on a
    free port: each envelope's table, name, time and JSON size (compact, as the exporter writes it)."""

    def __init__(self) -> None:
        self.envelopes: list[dict] = []
        self.lock = threading.Lock()
        self.endpoint = TrackEndpoint(self.take)

    def take(self, items: list[dict]) -> None:
        recorded_items = []
        for item in items:
            data = item.get("data", {})
            base_type = data.get("baseType", "")
            base = data.get("baseData", {})
            table = TABLES.get(base_type, base_type)
            recorded_items.append({"table": table, "time": envelope_time(item), "excluded": excluded(table, base),
                                   "name": base.get("name") or base.get("message", "")[:60],
                                   "bytes": len(json.dumps(item, separators=(",", ":")))})
        with self.lock:
            self.envelopes.extend(recorded_items)

    def between(self, began: float, ended: float) -> list[dict]:
        with self.lock:
            return [e for e in self.envelopes if began <= e["time"] < ended]

    def settings(self) -> dict[str, str]:
        """The function app's settings for exporting here: every span (not the distro's default of
        5 traces a second), no statsbeat, and batches every half second, so a phase's spans are all
        sent seconds after it ends (the worker processes are killed with the host, unflushed)."""
        return {"APPLICATIONINSIGHTS_CONNECTION_STRING": self.endpoint.connection_string,
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage", "OTEL_TRACES_SAMPLER_ARG": "1.0",
                "OTEL_BSP_SCHEDULE_DELAY": "500", "OTEL_BLRP_SCHEDULE_DELAY": "500"}

    def start(self) -> Ingestion:
        self.endpoint.start()
        return self

    def stop(self) -> None:
        self.endpoint.stop()


def telemetry_sizes() -> dict[str, int]:
    """Bytes of one item of each kind as the Azure Monitor OpenTelemetry exporter serialises it (JSON),
    built from a representative span or log record: a log line of the Functions host (`traces`: the
    modelled part), and, to compare with the measured ones, a consumer span of a step (`requests`)
    and a client span of an HTTP call (`dependencies`)."""
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
    from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    resource = Resource.create({"service.name": "switchboard-functions", "cloud.role": "func-abc123",
                                "service.instance.id": "a1b2c3d4e5f6-0"})
    spans = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("switchboard")
    turn = "sendbird:4511937720"
    with tracer.start_as_current_span("intent_order_status", kind=SpanKind.CONSUMER) as step:
        step.set_attributes({"switchboard.step": "intent_order_status", "switchboard.turn_id": turn,
                             "switchboard.conversation_id": "sendbird_channel_4f1c2a9e-0b7d-4b5e",
                             "switchboard.channel": "sendbird", "messaging.system": "azure_queue",
                             "messaging.destination.name": "intent-order-status"})
        with tracer.start_as_current_span("PUT /dbs/switchboard/colls/conversations/docs/x",
                                          kind=SpanKind.CLIENT) as call:
            call.set_attributes({"http.request.method": "PUT", "http.response.status_code": 200,
                                 "url.full": "https://cosmos-abc123.documents.azure.com:443/dbs/switchboard/colls/"
                                             "conversations/docs/sendbird_channel_4f1c2a9e-0b7d-4b5e",
                                 "server.address": "cosmos-abc123.documents.azure.com", "az.namespace":
                                 "Microsoft.DocumentDB", "db.system": "cosmosdb", "db.name": "switchboard",
                                 "db.operation": "ReplaceItem"})
    request_span = next(s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER)
    dependency_span = next(s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT)

    logs = InMemoryLogRecordExporter()
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    log_provider.get_logger("Function.understand").emit(LogRecord(
        timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, severity_text="Information",
        body="Executed 'Functions.understand' (Succeeded, Id=6f1f0c5e-8d53-4c2e-9a0e-2b1f9d7c3a41, Duration=38ms)",
        attributes={"Category": "Function.understand", "InvocationId": "6f1f0c5e-8d53-4c2e-9a0e-2b1f9d7c3a41",
                    "ProcessId": 1234}))
    log_record = logs.get_finished_logs()[0]

    def size(item) -> int:
        return len(json.dumps(item.as_dict(), separators=(",", ":")))

    return {"request": size(_convert_span_to_envelope(request_span)),
            "dependency": size(_convert_span_to_envelope(dependency_span)),
            "trace": size(_convert_log_to_envelope(log_record))}


# ---- the run --------------------------------------------------------------------------------------------
def start(stack: Stack) -> None:
    """The services the turns need (not the admin site, not the training worker); the demo catalogue
    is seeded as `make run` seeds it."""
    stack.check_ports()
    try:
        for name in ("azurite", "cosmos", "nlu", "standins"):
            stack.start(name)
        stack.seed_demo()
        stack.start("functions")
    except BaseException:
        stack.stop_all()
        raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200, help="turns counted, spread evenly over the texts")
    parser.add_argument("--rate", type=float, default=2.0, help="turns per second")
    parser.add_argument("--conversations", type=int, default=20, help="channels the turns are spread over")
    parser.add_argument("--history", type=int, default=0,
                        help="turns each conversation has had before the counting starts (not counted)")
    parser.add_argument("--name", default="cost", help="the result's name: bench/results/<name>.json")
    parser.add_argument("--price", action="store_true",
                        help="no run: price bench/results/<name>.json again (bench/cost_model.py's prices)")
    args = parser.parse_args()
    if args.price:
        result = recorded(args.name)
        if not result:
            parser.error(f"bench/results/{args.name}.json does not exist: run the benchmark first")
        result["monthly"] = priced(result)
        print(json.dumps(result["monthly"], indent=1))
        save(args.name, result)
        return

    ports = Ports.free()
    log = Log()
    ingestion = Ingestion().start()
    proxies = {s: CountingProxy(s, getattr(ports, s), log).start() for s in SERVICES}
    via = {s: p.port for s, p in proxies.items()}
    env = {"AzureWebJobsStorage": storage_connection(ports, via["blob"], via["queue"]),
           "COSMOS_ENDPOINT": f"http://127.0.0.1:{via['cosmos']}", "NLU_URL": f"http://127.0.0.1:{via['nlu']}",
           "SHOP_API_URL": f"http://127.0.0.1:{via['shop']}", "QNA_ENDPOINT": f"http://127.0.0.1:{via['qna']}",
           "SENDBIRD_API_URL": f"http://127.0.0.1:{via['sendbird']}", **ingestion.settings()}
    var = VAR / "cost"
    shutil.rmtree(var / "cosmos", ignore_errors=True)  # every run starts with no conversations
    stack = Stack(var, ports, functions_env=env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("starting the stack ...", flush=True)
    started = time.monotonic()
    start(stack)
    tag = format(int(time.time()), "x")
    per_text = max(1, args.turns // len(TEXTS))
    phases: dict[str, dict] = {}
    windows: dict[str, tuple[float, float, list[Record], list[float]]] = {}
    accepted = answered = failed = 0
    try:
        warm = Turns(stack, tag, args.conversations)  # every branch and connection once, and the history
        warm.run(len(TEXTS) + args.history * args.conversations, max(args.rate, 5.0))
        warm.wait_for_replies(ports.sendbird)
        print(f"stack up and warm in {time.monotonic() - started:.0f} s; {per_text} turns of each of "
              f"{len(TEXTS)} texts at {args.rate:g}/s ...", flush=True)
        began = time.monotonic()
        for i, text in enumerate(TEXTS):
            time.sleep(2)
            log.take()
            log.counting = True
            window_began = time.time()
            turns = Turns(stack, tag, args.conversations, first=warm.sent + i * per_text, only=text)
            turns.run(per_text, args.rate)
            answered += turns.wait_for_replies(ports.sendbird)
            time.sleep(3)  # the last deliveries' turn log writes and deletes
            log.counting = False
            windows[text] = (window_began, time.time(), log.take(), turns.ack_ms)
            accepted, failed = accepted + len(turns.texts), failed + turns.failed
            print(f"  {text!r}: {len(turns.texts)} turns", flush=True)
        seconds = time.monotonic() - began
        time.sleep(3)  # the exporters' last batches (every 0.5 s), before the host's workers are killed
    finally:
        stack.stop_all()
        for p in proxies.values():
            p.stop()
        ingestion.stop()
    for text, (window_began, window_ended, records, ack_ms) in windows.items():
        phases[text] = tally(records, ack_ms, [e for e in ingestion.between(window_began, window_ended)
                                               if not e["excluded"]])
    total = merged(list(phases.values()))
    n = per_text * len(TEXTS)
    overall = per_turn(total, n)
    by_branch: dict[str, list[dict]] = defaultdict(list)
    for t in phases.values():
        by_branch[t["branches"].most_common(1)[0][0] if t["branches"] else "none"].append(t)
    sizes = telemetry_sizes()
    measured_items, measured_bytes = overall["app_insights_items"], overall["app_insights_bytes"]
    host_traces = HOST_TRACES_PER_EXECUTION * overall["executions_total"]
    items = {table: round(measured_items.get(table, 0) + (host_traces if table == "traces" else 0), 3)
             for table in sorted({*measured_items, "traces"})}
    left_out = Counter(f"{e['table']}: {e['excluded']}" for e in ingestion.envelopes if e["excluded"])
    result = {"command": " ".join(["bench/cost.py", *sys.argv[1:]]), "turns": n, "accepted": accepted,
              "answered": answered, "webhook_failures": failed, "rate": args.rate,
              "conversations": args.conversations, "history": args.history, "seconds": round(seconds, 1),
              "instance_memory_gb": INSTANCE_GB, "overall": overall,
              "by_branch": {b: per_turn(merged(ts), per_text * len(ts)) for b, ts in sorted(by_branch.items())},
              "by_text": {text: per_turn(t, per_text) for text, t in phases.items()},
              "app_insights": {
                  "measured": {"items_per_turn": measured_items, "bytes_per_turn": measured_bytes,
                               "envelope_bytes_mean": {t: round(measured_bytes[t] / measured_items[t])
                                                       for t in measured_items if measured_items[t]},
                               "left_out_items_whole_run": dict(sorted(left_out.items()))},
                  "modelled": {"host_traces_per_turn": host_traces, "host_trace_envelope_bytes": sizes["trace"],
                               "host_traces_bytes_per_turn": round(host_traces * sizes["trace"])},
                  "modelled_envelope_bytes": sizes,  # the converters' envelopes, to compare with the measured
                  "items_per_turn": items,
                  "bytes_per_turn": round(sum(measured_bytes.values()) + host_traces * sizes["trace"])}}
    result["monthly"] = priced(result)
    print(json.dumps({k: v for k, v in result.items() if k != "by_text"}, indent=1))
    save(args.name, result)


def priced(result: dict) -> dict:
    """The monthly cost at 10 thousand, 1 million and 100 million turns a month (bench/cost_model.py)."""
    return {f"{turns:,}": monthly(result["overall"], turns, result["app_insights"]["bytes_per_turn"])
            for turns in (10_000, 1_000_000, 100_000_000)}


if __name__ == "__main__":
    main()
