"""The local functions host is driven by the app's own metadata and honours host.json."""
import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.functions_host import Host, host_settings, resolve
from devstack.host_queues import QueueOptions, decode_queue_body, timespan
from devstack.stack import AZURITE_KEY, Ports, app_settings
from devstack.storage_rest import QueueRest
from helpers import ROOT


def test_host_json_timespans():
    assert timespan("00:00:02", 0) == 2.0
    assert timespan("00:00:00.100", 0) == pytest.approx(0.1)
    assert timespan("1.00:00:01", 0) == 86401
    assert timespan(None, 7.0) == 7.0
    with pytest.raises(ValueError, match="bad TimeSpan"):
        timespan("2 seconds", 0)


def test_queue_options_come_from_host_json():
    options = QueueOptions.from_host_json({"extensions": {"queues": {
        "batchSize": 4, "maxDequeueCount": 3, "visibilityTimeout": "00:00:05", "maxPollingInterval": "00:00:01"}}})
    assert (options.batch_size, options.new_batch_threshold, options.max_dequeue_count) == (4, 2, 3)
    assert (options.visibility_timeout, options.max_polling_interval, options.min_polling_interval) == (5, 1, 0.1)


def test_app_settings_override_host_json_as_on_azure(tmp_path, monkeypatch):
    (tmp_path / "host.json").write_text(
        '{"version": "2.0", "extensions": {"queues": {"batchSize": 16, "maxPollingInterval": "00:00:00.100"}}}')
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__queues__maxPollingInterval", "00:00:02")
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__http__routePrefix", "")
    options = QueueOptions.from_host_json(host_settings(tmp_path))
    assert (options.max_polling_interval, options.batch_size) == (2, 16)
    assert host_settings(tmp_path)["extensions"]["http"] == {"routePrefix": ""}


def test_queue_bodies_are_base64_as_the_functions_host_expects():
    assert decode_queue_body("aGk=", "base64") == b"hi"
    with pytest.raises(ValueError, match="not base64"):
        decode_queue_body("{not base64}", "base64")


def test_binding_expressions_read_settings(monkeypatch):
    monkeypatch.setenv("INCOMING_QUEUE", "turns-incoming")
    assert resolve("%INCOMING_QUEUE%") == "turns-incoming"
    with pytest.raises(KeyError, match="NOPE"):
        resolve("%NOPE%")


def test_every_function_of_the_app_is_registered_from_its_metadata(monkeypatch):
    for key, value in app_settings(Ports()).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "0")  # metadata only: no worker processes
    host = Host(ROOT / "function_app", port=0)
    assert {(r.name, r.route, tuple(r.methods)) for r in host.routes} == {
        ("sendbird_webhook", "channels/sendbird/webhook", ("POST",)),
        ("webchat_conversations", "channels/webchat/conversations", ("POST",)),
        ("webchat_messages", "channels/webchat/messages", ("POST",)),
        ("webchat_replies", "channels/webchat/conversations/{conversation_id}/messages", ("GET",)),
        ("agent_release", "conversations/{conversation_id}/release", ("POST",)),
        ("agent_message", "conversations/{conversation_id}/messages", ("POST",)),
        ("openapi", "openapi.json", ("GET",)),
    }
    from branches import all_branches
    from core.queues import queue_for
    assert {listener.queue for listener in host.listeners} == {
        "turns-incoming", "turns-outgoing", *(queue_for(b) for b in all_branches())}
    assert host.queue_options.max_dequeue_count == 5


@contextlib.contextmanager
def storage_server(handler: type[BaseHTTPRequestHandler], queue: str) -> Iterator[QueueRest]:
    """A QueueRest client of `queue` on a local HTTP server answering with `handler`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield QueueRest(f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                        f"QueueEndpoint=http://127.0.0.1:{server.server_port}/devstoreaccount1", queue)
    finally:
        server.shutdown()


@pytest.mark.stack
def test_queue_writes_from_short_lived_threads_share_one_connection():
    """The HTTP server runs each request on a new thread: its queue writes must not each open a
    connection to Storage."""
    client_ports = []

    class Storage(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            client_ports.append(self.client_address[1])
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with storage_server(Storage, "turns") as client:
        for _ in range(5):
            writer = threading.Thread(target=client.send, args=("aGk=",))
            writer.start()
            writer.join()
    assert len(client_ports) == 5 and len(set(client_ports)) == 1


@pytest.mark.stack
def test_queue_client_reads_chunked_answers_on_connections_the_server_closes():
    """The host's Storage client frames responses itself: a chunked body arrives whole, and the next
    request after the server closed the connection goes out on a new one."""
    client_ports = []
    xml = (b"<?xml version='1.0' encoding='utf-8'?><QueueMessagesList><QueueMessage><MessageId>m1</MessageId>"
           b"<PopReceipt>p1</PopReceipt><DequeueCount>2</DequeueCount><MessageText>aGk=</MessageText>"
           b"</QueueMessage></QueueMessagesList>")

    class Storage(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            client_ports.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (xml[:40], xml[40:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

        def log_message(self, *args):
            pass

    with storage_server(Storage, "chunked") as client:
        first, second = client.receive(16, 30), client.receive(16, 30)
    assert [(m.id, m.pop_receipt, m.dequeue_count, m.content) for m in first] == [("m1", "p1", 2, "aGk=")]
    assert second == first and len(set(client_ports)) == 2


ROUTING_APP = '''
import os

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="route", methods=["POST"])
def route(req: func.HttpRequest) -> func.HttpResponse:
    queue = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], req.params["to"])
    queue.send_message(req.get_body().decode())
    return func.HttpResponse("queued")


@app.queue_trigger(arg_name="msg", queue_name="routed", connection="AzureWebJobsStorage")
def routed(msg: func.QueueMessage) -> None:
    pass
'''


@pytest.mark.stack
def test_a_queue_write_of_function_code_in_a_worker_wakes_that_queues_listener(tmp_path, monkeypatch):
    """A message the function code sends with the SDK to a queue of this host is taken at once, not
    at the next poll of an idle queue."""
    import azure.functions as func

    class Storage(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = (b"<?xml version='1.0' encoding='utf-8'?><QueueMessagesList><QueueMessage>"
                    b"<MessageId>m1</MessageId><InsertionTime>Mon, 23 Nov 2026 12:00:00 GMT</InsertionTime>"
                    b"<ExpirationTime>Mon, 30 Nov 2026 12:00:00 GMT</ExpirationTime><PopReceipt>p1</PopReceipt>"
                    b"<TimeNextVisible>Mon, 23 Nov 2026 12:00:00 GMT</TimeNextVisible></QueueMessage>"
                    b"</QueueMessagesList>")
            self.send_response(201)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    (tmp_path / "function_app.py").write_text(ROUTING_APP)
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    with storage_server(Storage, "routed") as storage:
        monkeypatch.setenv("AzureWebJobsStorage", f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                           f"QueueEndpoint=http://{storage.netloc}/devstoreaccount1")
        monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "1")
        host = Host(tmp_path, port=0)
        try:
            (route,), (listener,) = host.routes, host.listeners

            def send(to: str) -> None:
                request = func.HttpRequest("POST", "http://local/api/route", params={"to": to}, body=b"hi")
                assert route.function(req=request).get_body() == b"queued"

            send("elsewhere")
            assert not listener.wake.is_set()
            send("routed")
            assert listener.wake.is_set()
        finally:
            host.workers.close()


TEST_APP = '''
import json
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="pid", methods=["GET"])
def pid(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise RuntimeError("asked to fail")
    if req.params.get("exit"):
        os._exit(3)
    return func.HttpResponse(str(os.getpid()), headers={"x-route": req.route_params.get("x", "")})


@app.route(route="echo/{name}", methods=["POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise RuntimeError("asked to fail")
    return func.HttpResponse(json.dumps({"name": req.route_params["name"], "params": dict(req.params),
                                         "body": req.get_body().decode(), "header": req.headers.get("x-test")}),
                             status_code=201, mimetype="application/json")
'''


@pytest.mark.stack
def test_worker_processes_run_the_functions_and_one_that_dies_is_replaced(tmp_path, monkeypatch):
    """FUNCTIONS_WORKER_PROCESS_COUNT: the code runs in worker processes, a failure reaches the host as
    a failed invocation, and a worker that exits mid-invocation fails only that one."""
    import os

    import azure.functions as func

    from devstack.host_workers import FunctionFailed

    (tmp_path / "function_app.py").write_text(TEST_APP)
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "2")
    host = Host(tmp_path, port=0)
    try:
        route = next(r for r in host.routes if r.name == "pid")

        def get(**params) -> func.HttpResponse:
            return route.function(req=func.HttpRequest("GET", "http://local/api/pid", params=params, body=b""))

        pids = {int(get().get_body()) for _ in range(4)}
        assert os.getpid() not in pids and len(pids) >= 1
        assert {w.process.pid for w in host.workers.workers} >= pids
        with pytest.raises(FunctionFailed, match="RuntimeError: asked to fail"):
            get(fail="1")
        before = {w.process.pid for w in host.workers.workers}
        with pytest.raises(FunctionFailed, match="exited"):
            get(exit="1")
        assert int(get().get_body()) in before  # the other worker serves meanwhile
        deadline = time.monotonic() + 20
        while not all(w.alive for w in host.workers.workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        after = {w.process.pid for w in host.workers.workers}
        assert len(after - before) == 1 and all(w.alive for w in host.workers.workers)
    finally:
        host.workers.close()




@pytest.mark.stack
def test_http_routes_keep_the_connection_and_answer_errors_as_json(tmp_path, monkeypatch):
    """One kept-alive connection carries many requests (a chunked body too); an unknown route, a
    wrong method, a function that raises and an oversized body get JSON errors, never a hang."""
    import http.client
    import json

    import devstack.host_http as host_http

    (tmp_path / "function_app.py").write_text(TEST_APP)
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "0")
    monkeypatch.setattr(host_http, "MAX_REQUEST_BYTES", 1000)
    server = host_http.serve(Host(tmp_path, port=0), "127.0.0.1", 0)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)

        def request(method: str, path: str, body: bytes | None = None, **headers) -> tuple[int, dict]:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())

        assert request("POST", "/api/echo/caf%C3%A9?lang=fr", b"hello", **{"x-test": "1"}) == (
            201, {"name": "café", "params": {"lang": "fr"}, "body": "hello", "header": "1"})
        connection.putrequest("POST", "/api/echo/chunked")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")
        answer = connection.getresponse()
        assert json.loads(answer.read())["body"] == "hello"
        first_socket = connection.sock
        assert request("GET", "/api/nowhere") == (404, {"error": "no function at /api/nowhere"})
        assert request("GET", "/api/echo/x")[0] == 405
        assert request("POST", "/api/echo/x?fail=1") == (500, {"error": "function echo failed"})
        assert connection.sock is first_socket  # all of these on one connection
        status, error = request("POST", "/api/echo/x", b"x" * 1001)
        assert status == 413 and "limit" in error["error"]
        connection.close()
        assert request("POST", "/api/echo/x", **{"Content-Length": "-1"})[0] == 400
    finally:
        server.shutdown()
