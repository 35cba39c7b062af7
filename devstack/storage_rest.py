"""A lean Storage Queue REST client for the local functions host's own polling.

The real Functions host polls queues from .NET; the Python SDK spends ~3 ms of CPU per call here,
and a host polling a dozen queues spent over 40 % of its CPU just receiving. This client speaks the
same REST API (Shared Key auth, XML bodies) over a shared pool of keep-alive connections. The function
app itself keeps using the Azure SDK.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote, urlencode, urlsplit
from xml.sax.saxutils import escape

API_VERSION = "2021-02-12"
MAX_IDLE_SECONDS = 2.0


class StorageError(OSError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail[:200]}")
        self.status = status


@dataclass
class Message:
    id: str
    pop_receipt: str
    dequeue_count: int
    content: str


def parse_connection_string(connection: str) -> tuple[str, str, str]:
    """(queue endpoint, account name, account key) of a Storage connection string."""
    parts = dict(p.split("=", 1) for p in connection.split(";") if "=" in p)
    account, key = parts["AccountName"], parts["AccountKey"]
    scheme = parts.get("DefaultEndpointsProtocol", "https")
    suffix = parts.get("EndpointSuffix", "core.windows.net")
    endpoint = parts.get("QueueEndpoint") or f"{scheme}://{account}.queue.{suffix}"
    return endpoint.rstrip("/"), account, key


_date = (0, "")


def _http_date() -> str:
    """The RFC 1123 date the Shared Key signature covers, made once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]


class BodyTooLarge(ValueError):
    pass


def read_chunked(file, limit: int | None = None) -> bytes:
    """A chunked HTTP/1.1 body from `file`, positioned after the headers; the trailers are skipped.
    BodyTooLarge past `limit` bytes; ValueError for a chunk size that is not a number."""
    chunks, size = [], 0
    while (length := int(file.readline(65537).split(b";")[0], 16)) > 0:
        size += length
        if limit is not None and size > limit:
            raise BodyTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(file.read(length))
        file.readline(65537)  # the CRLF after the chunk
    while file.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers, then the end
        pass
    return b"".join(chunks)


class _Connection:
    """One keep-alive HTTP/1.1 connection. Azurite's answers are small and well-formed, and
    `http.client` parses every response's headers with the e-mail parser: a third of the host's CPU
    went there. This reads the status line and the two headers that frame the body, nothing more."""

    def __init__(self, https: bool, netloc: str) -> None:
        host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        self.netloc = netloc
        sock = socket.create_connection((host, int(port or (443 if https else 80))), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock, self.file = sock, sock.makefile("rb")

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the server keeps the connection open)."""
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.netloc}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode() + body)
        status_line = self.file.readline(65537)
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(None, 2)[1])
        length, chunked, keep = None, False, True
        while (line := self.file.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value == b"chunked"
            elif name == b"connection":
                keep = value != b"close"
        if status in (204, 304) or method == "HEAD":
            data = b""
        elif chunked:
            data = read_chunked(self.file)
        elif length is not None:
            data = self.file.read(length)
        else:
            data, keep = self.file.read(), False
        return status, data, keep

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class _Pool:
    """Idle keep-alive connections to one endpoint, shared by every thread and queue.

    Thread-local connections are no good here: the HTTP server runs each request on a new thread,
    so a webhook's queue write would open (and Azurite accept) a new connection every time.
    """

    def __init__(self, https: bool, netloc: str) -> None:
        self._https, self._netloc = https, netloc
        self._idle: list[tuple[_Connection, float]] = []
        self._lock = threading.Lock()

    def take(self) -> _Connection:
        """The most recently used idle connection, unless the server may have closed it meanwhile
        (Node's HTTP server, Azurite's, closes keep-alive connections idle for 5 s)."""
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if time.monotonic() - since < MAX_IDLE_SECONDS:
                    return conn
                conn.close()
        return self.new()

    def new(self) -> _Connection:
        return _Connection(self._https, self._netloc)

    def give_back(self, conn: _Connection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))


_pools: dict[tuple[bool, str], _Pool] = {}
_pools_lock = threading.Lock()


def _pool_for(https: bool, netloc: str) -> _Pool:
    with _pools_lock:
        return _pools.setdefault((https, netloc), _Pool(https, netloc))


class QueueRest:
    def __init__(self, connection: str, queue: str) -> None:
        endpoint, self.account, key = parse_connection_string(connection)
        url = urlsplit(endpoint)
        self.https, self.netloc, self.base = url.scheme == "https", url.netloc, url.path.rstrip("/")
        self.key, self.queue = base64.b64decode(key), queue
        self._pool = _pool_for(self.https, self.netloc)

    def _request(self, method: str, path: str, query: Mapping[str, str | int] | None = None,
                 body: bytes = b"") -> tuple[int, bytes]:
        path = f"{self.base}/{self.queue}{path}"
        query = {k: str(v) for k, v in (query or {}).items()}
        headers = {"x-ms-date": _http_date(), "x-ms-version": API_VERSION}
        if body:
            headers["Content-Type"] = "application/xml"
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
        canonical_resource = f"/{self.account}{quote(path)}" + "".join(
            f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
        to_sign = "\n".join([method, "", "", str(len(body)) if body else "", "",
                             headers.get("Content-Type", ""), "", "", "", "", "", ""]) + "\n"
        to_sign += canonical_headers + canonical_resource
        signature = base64.b64encode(hmac.new(self.key, to_sign.encode(), hashlib.sha256).digest()).decode()
        headers["Authorization"] = f"SharedKey {self.account}:{signature}"
        target = quote(path) + (f"?{urlencode(query)}" if query else "")
        try:  # a keep-alive connection the server closed meanwhile: once more, on a new one
            return self._exchange(self._pool.take(), method, target, headers, body)
        except (ValueError, IndexError, OSError):  # OSError: ConnectionError, timeouts
            pass
        try:
            return self._exchange(self._pool.new(), method, target, headers, body)
        except (ValueError, IndexError) as e:
            raise ConnectionError(f"bad HTTP response: {e}") from e

    def _exchange(self, conn: _Connection, method: str, target: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, bytes]:
        """One request on `conn`, which goes back to the pool if the server keeps it open."""
        try:
            status, data, keep = conn.request(method, target, headers, body)
        except (ValueError, IndexError, OSError):
            conn.close()
            raise
        if keep:
            self._pool.give_back(conn)
        else:
            conn.close()
        return status, data

    def _check(self, status: int, data: bytes, *ok: int) -> bytes:
        if status not in ok:
            raise StorageError(status, data.decode("utf-8", "replace"))
        return data

    def create(self) -> None:
        self._check(*self._request("PUT", ""), 201, 204, 409)

    def receive(self, count: int, visibility_timeout: int) -> list[Message]:
        query = {"numofmessages": count, "visibilitytimeout": visibility_timeout}
        data = self._check(*self._request("GET", "/messages", query), 200)
        return [Message(m.findtext("MessageId", ""), m.findtext("PopReceipt", ""), int(m.findtext("DequeueCount", "0")),
                        m.findtext("MessageText", ""))
                for m in ET.fromstring(data).iter("QueueMessage")]

    def delete(self, message: Message) -> None:
        query = {"popreceipt": message.pop_receipt}
        self._check(*self._request("DELETE", f"/messages/{message.id}", query), 204)

    def release(self, message: Message, visibility_timeout: int) -> None:
        """Make a message visible again after `visibility_timeout` seconds (keeping its content)."""
        body = f"<QueueMessage><MessageText>{escape(message.content)}</MessageText></QueueMessage>".encode()
        query = {"popreceipt": message.pop_receipt, "visibilitytimeout": visibility_timeout}
        self._check(*self._request("PUT", f"/messages/{message.id}", query, body), 204)

    def send(self, content: str) -> None:
        body = f"<QueueMessage><MessageText>{escape(content)}</MessageText></QueueMessage>".encode()
        status, data = self._request("POST", "/messages", None, body)
        if status == 404:
            self.create()
            status, data = self._request("POST", "/messages", None, body)
        self._check(status, data, 201)
