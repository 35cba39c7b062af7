"""The local host with its functions in-process against FUNCTIONS_WORKER_PROCESS_COUNT=2, side by side.

Each round starts the stack once per setting (fresh Azurite each time) and sends the same load,
signed webhooks at --rate turns/s for --seconds; rounds alternate the settings so that both see
the same machine. Prints and records end-to-end and acknowledgement p50/p99 and CPU per turn.

    .venv/bin/python bench/workers.py [--rate 15] [--seconds 30] [--rounds 2]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import VAR, save  # noqa: E402
from bench.turns import Load, ack_figures, cpu_seconds  # noqa: E402  (puts tests/ on the path)
from devstack.stack import Ports, Stack  # noqa: E402
from livestack import Live  # noqa: E402

SETTINGS = {"in-process": "0", "2 worker processes": "2"}


def one_run(processes: str, rate: float, seconds: float) -> dict:
    var = VAR / "workers"
    shutil.rmtree(var / "azurite", ignore_errors=True)  # no queue state from the previous run
    stack = Stack(var, Ports.free(), functions_env={"FUNCTIONS_WORKER_PROCESS_COUNT": processes})
    stack.start_all()
    try:
        live = Live(stack)
        warm = Load(live, "warmup")
        warm.run(10, 3)
        warm.outcome()
        load = Load(live, "load")
        before = cpu_seconds(stack)
        load.run(rate, seconds)
        outcome = {**load.outcome(), "ack": ack_figures(load)}
        outcome["cpu_ms_per_turn"] = {k: round((v - before[k]) * 1000 / load.sequence, 1)
                                      for k, v in cpu_seconds(stack).items()}
        return outcome
    finally:
        stack.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for r in range(args.rounds):
        for name, processes in SETTINGS.items():
            outcome = one_run(processes, args.rate, args.seconds)
            runs[name].append(outcome)
            print(f"round {r + 1} {name}: lost {outcome['lost']}, duplicates {outcome['duplicates_seen']}, "
                  f"e2e p50/p99 {outcome['e2e_p50_ms']}/{outcome['e2e_p99_ms']} ms, ack p50/p99 "
                  f"{outcome['ack']['p50_ms']}/{outcome['ack']['p99_ms']} ms, "
                  f"functions CPU {outcome['cpu_ms_per_turn']['functions']} ms/turn", flush=True)
    summary = {name: {key: statistics.median(o[key] for o in outcomes) for key in ("e2e_p50_ms", "e2e_p99_ms")}
               | {"ack_p99_ms": statistics.median(o["ack"]["p99_ms"] for o in outcomes)}
               for name, outcomes in runs.items()}
    print("median of rounds:", summary)
    save("workers", {"command": " ".join(["bench/workers.py", *sys.argv[1:]]), "rate": args.rate,
                     "seconds": args.seconds, "runs": runs, "median": summary})


if __name__ == "__main__":
    main()
