"""Chat-turn benchmark on the real local stack (the launcher `make run` uses, on free ports):

1. webhook acknowledgement latency, p50/p99: signed webhooks paced at 10/s, and during the 20/s run;
2. the highest turn rate this machine sustains (steps of 20 s from 10/s; sustained: every turn
   answered, p99 <= 1 s), with the CPU each process used per turn, and when idle;
3. end-to-end turn latency at a steady rate (--rate, default 20 turns/s) for 2 minutes: webhook
   accepted -> reply received by the SendBird stand-in, p50/p99, with lost and duplicate replies;
4. a minute of the same load with the functions host SIGKILLed after 30 s and restarted.

Each phase waits until every turn it sent is answered (up to 5 minutes) before the next begins.

The load is open-loop (turns are sent on schedule, whatever the latency) and, like SendBird, retries
a webhook that is not answered 200. `duplicates_seen` counts extra bot messages for one turn in the
customer's channel; `duplicate_sends` counts repeated sends of a reply to the SendBird API, which
its dedup_id (the turn id) absorbs.

    .venv/bin/python bench/turns.py [--rate 20] [--quick]
"""
from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "function_app")]

from bench.common import VAR, ensure_model, save  # noqa: E402
from devstack.stack import REGISTRY, Ports, Stack, storage_connection  # noqa: E402
from helpers import DEMO_DATA  # noqa: E402
from livestack import Live, message_event, sign  # noqa: E402

# Each of these gets exactly one reply and leaves no question pending.
TEXTS = ["hi", "good morning", "thanks a lot", "where is my order A-1234", "has K-2718 shipped yet",
         "show me blue Nike running shoes", "what are your opening hours", "can I pay with paypal",
         "how long does shipping take", "goodbye"]
CONVERSATIONS = 100
RUN = format(int(time.time()), "x")  # this run, in every turn id (see Load)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time (user + system) used so far by each service of the stack, its children included,
    and by this load generator."""
    used = {"load generator": sum(psutil.Process().cpu_times()[:2])}
    for name, proc in stack.procs.items():
        root = psutil.Process(proc.pid)
        used[name] = sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    return used


def ack_figures(load: Load) -> dict:
    return {"n": len(load.ack_ms), "p50_ms": pct(load.ack_ms, 50), "p99_ms": pct(load.ack_ms, 99)}


class Load:
    """Sends signed webhooks on schedule from a thread pool; remembers when each was accepted."""

    def __init__(self, live: Live, tag: str) -> None:
        # a run of its own in the tag: the stack's Cosmos DB keeps the outbox of earlier runs, and a turn id
        # seen there before counts as delivered (the reply is never sent again)
        self.live, self.tag = live, f"{tag}-{RUN}"
        self.port, self.path = live.stack.ports.functions, "/api/channels/sendbird/webhook"
        self.token = live.settings["SENDBIRD_API_TOKEN"]
        self.accepted: dict[str, float] = {}  # turn id -> epoch ms when the accepted attempt began
        self.ack_ms: list[float] = []
        self.retries = 0
        self.sequence = 0
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        """A kept-alive connection per sending thread. http.client, the lightest client: the load
        generator shares the machine with the stack, and its own time counts in the acknowledgement."""
        if not hasattr(self._local, "connection"):
            self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5.0)
        return self._local.connection

    def send_one(self) -> None:
        self.sequence += 1
        n = self.sequence
        event = message_event(TEXTS[n % len(TEXTS)], f"bench_{self.tag}_{n % CONVERSATIONS}",
                              f"{self.tag}-{n}", sender=f"customer-{n % CONVERSATIONS}")
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "x-sendbird-signature": sign(body, self.token)}
        for _attempt in range(30):  # SendBird retries an unanswered webhook
            started, wall = time.perf_counter(), time.time() * 1000
            connection = self._connection()
            try:
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.ack_ms.append((time.perf_counter() - started) * 1000)
                    self.accepted[f"sendbird:{self.tag}-{n}"] = wall
                    return
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request connects again
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

    def outcome(self, within: float = 60.0, drain: float = 300.0) -> dict:
        """Count, once every accepted turn is answered (or `drain` seconds have passed): `lost` is what is
        still unanswered then, `late` what took longer than `within` seconds."""
        deadline = time.monotonic() + drain
        while True:
            state = self.live.sendbird.get("/__standin/sent").json()
            shown = [m for m in state["messages"] if m["dedup_id"] in self.accepted]
            replies = {m["dedup_id"]: m for m in shown}
            if len(replies) == len(self.accepted) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        latency = [replies[t]["created_at"] - at for t, at in self.accepted.items() if t in replies]
        repeats = sum(n for t, n in state["repeats"].items() if t in self.accepted)
        return {"turns": self.sequence, "accepted": len(self.accepted), "answered": len(replies),
                "lost": self.sequence - len(replies), "late": sum(ms > within * 1000 for ms in latency),
                "duplicates_seen": len(shown) - len(replies), "duplicate_sends": repeats,
                "webhook_retries": self.retries,
                "e2e_p50_ms": pct(latency, 50), "e2e_p99_ms": pct(latency, 99),
                "e2e_max_ms": round(max(latency), 1) if latency else None}


def recipes_side_by_side(stack: Stack, live: Live, rate: float, seconds: float, rounds: int = 2) -> dict:
    """The steady phase with the production model trained by each recipe on the demo data, in
    alternating rounds on one stack: each model is promoted, the NLU service's switch awaited, and
    `rate` turns/s sent for `seconds`. What the cascade costs a turn end to end."""
    import httpx

    from nlu.registry import open_registry

    registry = open_registry(REGISTRY, storage_connection(stack.ports))
    versions = {recipe: registry.register(ensure_model(str(DEMO_DATA), f"turns-{recipe}", "--recipe", recipe))
                for recipe in ("fast", "cascade")}
    nlu = httpx.Client(base_url=f"http://127.0.0.1:{stack.ports.nlu}", timeout=10, headers=stack.nlu_headers())
    runs: dict[str, list[dict]] = {recipe: [] for recipe in versions}
    for r in range(rounds):
        for recipe, version in versions.items():
            registry.promote(version)
            while nlu.get("/v1/models/nlu").json().get("version") != version:
                time.sleep(0.2)
            warm = Load(live, f"warm-{recipe}-{r}")
            warm.run(rate, 3)
            warm.outcome()
            load = Load(live, f"{recipe}-{r}")
            load.run(rate, seconds)
            runs[recipe].append({"round": r + 1, "version": version, **load.outcome()})
            print(recipe, runs[recipe][-1], flush=True)
    summary = {recipe: {"e2e_p50_ms": statistics.median(x["e2e_p50_ms"] for x in rs),
                        "e2e_p99_ms": statistics.median(x["e2e_p99_ms"] for x in rs),
                        "lost": sum(x["lost"] for x in rs), "runs": rs} for recipe, rs in runs.items()}
    summary["p99_difference_ms"] = round(summary["cascade"]["e2e_p99_ms"] - summary["fast"]["e2e_p99_ms"], 1)
    return {"rate": rate, "seconds": seconds, "rounds": rounds, **summary}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20, help="turns/s of the steady and the kill run")
    parser.add_argument("--quick", action="store_true", help="short phases, to try the benchmark out")
    parser.add_argument("--recipes", action="store_true",
                        help="only the steady phase, the fast and the cascade demo model side by side")
    args = parser.parse_args()
    if args.recipes:
        stack = Stack(VAR / "turns-recipes", Ports.free())
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        stack.start_all()
        try:
            result = recipes_side_by_side(stack, Live(stack), args.rate, 20 if args.quick else 60)
        finally:
            stack.stop_all()
        print(json.dumps({k: v for k, v in result.items()}, indent=1))
        save(f"turns-recipes-{args.rate:g}" + ("-quick" if args.quick else ""), result)
        return
    steady_s, step_s = (20, 8) if args.quick else (120, 20)
    stack = Stack(VAR / "turns", Ports.free())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack (finally) when killed
    print("starting the stack ...", flush=True)
    stack.start_all()
    live = Live(stack)
    rate = args.rate
    results: dict = {"command": " ".join(["bench/turns.py", *sys.argv[1:]])}
    try:
        warm = Load(live, "warmup")  # every branch and connection once
        warm.run(10, 3)
        warm.outcome()
        ack = Load(live, "ack")
        ack.run(10, 30)
        results["webhook_ack_10_per_s"] = ack_figures(ack)
        ack.outcome()
        print("webhook ack at 10/s", results["webhook_ack_10_per_s"], flush=True)

        before = cpu_seconds(stack)
        time.sleep(10)
        results["idle_cpu_percent"] = {k: round((v - before[k]) * 10, 1) for k, v in cpu_seconds(stack).items()}
        print("idle CPU %", results["idle_cpu_percent"], flush=True)

        results["rates"] = []
        for step in (10, 15, 20, 25, 30, 40):
            load = Load(live, f"rate{step}")
            before = cpu_seconds(stack)
            load.run(step, step_s)
            outcome = {"rate": step, "seconds": step_s, **load.outcome(), "ack": ack_figures(load)}
            outcome["cpu_ms_per_turn"] = {k: round((v - before[k]) * 1000 / load.sequence, 1)
                                          for k, v in cpu_seconds(stack).items()}
            outcome["sustained"] = outcome["lost"] == 0 and outcome["e2e_p99_ms"] <= 1000
            results["rates"].append(outcome)
            print(f"{step}/s", outcome, flush=True)
            if not outcome["sustained"]:
                break
        results["highest_sustained_rate"] = max((r["rate"] for r in results["rates"] if r["sustained"]),
                                                default=None)

        steady = Load(live, "steady")
        steady.run(rate, steady_s)
        results["steady"] = {"rate": rate, "seconds": steady_s, **steady.outcome(),
                             "ack": ack_figures(steady)}
        print(f"steady {rate}/s", results["steady"], flush=True)

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

        killed.run(rate, steady_s / 2, during=chaos)
        results["kill_and_restart"] = {"rate": rate, "seconds": steady_s / 2, **events, **killed.outcome()}
        print(f"kill -9 and restart at {rate}/s", results["kill_and_restart"], flush=True)
    finally:
        stack.stop_all()
    save(f"turns-{rate:g}" + ("-quick" if args.quick else ""), results)


if __name__ == "__main__":
    main()
