"""The NLU service per recipe: batch-size-1 HTTP round trips, one gunicorn worker, cache off.

One CLINC150 cascade artifact (trained by bench/quality.py, or here if missing) is served three
ways from the same weights: as trained (cascade), with its metadata's recipe set to `transformer`
(the transformer answers everything) and to `fast`. For each, side by side in interleaved rounds:
wrk at one connection (p50 / p99 over the CLINC150 test texts), the worker's resident memory after
the load, the time from process start to /readyz, and the share the cascade escalated (from the
service's own /v1/models/nlu report).

    .venv/bin/python bench/tiers.py [--seconds 10] [--rounds 3] [--model DIR]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DATASETS,
    NLU_HEADERS,
    VAR,
    drive,
    ensure_model,
    recorded,
    save,
    start_gunicorn,
    stop,
    wait_ready,
)
from devstack.stack import free_port  # noqa: E402

CLINC = DATASETS / "clinc150" / "data_full.json"


def as_recipe(model: Path, recipe: str) -> Path:
    """The artifact served as `recipe` (its tiers' files linked, its metadata's recipe changed)."""
    out = VAR / f"tiers-{recipe}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in model.iterdir():
        if f.name != "metadata.json":
            os.link(f, out / f.name)
    meta = json.loads((model / "metadata.json").read_text())
    meta["recipe"] = recipe
    (out / "metadata.json").write_text(json.dumps(meta))
    return out


def describe(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/v1/models/nlu", headers=NLU_HEADERS)
    return json.loads(conn.getresponse().read())


def worker_rss_mb(proc) -> float:
    children = psutil.Process(proc.pid).children()
    return round(max(c.memory_info().rss for c in children) / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", help="a CLINC150 cascade artifact (default: bench/quality.py's, trained if missing)")
    args = ap.parse_args()
    model = Path(args.model) if args.model else ensure_model(
        str(CLINC), "quality-clinc150_oos_class-cascade", "--oos-mode", "class", "--recipe", "cascade")
    texts = [t for t, _ in json.loads(CLINC.read_text())["test"]]
    served = {recipe: as_recipe(model, recipe) for recipe in ("cascade", "transformer", "fast")}
    rounds: dict[str, list[dict]] = {name: [] for name in served}
    for r in range(args.rounds):  # interleaved, so that a noisy minute on a shared host hits all alike
        for name, folder in served.items():
            port = free_port()
            started = time.perf_counter()
            proc = start_gunicorn("inference_container.wsgi:app",
                                  {"NLU_MODEL_DIR": str(folder), "NLU_CACHE_SIZE": "0"}, port)
            try:
                wait_ready(port)
                ready_s = time.perf_counter() - started
                drive(port, texts[:50], 1, 1.0)  # warm-up
                before = describe(port)["tiers"]
                load = drive(port, texts, 1, args.seconds)
                tiers = describe(port)["tiers"]
                rounds[name].append({"ready_s": round(ready_s, 3), "worker_rss_mb": worker_rss_mb(proc), **load,
                                     "share_escalated": escalated(before, tiers)})
            finally:
                stop(proc)
            print(f"round {r + 1}", name, json.dumps(rounds[name][-1]), flush=True)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "model": model.name, "seconds_per_run": args.seconds, "rounds": args.rounds,
               "cascade_cut": json.loads((model / "metadata.json").read_text()).get("cascade")}
    for name, runs in rounds.items():
        results[name] = {k: statistics.median(run[k] for run in runs if run[k] is not None)
                         for k in runs[0] if any(run[k] is not None for run in runs)}
        results[name]["rounds"] = runs
    print(json.dumps({k: v for k, v in results.items()}, indent=1))
    save("tiers", {**recorded("tiers"), model.name: results})  # one entry per artifact measured


def escalated(before: dict, after: dict) -> float | None:
    """The share of the load's texts the transformer answered in a cascade (from the service's counts)."""
    if "share_escalated" not in after:
        return None
    texts = after["texts"] - before.get("texts", 0)
    slow = after["transformer"]["answered"] - before.get("transformer", {}).get("answered", 0)
    return round(slow / texts, 4) if texts else None


if __name__ == "__main__":
    main()
