"""The fault-injecting proxy in front of a real HTTP server: it forwards, and on command refuses,
resets, delays, stalls, or answers 429/503 with Retry-After; its control API refuses bad commands."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from devstack.stack import free_port
from helpers import ROOT, stop_process, wait_for_port


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + 6))
        self.end_headers()
        self.wfile.write(b"hello " + body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def proxied():
    service = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    listen, control = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "devstack.faultproxy", "--control", str(control),
                             f"svc={listen}:{service.server_address[1]}"], cwd=ROOT)
    wait_for_port(control)
    wait_for_port(listen)
    yield f"http://127.0.0.1:{listen}", httpx.Client(base_url=f"http://127.0.0.1:{control}", timeout=5)
    stop_process(proc)
    service.shutdown()


def command(ctl: httpx.Client, fault: dict | None) -> None:
    """Change the fault, then let the connections it closes be seen closed before the next request."""
    answer = ctl.put("/proxies/svc", json=fault) if fault else ctl.delete("/proxies/svc")
    assert answer.status_code == 200
    time.sleep(0.2)


@pytest.fixture
def proxy(proxied):
    url, ctl = proxied
    yield url, ctl
    assert ctl.delete("/proxies/svc").status_code == 200


def test_it_forwards_and_a_fault_applies_to_kept_alive_connections_too(proxy):
    url, ctl = proxy
    with httpx.Client(base_url=url, timeout=2) as client:
        assert client.post("/", content=b"world").text == "hello world"
        command(ctl, {"fault": "http", "status": 503, "retry_after_ms": 1500})
        answer = client.post("/", content=b"again")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
        assert answer.headers["x-ms-retry-after-ms"] == "1500"
        command(ctl, None)
        assert client.post("/", content=b"back").text == "hello back"


def test_refuse_reset_and_stall(proxy):
    url, ctl = proxy
    ctl.put("/proxies/svc", json={"fault": "refuse"})
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, content=b"x", timeout=2)
    ctl.put("/proxies/svc", json={"fault": "reset"})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.post(url, content=b"x", timeout=2)
    ctl.put("/proxies/svc", json={"fault": "stall"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, content=b"x", timeout=1)
    assert ctl.get("/proxies").json()["svc"]["refused_or_reset"] >= 1


def test_latency_is_added_towards_the_service(proxy):
    url, ctl = proxy
    with httpx.Client(base_url=url, timeout=5) as client:
        client.post("/", content=b"warm")
        started = time.perf_counter()
        client.post("/", content=b"fast")
        fast = time.perf_counter() - started
        command(ctl, {"fault": "latency", "ms": 200})
        started = time.perf_counter()
        assert client.post("/", content=b"slow").text == "hello slow"
        assert time.perf_counter() - started >= 0.2 > fast


def test_the_control_api_names_what_is_wrong(proxied):
    _, ctl = proxied
    assert ctl.put("/proxies/svc", json={"fault": "explode"}).status_code == 400
    assert "'ms' must be" in ctl.put("/proxies/svc", json={"fault": "latency", "ms": -1}).json()["error"]
    assert ctl.put("/proxies/nope", json={"fault": "reset"}).status_code == 404
    assert ctl.get("/proxies").json()["svc"]["fault"] == {}
