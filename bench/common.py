"""Helpers for the benchmarks: start a server, wait for readiness, drive load, summarise."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
VAR = ROOT / "var" / "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "inference_container/gunicorn.conf.py", app],
        cwd=ROOT, env={**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **env},
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
    """Closed-loop load: `concurrency` keep-alive clients each posting the next text in turn."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            body = json.dumps({"text": texts[next(counter) % len(texts)]})
            t0 = time.perf_counter()
            conn.request("POST", "/v1/models/nlu:parse", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {**percentiles(latencies), "requests": len(latencies), "errors": errors[0],
            "rps": round(len(latencies) / elapsed, 1)}


def percentiles(samples: list[float]) -> dict:
    s = sorted(samples)
    pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def save(name: str, result: dict) -> None:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


def ensure_model(data: str, name: str, *extra: str) -> Path:
    """Train (once) the artifact the benchmarks share."""
    out = VAR / name
    if not (out / "metadata.json").exists():
        subprocess.run([sys.executable, "-m", "training_jobs", "train", "--data", data, "--out", str(out), *extra],
                       cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out
