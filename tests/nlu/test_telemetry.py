"""Every deployable's telemetry (switchboard/telemetry.py: the function app, the NLU service, the
admin site and the training worker): Flask's requests are server spans, HTTP clients' calls are
dependency spans, and no URL keeps its query string. In a subprocess: a tracer provider is once per process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.stack  # each test runs a script in a subprocess, against a local HTTP server

STUB_SERVER = r"""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
"""  # a local server for the HTTP client to call

SCRIPT = r"""
import json, os
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard import telemetry

memory = InMemorySpanExporter()
telemetry.configure("switchboard-admin", [SimpleSpanProcessor(memory)], env={})

{stub_server}

import httpx
from admin_site import create_app
os.environ["ADMIN_SECRET_KEY"] = "k" * 40
app = telemetry.instrument_app(create_app())
app.test_client().get("/healthz?q=private+words")
httpx.get(f"http://127.0.0.1:{server.server_port}/products?q=private+words")
print(json.dumps([{"name": s.name, "kind": s.kind.name, "service": s.resource.attributes["service.name"],
                   "attributes": dict(s.attributes or {})} for s in memory.get_finished_spans()]))
""".replace("{stub_server}", STUB_SERVER)


def _spans() -> list[dict]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{ROOT}:{ROOT / 'function_app'}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_requests_and_client_calls_are_spans_without_query_strings():
    spans = _spans()
    kinds = {s["kind"] for s in spans}
    assert {"SERVER", "CLIENT"} <= kinds, spans
    assert {s["service"] for s in spans} == {"switchboard-admin"}
    assert "private" not in json.dumps(spans)
    server = next(s for s in spans if s["kind"] == "SERVER")
    assert "/healthz" in json.dumps(server["attributes"])


CONSOLE = r"""
import sys
import httpx
from switchboard import telemetry
telemetry.configure(sys.argv[1], always_trace=sys.argv[1] == "switchboard-functions")

{stub_server}
httpx.get(f"http://127.0.0.1:{server.server_port}/orders/K-1?q=private+words")
""".replace("{stub_server}", STUB_SERVER)


@pytest.mark.parametrize("module", ["switchboard-functions", "switchboard-nlu"])
def test_the_console_exporter_shows_dependency_spans_locally(module):
    """`OTEL_TRACES_EXPORTER=console`: what a developer sees without Azure."""
    done = subprocess.run([sys.executable, "-c", CONSOLE, module], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": f"{ROOT}:{ROOT / 'function_app'}", "PATH": "/usr/bin:/bin",
                                           "OTEL_TRACES_EXPORTER": "console"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"kind": "SpanKind.CLIENT"' in done.stdout and "/orders/{id}" in done.stdout  # the order number is not kept
    assert "private" not in done.stdout
