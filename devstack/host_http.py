"""HTTP triggers of the local functions host: `/api/<route>` with `{name}` route parameters.

HTTP/1.1 with keep-alive, as the Functions host serves: a client's connection, and the thread that
serves it, last for many requests. Each answer leaves in one write, with Nagle's algorithm off.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from devstack.storage_rest import BodyTooLarge, read_chunked


class Host(Protocol):
    """What the server reads of the functions host (`functions_host.Host` is it)."""
    route_prefix: str
    routes: list[Any]  # HttpRoute
    cors: str

log = logging.getLogger("functions_host.http")
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's limit on a request body


@dataclass
class HttpRoute:
    name: str
    route: str
    methods: list[str]
    arg_name: str
    function: Callable
    pattern: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)(?::[^}]*)?\\\}", r"(?P<\1>[^/]+)", re.escape(self.route.strip("/")))
        self.pattern = re.compile(f"^{regex}$")


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json_error(status: int, reason: str) -> Answer:
    return Answer(status, json.dumps({"error": reason}).encode(), {"Content-Type": "application/json"})


def dispatch(host: Host, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
    """The answer of the function whose route matches, or the host's own 404/405/500."""
    prefix = "/" + host.route_prefix.strip("/") + "/" if host.route_prefix else "/"
    split = urlsplit(url)
    path = unquote(split.path)
    if not path.startswith(prefix):
        return _json_error(404, f"no function at {path}")
    matched = [(r, m) for r in host.routes if (m := r.pattern.match(path[len(prefix):].strip("/")))]
    if not matched:
        return _json_error(404, f"no function at {path}")
    if method == "OPTIONS" and host.cors:
        return Answer(204)
    allowed = [(r, m) for r, m in matched if not r.methods or method in r.methods]
    if not allowed:
        return _json_error(405, f"{method} is not allowed on {path}")
    route, match = allowed[0]
    req = func.HttpRequest(method, url, headers=headers, params=dict(parse_qsl(split.query, keep_blank_values=True)),
                           route_params=match.groupdict(), body=body)
    try:
        result = route.function(**{route.arg_name: req})
    except Exception:  # the Functions host answers 500 for an unhandled exception, and logs it
        log.exception("function %s failed", route.name)
        return _json_error(500, f"function {route.name} failed")
    if result is None:
        return Answer(204)
    answer = Answer(result.status_code, result.get_body(),
                    {k: v for k, v in result.headers.items() if k.lower() != "content-type"})
    answer.headers["Content-Type"] = f"{result.mimetype or 'text/plain'}; charset={result.charset or 'utf-8'}"
    return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave together, when the request's handling flushes
    timeout = 120  # seconds a kept-alive connection may stay idle before its thread lets it go
    server_version = "local-functions-host"
    host: Host  # the Host this server serves, set by serve()

    def _serve(self) -> None:
        try:
            body = self._body()
        except ValueError as e:  # BodyTooLarge, or a chunk size that is not a number
            answer = _json_error(413 if isinstance(e, BodyTooLarge) else 400, f"bad request body: {e}")
            self.close_connection = True  # what is left of the body cannot be skipped reliably
        else:
            url = f"http://{self.headers.get('Host') or '127.0.0.1'}{self.path}"
            answer = dispatch(self.host, self.command, url, dict(self.headers), body)
        if self.host.cors:
            origin = self.headers.get("Origin", "")
            if self.host.cors == "*" or origin in self.host.cors.split(","):
                answer.headers["Access-Control-Allow-Origin"] = "*" if self.host.cors == "*" else origin
                answer.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
                answer.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def __getattr__(self, name: str):
        """Every other method (HEAD, TRACE, QUERY, made-up ones) reaches dispatch() too: one that no route
        allows is a JSON 405, as the Functions host answers it, not http.server's HTML 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return read_chunked(self.rfile, MAX_REQUEST_BYTES)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError(f"Content-Length is {length}")
        if length > MAX_REQUEST_BYTES:
            raise BodyTooLarge(f"the request body ({length} bytes) is over the limit of {MAX_REQUEST_BYTES} bytes")
        return self.rfile.read(length)

    def log_message(self, format: str, *args) -> None:  # no access line per request, as the host
        pass


def serve(host: Host, address: str, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"host": host})
    server = ThreadingHTTPServer((address, port), handler)  # daemon threads: kept-alive connections
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
