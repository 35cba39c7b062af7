"""Chat-turn benchmark on the real local stack (the launcher `make run` uses, on free ports):

1. webhook acknowledgement latency, p50/p99: signed webhooks paced at 10/s, and during the 20/s run;
2. end-to-end turn latency at a steady 20 turns/s for 2 minutes: webhook accepted -> reply received by
   the SendBird stand-in, p50/p99, with lost and duplicate replies;
3. the highest turn rate this machine sustains (steps of 20 s: every turn answered, p99 <= 1 s);
4. the steady load again with the functions host SIGKILLed and restarted mid-run.

The load is open-loop (turns are sent on schedule, whatever the latency) and, like SendBird, retries
a webhook that is not answered 200. A duplicate is a second send of a turn's reply to the SendBird
API (the stand-in counts them; SendBird's dedup_id would hide them from the customer).

    .venv/bin/python bench/turns.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.common import VAR, save  # noqa: E402
from devstack.stack import Ports, Stack  # noqa: E402
from livestack import Live, message_event, sign  # noqa: E402

# Each of these gets exactly one reply and leaves no question pending.
TEXTS = ["hi", "good morning", "thanks a lot", "where is my order A-1234", "has K-2718 shipped yet",
         "show me blue Nike running shoes", "what are your opening hours", "can I pay with paypal",
         "how long does shipping take", "goodbye"]
CONVERSATIONS = 100


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


def ack_figures(load: "Load") -> dict:
    return {"n": len(load.ack_ms), "p50_ms": pct(load.ack_ms, 50), "p99_ms": pct(load.ack_ms, 99)}


class Load:
    """Sends signed webhooks on schedule from a thread pool; remembers when each was accepted."""

    def __init__(self, live: Live, tag: str) -> None:
        self.live, self.tag = live, tag
        self.url = f"http://127.0.0.1:{live.stack.ports.functions}/api/channels/sendbird/webhook"
        self.token = live.settings["SENDBIRD_API_TOKEN"]
        self.accepted: dict[str, float] = {}  # turn id -> epoch ms when the accepted attempt began
        self.ack_ms: list[float] = []
        self.retries = 0
        self.sequence = 0
        self._local = threading.local()

    def _client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(timeout=5.0)
        return self._local.client

    def send_one(self) -> None:
        self.sequence += 1
        n = self.sequence
        event = message_event(TEXTS[n % len(TEXTS)], f"bench_{self.tag}_{n % CONVERSATIONS}",
                              f"{self.tag}-{n}", sender=f"customer-{n % CONVERSATIONS}")
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "x-sendbird-signature": sign(body, self.token)}
        for attempt in range(30):  # SendBird retries an unanswered webhook
            started, wall = time.perf_counter(), time.time() * 1000
            try:
                response = self._client().post(self.url, content=body, headers=headers)
                if response.status_code == 200:
                    self.ack_ms.append((time.perf_counter() - started) * 1000)
                    self.accepted[f"sendbird:{self.tag}-{n}"] = wall
                    return
            except httpx.TransportError:
                pass
            self.retries += 1
            time.sleep(0.5)

    def run(self, rate: float, seconds: float, during=None) -> None:
        """`rate` turns/s for `seconds`; `during(elapsed)` is called about every 50 ms."""
        pool = ThreadPoolExecutor(64)
        start, total = time.perf_counter(), int(rate * seconds)
        for i in range(total):
            due = start + i / rate
            while (now := time.perf_counter()) < due:
                if during:
                    during(now - start)
                time.sleep(min(0.05, due - now))
            pool.submit(self.send_one)
        pool.shutdown(wait=True)

    def outcome(self, drain_timeout: float) -> dict:
        """Wait for every accepted turn's reply (up to `drain_timeout`), then count."""
        deadline = time.monotonic() + drain_timeout
        while True:
            state = self.live.sendbird.get("/__standin/sent").json()
            replies = {m["dedup_id"]: m for m in state["messages"] if m["dedup_id"] in self.accepted}
            if len(replies) == len(self.accepted) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        latency = [replies[t]["created_at"] - at for t, at in self.accepted.items() if t in replies]
        repeats = sum(n for t, n in state["repeats"].items() if t in self.accepted)
        return {"turns": self.sequence, "accepted": len(self.accepted), "answered": len(replies),
                "lost": self.sequence - len(replies), "duplicates": repeats, "webhook_retries": self.retries,
                "e2e_p50_ms": pct(latency, 50), "e2e_p99_ms": pct(latency, 99),
                "e2e_max_ms": round(max(latency), 1) if latency else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short phases, to try the benchmark out")
    args = parser.parse_args()
    steady_s, step_s = (20, 8) if args.quick else (120, 20)
    stack = Stack(VAR / "turns", Ports.free())
    print("starting the stack ...", flush=True)
    stack.start_all()
    live = Live(stack)
    results: dict = {"command": "bench/turns.py" + (" --quick" if args.quick else "")}
    try:
        # Warm up every branch and connection, then measure acknowledgement alone.
        warm = Load(live, "warmup")
        warm.run(10, 3)
        warm.outcome(30)
        ack = Load(live, "ack")
        ack.run(10, 30)
        results["webhook_ack_10_per_s"] = ack_figures(ack)
        ack.outcome(60)
        print("webhook ack at 10/s", results["webhook_ack_10_per_s"], flush=True)

        steady = Load(live, "steady")
        steady.run(20, steady_s)
        results["steady_20_per_s"] = {"seconds": steady_s, **steady.outcome(60), "ack": ack_figures(steady)}
        print("steady 20/s", results["steady_20_per_s"], flush=True)

        results["rates"] = []
        for rate in (40, 60, 80, 100, 140, 180):
            load = Load(live, f"rate{rate}")
            load.run(rate, step_s)
            outcome = {"rate": rate, "seconds": step_s, **load.outcome(60)}
            outcome["sustained"] = outcome["lost"] == 0 and outcome["e2e_p99_ms"] <= 1000
            results["rates"].append(outcome)
            print(f"{rate}/s", outcome, flush=True)
            if not outcome["sustained"]:
                break
        sustained = [r["rate"] for r in results["rates"] if r["sustained"]]
        results["highest_sustained_rate"] = max(sustained, default=20)

        killed = Load(live, "kill")
        events: dict = {}

        def chaos(elapsed: float) -> None:
            if elapsed >= steady_s / 4 and "killed_at_s" not in events:
                events["killed_at_s"] = round(elapsed, 1)
                stack.stop("functions", sig=9)
                killed_at = time.perf_counter()

                def restart() -> None:
                    stack.start("functions")
                    events["down_for_s"] = round(time.perf_counter() - killed_at, 1)
                threading.Thread(target=restart).start()

        killed.run(20, steady_s / 2 if args.quick else 60, during=chaos)
        results["kill_and_restart_20_per_s"] = {**events, **killed.outcome(90)}
        print("kill -9 and restart", results["kill_and_restart_20_per_s"], flush=True)
    finally:
        stack.stop_all()
    save("turns" + ("-quick" if args.quick else ""), results)


if __name__ == "__main__":
    main()
