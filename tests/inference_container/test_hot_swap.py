"""A promotion while gunicorn serves concurrent requests: the new version goes live, none fails."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from devstack.stack import free_port
from helpers import ROOT, stop_process
from nlu.registry import open_registry

KEY = "nlu-key-of-the-hot-swap-test-0123456789abcdef"


@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_promotion_swaps_versions_under_load_with_zero_failed_requests(demo_model, tmp_path, worker_class):
    registry = open_registry(str(tmp_path / "registry"))
    first = registry.register(demo_model)
    second = registry.register(demo_model)  # a retrain: the patch goes up
    registry.promote(first)
    port = free_port()
    env = {**os.environ, "NLU_REGISTRY": str(tmp_path / "registry"), "NLU_POLL_SECONDS": "0.1",
           "NLU_MODEL_CACHE_DIR": str(tmp_path / "cache"), "PORT": str(port), "WEB_CONCURRENCY": "2",
           "GUNICORN_WORKER_CLASS": worker_class, "NLU_API_KEYS": KEY}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "inference_container/gunicorn.conf.py",
         "inference_container.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "service never became ready"
            time.sleep(0.1)

        stop = threading.Event()
        failures, versions = [], []

        def customer():
            with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as client:
                while not stop.is_set():
                    r = client.post("/v1/models/nlu:parse", json={"text": "where is my order B-5521"})
                    if r.status_code != 200:
                        failures.append((r.status_code, r.text))
                    else:
                        versions.append(r.json()["model_version"])

        threads = [threading.Thread(target=customer) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        registry.promote(second)
        swapped = time.monotonic() + 20
        while time.monotonic() < swapped and (not versions or versions[-1] != second):
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop_process(server)

    assert failures == []
    assert first in versions and second in versions
    last = versions[-50:]
    assert set(last) == {second}, "both workers ended on the promoted version"
    assert len(versions) > 200
