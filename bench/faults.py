"""The fault campaign: the chat-turn load at a steady rate (signed SendBird webhooks, retried as
SendBird retries one that is not answered 200, and web chat messages from 20 customers at 2/s,
resent as the page resends) on the local stack with the fault proxy in front of
every backing service, and one phase per fault, each with a quiet period before and after.

For each phase: turns sent, answered exactly once, lost, duplicated (seen by the customer; sends the
SendBird API absorbed by dedup_id are counted apart), parked in poison (then re-queued, as the admin
site's Re-queue does, and counted answered or lost); end-to-end p50 / p99 during the fault and after
it; and the time from the fault's end until every turn is back within the 500 ms target.

    .venv/bin/python bench/faults.py [--rate 20] [--quick]   (--quick: 3 phases, shorter)
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "function_app")]

from admin_site.queues import StoragePoisonQueues  # noqa: E402
from bench.common import VAR, ensure_model, save  # noqa: E402
from bench.turns import TEXTS, Load, pct  # noqa: E402
from devstack.stack import DEMO_DATA, Ports, Stack, storage_connection  # noqa: E402
from livestack import Live  # noqa: E402

TARGET_MS = 500.0  # the end-to-end p99 target at 20 turns/s
AFTER_S = 40.0  # the quiet period after a fault: time to drain the backlog and come back within target
WEB_RATE = 2.0  # web chat messages per second beside the webhooks' rate


def proxy(name: str | tuple[str, ...], fault: str, **options):
    names = (name,) if isinstance(name, str) else name

    def start(stack: Stack) -> None:
        for n in names:
            stack.fault(n, fault, **options)

    def end(stack: Stack) -> None:
        for n in names:
            stack.fault(n, None)
    return start, end


def kill_host():
    def start(stack: Stack) -> None:
        stack.stop("functions", sig=signal.SIGKILL)
        threading.Thread(target=stack.start, args=("functions",)).start()
    return start, lambda stack: None


def kill_worker():
    def start(stack: Stack) -> None:
        host = psutil.Process(stack.procs["functions"].pid)
        workers = [p for p in host.children() if "spawn_main" in " ".join(p.cmdline())]  # host_workers.py
        workers[0].kill()
    return start, lambda stack: None


def sendbird_429_then_500():
    def start(stack: Stack) -> None:
        stack.fault("sendbird", "http", status=429, retry_after_ms=1000)
        threading.Timer(15.0, stack.fault, args=("sendbird", "http"), kwargs={"status": 500}).start()
    return start, lambda stack: stack.fault("sendbird", None)


PHASES = [  # name, seconds of fault, (start, end)
    # a kill is instantaneous: "during" is the 5 s after it
    ("functions host SIGKILLed, restarted", 5, kill_host()),
    ("one worker process SIGKILLed", 5, kill_worker()),
    ("NLU service down", 20, proxy("nlu", "refuse")),
    ("NLU service slow (2.5 s, over the 2 s timeout)", 20, proxy("nlu", "latency", ms=2500)),
    ("Cosmos DB unreachable", 20, proxy("cosmos", "refuse")),
    ("Cosmos DB answering 429 (x-ms-retry-after-ms 500)", 20, proxy("cosmos", "http", status=429, retry_after_ms=500)),
    ("Azurite (queues) unreachable", 10, proxy("queue", "refuse")),
    ("SendBird API 429 for 15 s, then 500 for 15 s", 30, sendbird_429_then_500()),
    ("shop and QnA APIs down", 30, proxy(("shop", "qna"), "refuse")),
    ("50 ms added on every hop to the backing services", 30,
     proxy(("blob", "queue", "cosmos", "nlu", "shop", "qna", "sendbird"), "latency", ms=50)),
]


def _pct(values: list[float], q: float) -> float | None:
    return pct(values, q) if values else None


def rescue_poison(stack: Stack, tag: str) -> int:
    """Re-queue this phase's parked turns onto their queues (32 at a time, as a peek shows them);
    how many there were."""
    queues, parked = StoragePoisonQueues(storage_connection(stack.ports)), 0
    while True:
        found = [(q.name, m) for q in queues.poison_queues() if q.count
                 for m in queues.peek(q.name, limit=32) if f"{tag}-" in m.text]
        if not found:
            return parked
        for queue, message in found:
            queues.requeue(queue, message.id)
        parked += len(found)


class WebLoad:
    """Web chat customers, each its own conversation and address, sending on schedule as the page
    does: a message refused (429, 5xx, a dropped connection) is sent again, same message_id."""

    def __init__(self, live: Live, tag: str, customers: int = 20) -> None:
        self.tag, self.sequence, self.retries = tag, 0, 0
        self.chats = [live.webchat(address=f"198.51.100.{i + 1}") for i in range(customers)]
        self.accepted: dict[str, float] = {}  # turn id -> epoch ms

    def send_one(self) -> None:
        self.sequence += 1
        n = self.sequence
        chat, message_id = self.chats[n % len(self.chats)], f"{self.tag}-{n}"
        for _ in range(60):
            started = time.time() * 1000
            try:
                answer = chat.send(TEXTS[n % len(TEXTS)], message_id)
                if answer.status_code == 202:
                    self.accepted[answer.json()["turn_id"]] = started
                    return
                wait = float(answer.headers.get("Retry-After", 0.5))
            except httpx.HTTPError:
                wait = 0.5
            self.retries += 1
            time.sleep(min(wait, 2.0))

    def run(self, rate: float, seconds: float) -> None:
        with ThreadPoolExecutor(16) as pool:
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
                pool.submit(self.send_one)

    def outcome(self, drain: float = 90.0) -> dict:
        deadline = time.monotonic() + drain
        while True:
            replies = {}
            for chat in self.chats:
                for m in chat.poll(after=0).json()["messages"]:
                    replies.setdefault(m["id"], []).append(m)
            if all(t in replies for t in self.accepted) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        mine = {t: r for t, r in replies.items() if t in self.accepted}
        return {"turns": self.sequence, "answered": len(mine), "lost": self.sequence - len(mine),
                "duplicates_seen": sum(len(r) - 1 for r in mine.values()), "retries": self.retries,
                "e2e_ms": [r[0]["created"] - self.accepted[t] for t, r in mine.items()]}


def run_phase(stack: Stack, live: Live, name: str, fault_s: float, actions, rate: float, quiet_s: float) -> dict:
    start, end = actions
    tag = f"f{int(time.time())}"
    load, marks = Load(live, tag), {}
    web = WebLoad(live, f"w{tag}")

    def during(elapsed: float) -> None:
        if "start" not in marks and elapsed >= quiet_s:
            marks["start"] = time.time() * 1000
            start(stack)
        if "start" in marks and "end" not in marks and elapsed >= quiet_s + fault_s:
            end(stack)
            marks["end"] = time.time() * 1000

    seconds = quiet_s + fault_s + AFTER_S
    chat = threading.Thread(target=web.run, args=(WEB_RATE, seconds))
    chat.start()
    load.run(rate, seconds, during)
    chat.join()
    first = load.outcome(drain=90.0)
    web_first = web.outcome(drain=30.0)
    parked = rescue_poison(stack, tag)
    outcome = load.outcome(drain=120.0) if parked else first
    web_outcome = web.outcome(drain=60.0) if parked else web_first
    state = live.sendbird.get("/__standin/sent").json()
    shown = [m for m in state["messages"] if m["dedup_id"] in load.accepted]
    replies = {m["dedup_id"]: m for m in shown}
    once = sum(1 for t in replies if sum(m["dedup_id"] == t for m in shown) == 1)
    e2e = {t: replies[t]["created_at"] - at for t, at in load.accepted.items() if t in replies}
    during_fault = [ms for t, ms in e2e.items() if marks["start"] <= load.accepted[t] <= marks["end"] + 1]
    after = sorted((load.accepted[t], ms) for t, ms in e2e.items() if load.accepted[t] > marks["end"])
    slow = [at for at, ms in after if ms > TARGET_MS]
    return {"phase": name, "fault_s": fault_s, "sent": outcome["turns"], "accepted": outcome["accepted"],
            "answered_once": once, "lost": outcome["lost"],
            "duplicated_seen": outcome["duplicates_seen"], "duplicate_sends_absorbed": outcome["duplicate_sends"],
            "parked_then_requeued": parked, "webhook_retries": outcome["webhook_retries"],
            "webchat_sent": web_outcome["turns"], "webchat_lost": web_outcome["lost"],
            "webchat_duplicated": web_outcome["duplicates_seen"], "webchat_resends": web_outcome["retries"],
            "webchat_p99_ms": _pct(web_outcome["e2e_ms"], 99),
            "during_p50_ms": _pct(during_fault, 50), "during_p99_ms": _pct(during_fault, 99),
            "after_p50_ms": _pct([ms for _, ms in after], 50), "after_p99_ms": _pct([ms for _, ms in after], 99),
            "back_within_target_s": round((max(slow) - marks["end"]) / 1000, 1) if slow else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    phases = [PHASES[0], PHASES[2], PHASES[6]] if args.quick else PHASES
    quiet_s = 5.0 if args.quick else 10.0  # before the fault (AFTER_S after it)
    stack = Stack(VAR / "faults-stack", Ports.free(), model=ensure_model(str(DEMO_DATA), "retrain-demo"), faults=True)
    results = {"command": ".venv/bin/python bench/faults.py" + (" --quick" if args.quick else "")
               + (f" --rate {args.rate:g}" if args.rate != 20 else ""), "rate": args.rate, "quiet_s": quiet_s,
               "target_ms": TARGET_MS, "after_s": AFTER_S, "webchat_rate": WEB_RATE, "phases": []}
    stack.start_all()
    try:
        live = Live(stack)
        for name, fault_s, actions in phases:
            print(f"{name} ...", flush=True)
            row = run_phase(stack, live, name, fault_s / (2 if args.quick else 1), actions, args.rate, quiet_s)
            results["phases"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        stack.stop_all()
    save("faults" + ("-quick" if args.quick else ""), results)


if __name__ == "__main__":
    main()
