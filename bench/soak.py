"""Soak: the chat-turn load at 10 turns/s for 30 minutes on the local stack, watching for leaks.

Recorded: every process's resident memory (its children included) after a warm-up minute and at the
end (target: growth <= 10 %), Azurite's data on disk at both times, every queue's depth after the
load (target: back to 0), and end-to-end latency in the first and the last 5 minutes.

    .venv/bin/python bench/soak.py [--rate 10] [--minutes 30]
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import psutil
from azure.storage.queue import QueueServiceClient

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "function_app")]

from bench.common import VAR, ensure_model, save  # noqa: E402
from bench.turns import Load, pct  # noqa: E402
from devstack.stack import DEMO_DATA, Ports, Stack, storage_connection  # noqa: E402
from livestack import Live  # noqa: E402

WARM_UP_S = 60.0
WINDOW_S = 300.0  # the first and the last 5 minutes


def resident_mb(stack: Stack) -> dict[str, float]:
    """Each service's resident memory with its children (gunicorn workers, host workers, ranks)."""
    sizes = {}
    for name, proc in stack.procs.items():
        try:
            root = psutil.Process(proc.pid)
            sizes[name] = round(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20, 1)
        except psutil.Error:
            sizes[name] = None
    return sizes


def disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def queue_depths(stack: Stack) -> dict[str, int]:
    service = QueueServiceClient.from_connection_string(storage_connection(stack.ports))
    return {q.name: service.get_queue_client(q.name).get_queue_properties().approximate_message_count
            for q in service.list_queues()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=30.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    var = VAR / "soak-stack"
    stack = Stack(var, Ports.free(), model=ensure_model(str(DEMO_DATA), "retrain-demo"))
    stack.start_all()
    total_s, marks = args.minutes * 60, {}
    try:
        load = Load(Live(stack), f"soak{int(time.time())}")

        def during(elapsed: float) -> None:
            if "warm" not in marks and elapsed >= WARM_UP_S:
                marks["warm"] = {"rss_mb": resident_mb(stack), "azurite_disk_mb": disk_mb(var / "azurite")}
                print("after warm-up:", marks["warm"], flush=True)

        started = time.time() * 1000
        load.run(args.rate, total_s, during)
        ended = time.time() * 1000
        outcome = load.outcome(drain=120.0)
        time.sleep(5.0)
        end = {"rss_mb": resident_mb(stack), "azurite_disk_mb": disk_mb(var / "azurite")}
        depths = queue_depths(stack)
        sent = {m["dedup_id"]: m for m in Live(stack).sendbird.get("/__standin/sent").json()["messages"]}
        e2e = [(at, sent[t]["created_at"] - at) for t, at in load.accepted.items() if t in sent]
        first = [ms for at, ms in e2e if at < started + WINDOW_S * 1000]
        last = [ms for at, ms in e2e if at > ended - WINDOW_S * 1000]
    finally:
        stack.stop_all()
    growth = {name: round(100 * (end["rss_mb"][name] / mb - 1), 1)
              for name, mb in marks["warm"]["rss_mb"].items() if mb and end["rss_mb"].get(name)}
    result = {"command": f".venv/bin/python bench/soak.py --rate {args.rate:g} --minutes {args.minutes:g}",
              "rate": args.rate, "minutes": args.minutes, "after_warm_up": marks["warm"], "at_the_end": end,
              "rss_growth_percent": growth, "queue_depths_after": depths,
              "turns": outcome["turns"], "lost": outcome["lost"], "duplicates_seen": outcome["duplicates_seen"],
              "first_5_min_p50_p99_ms": [pct(first, 50), pct(first, 99)],
              "last_5_min_p50_p99_ms": [pct(last, 50), pct(last, 99)]}
    print(result, flush=True)
    save("soak", result)


if __name__ == "__main__":
    main()
