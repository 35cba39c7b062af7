"""Helpers for the benchmarks: start a server, wait for readiness, drive load, summarise."""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "bench" / "data"  # CLINC150 and SNIPS, copies kept for reproducing the figures
VAR = ROOT / "var" / "bench"
# The key of the NLU services the benchmarks start (NLU_API_KEYS), made per run; clients send NLU_HEADERS
NLU_KEY = secrets.token_urlsafe(32)
NLU_HEADERS = {"Authorization": f"Bearer {NLU_KEY}"}


def start_gunicorn(app: str, env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "inference_container/gunicorn.conf.py", app],
        cwd=ROOT, env={**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                       "NLU_API_KEYS": NLU_KEY, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_ready(port: int, timeout: float = 120.0, interval: float = 0.005) -> float:
    """Seconds until GET /readyz answers 200."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"port {port} not ready after {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(port: int, texts: list[str], concurrency: int, seconds: float) -> dict:
    """Closed-loop load from wrk (C, keep-alive): `concurrency` connections, each posting the next text,
    with the key (NLU_HEADERS; the script reads it from wrk's environment, so it is on no command line)."""
    if not shutil.which("wrk"):
        raise SystemExit("the serving benchmark needs wrk: apt-get install wrk")
    script = VAR / "parse.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    bodies = ",".join(json.dumps(json.dumps({"text": t})) for t in texts)
    script.write_text(
        f"bodies = {{{bodies}}}\ni = 0\n"
        'headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("NLU_KEY")}\n'
        "request = function()\n  i = i % #bodies + 1\n"
        '  return wrk.format("POST", "/v1/models/nlu:parse", headers, bodies[i])\n'
        "end\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %d %f\\n", summary.requests, latency:percentile(50), '
        "latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.read + "
        "summary.errors.write + summary.errors.timeout, summary.duration))\nend\n")
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True,
                         env={**os.environ, "NLU_KEY": NLU_KEY}).stdout
    requests, p50, p99, errors, duration_us = out.split("RESULT ")[1].split()
    return {"p50_ms": round(int(p50) / 1000, 3), "p99_ms": round(int(p99) / 1000, 3), "requests": int(requests),
            "errors": int(errors), "rps": round(int(requests) / (float(duration_us) / 1e6), 1)}


RESULTS = ROOT / "bench" / "results"


def recorded(name: str) -> dict:
    """What an earlier run saved as `name` (bench/results/<name>.json), or nothing."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(name: str, result: dict) -> None:
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


def ensure_model(data: str, name: str, *extra: str) -> Path:
    """Train (once) the artifact the benchmarks share."""
    out = VAR / name
    if not (out / "metadata.json").exists():
        subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", data, "--out", str(out), *extra],
                       cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out


def few_shot(examples: list, shots: int, seed: int = 13) -> list:
    """`shots` examples of each intent, drawn with a fixed seed (the few-shot protocol)."""
    import random

    by_intent: dict[str, list] = {}
    for e in examples:
        by_intent.setdefault(e.intent, []).append(e)
    rng = random.Random(seed)
    return [e for intent in sorted(by_intent)
            for e in rng.sample(by_intent[intent], min(shots, len(by_intent[intent])))]
