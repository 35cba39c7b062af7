"""The Azure SDK clients' HTTP transport, against a real local HTTP server."""
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseTimeoutError
from azure.core.pipeline.transport import HttpRequest, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest

from core.transport import HttpClientTransport, azure_transport


class Server(BaseHTTPRequestHandler):
    """Echoes the request as JSON. `?chunked=1` answers chunked; `?drop=1` closes the connection
    after answering without saying so (as a server ending an idle keep-alive connection does);
    `?slow=S` waits S seconds first."""
    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.ports.append(self.client_address[1])
        query = dict(p.split("=") for p in self.path.partition("?")[2].split("&") if p)
        time.sleep(float(query.get("slow", 0)))
        data = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                           "x-ms-test": self.headers.get("x-ms-test")}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-request-charge", "1.0")
        if query.get("chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (data[:10], data[10:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        self.close_connection = bool(query.get("drop"))

    do_GET = do_POST = _answer

    def handle(self):
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
            super().handle()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def server() -> Iterator[str]:
    Server.ports = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_share_one_kept_alive_connection_and_answers_arrive_whole():
    transport = HttpClientTransport()
    with server() as url:
        post = HttpRequest("POST", f"{url}/dbs/switchboard/docs", headers={"x-ms-test": "yes"})
        post.set_json_body({"id": "c1"})
        created = transport.send(post)
        chunked = transport.send(HttpRequest("GET", f"{url}/dbs/switchboard/docs/c1?chunked=1"))
    assert created.status_code == 201 and created.headers["X-MS-Request-Charge"] == "1.0"
    assert json.loads(created.body()) == {"method": "POST", "path": "/dbs/switchboard/docs",
                                          "body": '{"id": "c1"}', "x-ms-test": "yes"}
    assert json.loads(chunked.text())["path"] == "/dbs/switchboard/docs/c1?chunked=1"
    assert b"".join(chunked.stream_download(None)) == chunked.body()
    assert len(set(Server.ports)) == 1


def test_a_connection_the_server_closed_meanwhile_is_replaced_and_the_request_sent_again():
    transport = HttpClientTransport()
    with server() as url:
        assert transport.send(HttpRequest("GET", f"{url}/first?drop=1")).status_code == 200
        time.sleep(0.1)  # the server has closed the connection the transport kept
        again = transport.send(HttpRequest("GET", f"{url}/second"))
    assert json.loads(again.body())["path"] == "/second"
    assert len(set(Server.ports)) == 2


def test_no_server_is_a_request_error_and_no_answer_a_response_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ServiceRequestError, match="could not connect"):
        HttpClientTransport().send(HttpRequest("GET", f"http://127.0.0.1:{closed_port}/"))
    with server() as url, pytest.raises(ServiceResponseTimeoutError):
        HttpClientTransport().send(HttpRequest("GET", f"{url}/?slow=1"), read_timeout=0.2)


def test_requests_it_does_not_frame_go_through_requests(monkeypatch):
    with server() as url:
        answer = HttpClientTransport().send(RestHttpRequest("GET", f"{url}/rest"))
        assert answer.status_code == 200 and answer.json()["path"] == "/rest"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert isinstance(azure_transport(), RequestsTransport)
