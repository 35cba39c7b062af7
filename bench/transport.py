"""CPU per Cosmos DB call of the Azure SDK's two transports over TLS, side by side in one run.

Starts the Cosmos DB stand-in over HTTPS (`devstack/cosmos_server.js --tls`, its certificate
self-signed, so `connection_verify=False`) and one `azure.cosmos` client per transport, configured as
the function app's (`core.cosmos`): `HttpClientTransport` ("fast") and azure-core's own
`RequestsTransport` ("azure-core", as `azure_transport("azure-core")` makes it). Each round sends
--calls calls through each client in turn, point reads and upserts of a conversation document taking
turns; the order of the transports alternates from round to round, so that the machine's noise hits
both alike. CPU is this process's (`time.process_time`): SDK, transport and TLS, not the stand-in's.

    .venv/bin/python bench/transport.py [--rounds 5] [--calls 300]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "function_app")]

from azure.cosmos import CosmosClient, PartitionKey  # noqa: E402

from bench.common import save  # noqa: E402
from core.transport import HttpClientTransport, azure_transport  # noqa: E402
from devstack.stack import COSMOS_KEY, free_port  # noqa: E402

KINDS = ("read", "upsert")


def conversation(turns: int = 8) -> dict:
    """A conversation document as `core.conversation.Conversation.to_doc` writes one, mid-dialogue."""
    outcome = {"reply": "Your order A-1234 is out for delivery, arriving today by 6 pm.", "ask": None,
               "slots": {"order_id": "A-1234"}, "handoff": None, "forward": None, "fallback": False,
               "error": None}
    return {"id": "bench-conversation", "channel": "sendbird", "user_id": "u-48213", "handoff": False,
            "pending": {"branch": "order_status", "slot": "order_id", "attempts": 1},
            "slots": {"order_id": "A-1234", "product": "Pegasus running shoes"}, "fallback_count": 0,
            "message_count": turns,
            "turns": {f"turn-{i:04d}": {"branch": "order_status", "outcomes": {"order_status": outcome}}
                      for i in range(turns)}}


def start_stand_in() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(["node", "devstack/cosmos_server.js", str(port), "127.0.0.1", "--tls"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"https://127.0.0.1:{port}/"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the Cosmos DB stand-in did not start on port {port}") from None
            time.sleep(0.05)


def container(endpoint: str, transport):
    client = CosmosClient(endpoint, COSMOS_KEY, enable_endpoint_discovery=False, connection_timeout=5,
                          connection_verify=False, transport=transport)
    db = client.create_database_if_not_exists("bench")
    return db.create_container_if_not_exists("conversations", PartitionKey("/id"))


def calls(c, doc: dict, n: int) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) spent on each kind of call, over n calls that alternate."""
    spent = {kind: [0.0, 0.0] for kind in KINDS}
    for i in range(n):
        kind = KINDS[i % 2]
        cpu, wall = time.process_time(), time.perf_counter()
        if kind == "read":
            c.read_item(doc["id"], partition_key=doc["id"])
        else:
            c.upsert_item(doc)
        spent[kind][0] += time.process_time() - cpu
        spent[kind][1] += time.perf_counter() - wall
    return {kind: (cpu, wall) for kind, (cpu, wall) in spent.items()}


def per_call_ms(spent: dict[str, tuple[float, float]], n: int) -> dict:
    counts = {"read": n // 2, "upsert": n - n // 2}
    figures = {f"{kind}_{what}_ms": round(spent[kind][i] * 1000 / counts[kind], 4)
               for kind in KINDS for i, what in enumerate(("cpu", "wall"))}
    return {"cpu_ms": round(sum(s[0] for s in spent.values()) * 1000 / n, 4),
            "wall_ms": round(sum(s[1] for s in spent.values()) * 1000 / n, 4), **figures}


def summary(rounds: list[dict]) -> dict:
    return {key: {"median": round(statistics.median(r[key] for r in rounds), 4),
                  "min": min(r[key] for r in rounds), "max": max(r[key] for r in rounds)}
            for key in rounds[0]}


def table(medians: dict[str, dict]) -> str:
    rows = [("", "CPU ms/call", "wall ms/call", "read CPU", "upsert CPU")]
    for name, s in medians.items():
        rows.append((name, *(f"{s[k]['median']:.3f} ({s[k]['min']:.3f}-{s[k]['max']:.3f})"
                              for k in ("cpu_ms", "wall_ms", "read_cpu_ms", "upsert_cpu_ms"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300, help="calls per transport per round")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # urllib3's, once per call
    proc, endpoint = start_stand_in()
    try:
        transports = {"fast": HttpClientTransport(), "azure-core": azure_transport("azure-core")}
        containers = {name: container(endpoint, t) for name, t in transports.items()}
        doc = conversation()
        for c in containers.values():  # warm up: connections, caches
            c.upsert_item(doc)
            calls(c, doc, 50)
        runs: dict[str, list[dict]] = {name: [] for name in containers}
        for r in range(args.rounds):
            for name in (list(containers) if r % 2 == 0 else list(containers)[::-1]):
                runs[name].append(per_call_ms(calls(containers[name], doc, args.calls), args.calls))
                print(f"round {r + 1} {name}: {runs[name][-1]['cpu_ms']:.3f} ms CPU, "
                      f"{runs[name][-1]['wall_ms']:.3f} ms wall per call", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    medians = {name: summary(rounds) for name, rounds in runs.items()}
    ratio = {key: round(medians["azure-core"][key]["median"] / medians["fast"][key]["median"], 2)
             for key in ("cpu_ms", "wall_ms", "read_cpu_ms", "upsert_cpu_ms")}
    print(f"\nper Cosmos DB call over TLS, median (range) of {args.rounds} rounds x {args.calls} calls:")
    print(table(medians))
    print(f"azure-core / fast: CPU x{ratio['cpu_ms']}, wall x{ratio['wall_ms']}")
    save("transport", {"command": " ".join([".venv/bin/python", "bench/transport.py", *sys.argv[1:]]),
                       "rounds": args.rounds, "calls": args.calls, "document_bytes": len(json.dumps(doc)),
                       "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                   "platform": platform.platform()},
                       "runs": runs, "summary": medians, "azure_core_over_fast": ratio})


if __name__ == "__main__":
    main()
