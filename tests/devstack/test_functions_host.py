"""The local functions host is driven by the app's own metadata and honours host.json."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.functions_host import Host, resolve
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
    host = Host(ROOT / "function_app", port=0)
    assert {(r.name, r.route, tuple(r.methods)) for r in host.routes} == {
        ("sendbird_webhook", "channels/sendbird/webhook", ("POST",)),
        ("webchat_messages", "channels/webchat/messages", ("POST",)),
        ("webchat_replies", "channels/webchat/conversations/{conversation_id}/messages", ("GET",)),
        ("agent_release", "conversations/{conversation_id}/release", ("POST",)),
    }
    from core.routing import BRANCHES, queue_for
    assert {listener.queue for listener in host.listeners} == {
        "turns-incoming", "turns-outgoing", *(queue_for(b) for b in BRANCHES)}
    assert host.queue_options.max_dequeue_count == 5


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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = QueueRest(f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                           f"QueueEndpoint=http://127.0.0.1:{server.server_port}/devstoreaccount1", "turns")
        for _ in range(5):
            writer = threading.Thread(target=client.send, args=("aGk=",))
            writer.start()
            writer.join()
    finally:
        server.shutdown()
    assert len(client_ports) == 5 and len(set(client_ports)) == 1
