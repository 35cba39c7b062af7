"""HTTP triggers of the local functions host: `/api/<route>` with `{name}` route parameters."""
from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Callable

import azure.functions as func
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger("functions_host.http")


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


def _json_error(status: int, reason: str) -> Response:
    return Response(json.dumps({"error": reason}), status=status, mimetype="application/json")


def make_wsgi(host) -> Callable:
    prefix = "/" + host.route_prefix.strip("/") + "/" if host.route_prefix else "/"

    def app(environ, start_response):
        request = Request(environ)
        response = dispatch(request)
        if host.cors:
            origin = request.headers.get("Origin", "")
            if host.cors == "*" or origin in host.cors.split(","):
                response.headers["Access-Control-Allow-Origin"] = "*" if host.cors == "*" else origin
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response(environ, start_response)

    def dispatch(request: Request) -> Response:
        if not request.path.startswith(prefix):
            return _json_error(404, f"no function at {request.path}")
        path = request.path[len(prefix):].strip("/")
        matched = [(r, m) for r in host.routes if (m := r.pattern.match(path))]
        if not matched:
            return _json_error(404, f"no function at {request.path}")
        if request.method == "OPTIONS" and host.cors:
            return Response(status=204)
        allowed = [(r, m) for r, m in matched if not r.methods or request.method in r.methods]
        if not allowed:
            return _json_error(405, f"{request.method} is not allowed on {request.path}")
        route, match = allowed[0]
        req = func.HttpRequest(request.method, request.url, headers=dict(request.headers),
                               params=dict(request.args), route_params=match.groupdict(),
                               body=request.get_data())
        try:
            result = route.function(**{route.arg_name: req})
        except Exception:  # the Functions host answers 500 for an unhandled exception, and logs it
            log.exception("function %s failed", route.name)
            return _json_error(500, f"function {route.name} failed")
        if result is None:
            return Response(status=204)
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        mimetype = result.mimetype or "text/plain"
        return Response(result.get_body(), status=result.status_code, headers=headers,
                        content_type=f"{mimetype}; charset={result.charset or 'utf-8'}")

    return app


def serve(host, address: str, port: int):
    server = make_server(address, port, make_wsgi(host), threaded=True)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
