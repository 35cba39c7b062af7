"""The HTTP transport of the Azure SDK clients (Cosmos DB, Storage queues).

azure-core's `RequestsTransport` sends each call through a `requests` Session (settings and cookie
merging, hooks, adapters) and urllib3: about 70 % of the CPU of a Cosmos DB point read here, in a
function app that makes seven such calls per turn. `HttpClientTransport` sends the SDK's request on
a kept-alive `http.client` connection and reads the whole answer, at about a third of that cost. It
reads `connection_verify` and `connection_cert` as requests does (same CA bundle, same forms).

It takes the SDK pipeline's requests (`azure.core.pipeline.transport.HttpRequest`, which the Cosmos
DB client sends). Requests of the newer `azure.core.rest` kind (the Storage clients), multipart or
streamed bodies, and everything when a proxy is configured go through `RequestsTransport`, which
also honours the proxy variables then. `azure_transport("azure-core")` is azure-core's own transport
for every request: the operator's way back without a deploy of new code.
"""
from __future__ import annotations

import http.client
import os
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpResponse, HttpTransport, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.core.utils import case_insensitive_dict
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from requests.utils import DEFAULT_CA_BUNDLE_PATH

TRANSPORTS = ("fast", "azure-core")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
IDLE_SECONDS = 2.0  # a kept-alive connection idle longer may have been closed by the server meanwhile
# what sending on a connection the server closed meanwhile raises; over TLS a write after the reset is an EOF
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ssl.SSLEOFError)
_tracer = trace.get_tracer(__name__)  # no spans until switchboard.telemetry.configure sets a provider


def azure_transport(kind: str = "fast") -> HttpTransport:
    """`kind` is the operator's choice: "azure-core" is the SDK's own transport, to fall back to should
    the fast one misbehave; "fast" is `HttpClientTransport` unless a proxy is configured."""
    if kind not in TRANSPORTS:
        raise ValueError(f"unknown Azure SDK transport {kind!r}: choose one of {', '.join(TRANSPORTS)}")
    if kind == "azure-core" or any(os.environ.get(v) for v in PROXY_VARIABLES):
        return RequestsTransport(use_env_settings=True)
    return HttpClientTransport()


class _Response(HttpResponse):
    """The answer, read whole; `stream_download` hands it out in blocks."""

    def __init__(self, request, response: http.client.HTTPResponse, data: bytes) -> None:
        super().__init__(request, response)
        self.status_code, self.reason, self.data = response.status, response.reason, data
        self.headers = case_insensitive_dict(response.getheaders())
        self.content_type = self.headers.get("Content-Type")

    def body(self) -> bytes:
        return self.data

    def stream_download(self, pipeline, **kwargs) -> Iterator[bytes]:
        return (self.data[i:i + self.block_size] for i in range(0, len(self.data), self.block_size))


class HttpClientTransport(HttpTransport):
    """Thread-safe: connections are taken from a pool for one request and given back once its answer
    is read; one the server closed while it was kept is replaced and the request sent again once."""

    def __init__(self, connection_timeout: float = 300, read_timeout: float = 300) -> None:
        self.connection_timeout, self.read_timeout = connection_timeout, read_timeout
        self._idle: dict[tuple, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self._fallback = RequestsTransport(use_env_settings=False)

    def open(self) -> None:
        pass

    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()
        self._fallback.close()

    def send(self, request, **kwargs: Any):
        verify, cert = _tls_key(kwargs.get("connection_verify"), kwargs.get("connection_cert"))
        body = request.data if not isinstance(request, RestHttpRequest) else None
        if (isinstance(request, RestHttpRequest) or request.files or kwargs.get("proxies")
                or not isinstance(body, (bytes, str, type(None)))):
            return self._fallback.send(request, **{**kwargs, "connection_verify": verify})
        if isinstance(body, str):
            body = body.encode("utf-8")
        url = urlsplit(request.url)
        # The call's one dependency span: the Azure SDKs' own spans are off (switchboard.telemetry), and
        # http.client has no instrumentation. Its URL is redacted as every other's (DropQueryStrings).
        with _tracer.start_as_current_span(request.method, kind=SpanKind.CLIENT, attributes={
                "http.request.method": request.method, "url.full": request.url, "server.address": url.hostname or "",
                "server.port": url.port or (443 if url.scheme == "https" else 80)}) as span:
            response = self._send(request, url, body, verify, cert, kwargs)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    def _send(self, request, url, body: bytes | None, verify, cert, kwargs: dict[str, Any]) -> _Response:
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        key = (url.scheme, url.netloc, (verify, cert))
        connect_timeout = kwargs.get("connection_timeout", self.connection_timeout)
        read_timeout = kwargs.get("read_timeout", self.read_timeout)
        connection, reused = self._take(key)
        try:
            if connection is None:
                connection = self._connect(key, connect_timeout)
            try:
                response, data = _exchange(connection, read_timeout, request.method, target, body, request.headers)
            except _STALE:
                if not reused:
                    raise
                connection.close()  # the server closed it while it was kept: once more, on a new one
                connection = self._connect(key, connect_timeout)
                response, data = _exchange(connection, read_timeout, request.method, target, body, request.headers)
        except TimeoutError as e:
            if connection is not None:  # None: the connection itself timed out
                connection.close()
            raise ServiceResponseTimeoutError(f"no answer from {url.netloc} within {read_timeout}s: {e}",
                                              error=e) from e
        except (OSError, http.client.HTTPException) as e:
            if connection is not None:
                connection.close()
            raise ServiceResponseError(f"{url.netloc}: {type(e).__name__}: {e}", error=e) from e
        if response.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.setdefault(key, []).append((connection, time.monotonic()))
        return _Response(request, response, data)

    def _take(self, key: tuple) -> tuple[http.client.HTTPConnection | None, bool]:
        now = time.monotonic()
        with self._lock:
            connections = self._idle.get(key, [])
            while connections:
                connection, since = connections.pop()
                if now - since < IDLE_SECONDS:
                    return connection, True
                connection.close()
        return None, False

    @staticmethod
    def _connect(key: tuple, timeout: float) -> http.client.HTTPConnection:
        scheme, netloc, (verify, cert) = key
        try:
            if scheme == "https":
                connection = http.client.HTTPSConnection(netloc, timeout=timeout,
                                                         context=_tls_context(verify, cert))
            else:
                connection = http.client.HTTPConnection(netloc, timeout=timeout)
            connection.connect()
        except TimeoutError as e:
            raise ServiceRequestTimeoutError(f"could not connect to {netloc} within {timeout}s",
                                             error=e) from e
        except OSError as e:  # refused, unreachable, name not found, TLS handshake, CA bundle or cert file
            raise ServiceRequestError(f"could not connect to {netloc}: {e}", error=e) from e
        return connection


def _exchange(connection: http.client.HTTPConnection, read_timeout: float, method: str, target: str,
              body: bytes | None, headers) -> tuple[http.client.HTTPResponse, bytes]:
    connection.sock.settimeout(read_timeout)
    connection.request(method, target, body=body, headers=dict(headers))
    response = connection.getresponse()
    return response, response.read()


def _tls_key(verify, cert) -> tuple:
    """`connection_verify` and `connection_cert` as requests reads them, so that both transports trust
    the same servers: True or None is REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's bundle (not
    the system's store); a string is a CA bundle file or directory. The certificate is one file with
    its key, or (certificate, key); the Cosmos DB client sends (None, None) for none."""
    if verify is None or verify is True:
        verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                  or DEFAULT_CA_BUNDLE_PATH)
    elif not verify:  # requests tests it for truth: "" verifies nothing either
        verify = False
    if isinstance(cert, (list, tuple)):
        cert = tuple(cert) if cert and cert[0] else None
    return verify, cert


_contexts: dict[tuple, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _tls_context(verify, cert) -> ssl.SSLContext:
    """One context per (verify, cert), shared by connections and threads: building one reads the CA
    bundle (milliseconds). Threads connecting at the same moment would each build one without the lock."""
    with _contexts_lock:
        context = _contexts.get((verify, cert))
        if context is None:
            context = _contexts[(verify, cert)] = _new_context(verify, cert)
    return context


def _new_context(verify, cert) -> ssl.SSLContext:
    ca = {} if verify is False else {"capath" if os.path.isdir(verify) else "cafile": verify}
    context = ssl.create_default_context(**ca)
    if verify is False:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if cert:
        context.load_cert_chain(*cert) if isinstance(cert, tuple) else context.load_cert_chain(cert)
    context.set_alpn_protocols(["http/1.1"])  # as urllib3 does; http.client sets it only on its own context
    return context
