"""A counting HTTP proxy for the cost benchmark (bench/cost.py): stands in front of one backing service
of the local stack (Azurite's blob or queue port, the Cosmos DB stand-in, the NLU service, a SaaS
stand-in), forwards every request unchanged over a kept-alive connection, and records what each was:
method, path, query, a few headers, body sizes both ways, status, and when it started and ended.

The classification into billable operations (`classify`) is pure and works on those records.
"""
from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "content-length"}
KEPT_HEADERS = ("user-agent", "x-ms-documentdb-isquery", "x-ms-documentdb-is-upsert", "content-type")


@dataclass
class Record:
    service: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    request_bytes: int
    response_bytes: int
    status: int
    started: float  # time.monotonic()
    ended: float
    request_body: bytes = b""  # kept for Cosmos DB writes and queue reads (sizes, timings, message ids)
    response_body: bytes = b""


@dataclass
class Log:
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counting: bool = False  # only while True are requests recorded (the warm-up is not)

    def add(self, record: Record) -> None:
        with self.lock:
            if self.counting:
                self.records.append(record)

    def take(self) -> list[Record]:
        with self.lock:
            taken, self.records = self.records, []
            return taken


KEEP_BODIES = {"cosmos", "queue"}


def _handler(service: str, upstream: int, log: Log) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            for attempt in range(2):
                connection = getattr(local, "connection", None)
                if connection is None:
                    connection = local.connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    response = connection.getresponse()
                    return response, response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()
                    local.connection = None
                    if attempt:
                        raise
            raise AssertionError("unreachable")

        def _any(self) -> None:
            started = time.monotonic()
            body = self._read_body()
            try:
                response, data = self._forward(body)
            except (OSError, http.client.HTTPException) as e:
                self.send_error(502, f"counting proxy: {service} did not answer: {type(e).__name__}")
                return
            ended = time.monotonic()
            url = urlsplit(self.path)
            keep = service in KEEP_BODIES
            log.add(Record(service, self.command, unquote(url.path), parse_qs(url.query),
                           {k: self.headers[k] for k in KEPT_HEADERS if self.headers.get(k)},
                           len(body), len(data), response.status, started, ended,
                           body if keep else b"", data if keep else b""))
            self.send_response_only(response.status, response.reason)
            for k, v in response.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

    return Handler


class CountingProxy:
    """One proxy: listens on a free port, forwards to `upstream` on 127.0.0.1."""

    def __init__(self, service: str, upstream: int, log: Log) -> None:
        self.service = service
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service, upstream, log))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"proxy:{service}", daemon=True)

    def start(self) -> CountingProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- what each request was, as Azure bills it ---------------------------------------------------------
def queue_operation(r: Record) -> str:
    """Azure Queue Storage's operation for a request to the queue endpoint."""
    parts = r.path.strip("/").split("/")  # account, queue, messages, message id
    comp = (r.query.get("comp") or [""])[0]
    if len(parts) >= 3 and parts[2] == "messages":
        if len(parts) >= 4:
            return {"DELETE": "delete message", "PUT": "update message"}.get(r.method, f"{r.method} message")
        if r.method == "POST":
            return "put message"
        if r.method == "GET":
            return "peek messages" if (r.query.get("peekonly") or [""])[0].lower() == "true" else "get messages"
        if r.method == "DELETE":
            return "clear messages"
    if comp == "list":
        return "list queues"
    if comp == "metadata":
        return "set queue metadata" if r.method == "PUT" else "queue metadata"
    if len(parts) == 2 and r.method in ("PUT", "DELETE"):
        return "create queue" if r.method == "PUT" else "delete queue"
    return f"other {r.method}"


QUEUE_CLASS_1 = {"put message", "update message", "delete message", "clear messages", "create queue",
                 "delete queue", "set queue metadata", "list queues"}  # writes; Class 2: get/peek, metadata


def blob_operation(r: Record) -> str:
    comp = (r.query.get("comp") or [""])[0]
    if comp == "list":
        return "list"
    return {"GET": "read", "HEAD": "read", "PUT": "write", "POST": "write", "DELETE": "delete"}.get(r.method, "other")


def cosmos_operation(r: Record) -> tuple[str, str]:
    """(operation, container) for a request to the Cosmos DB endpoint; operation is one of point read,
    create, upsert, replace, patch, delete, query, metadata."""
    parts = r.path.strip("/").split("/")  # dbs/<db>/colls/<coll>/docs[/<id>]
    container = parts[3] if len(parts) >= 4 and parts[2] == "colls" else ""
    if len(parts) < 5 or parts[4] != "docs":
        return "metadata", container
    if len(parts) >= 6:
        return {"GET": "point read", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}.get(
            r.method, f"{r.method} doc"), container
    if r.method == "POST":
        if r.headers.get("x-ms-documentdb-isquery", "").lower() == "true" or \
                "query+json" in r.headers.get("content-type", ""):
            return "query", container
        if r.headers.get("x-ms-documentdb-is-upsert", "").lower() == "true":
            return "upsert", container
        return "create", container
    return ("read feed" if r.method == "GET" else f"{r.method} docs"), container
