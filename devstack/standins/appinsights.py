"""Application Insights' track endpoint, local: the Azure Monitor exporter posts its envelopes here
(POST /v2.1/track or /v2/track: a JSON array, gzipped or not) when a connection string's
IngestionEndpoint names it, and is told every item was taken. What arrives goes to `on_items`.
Used by the telemetry tests and the cost benchmark; not part of `make run`."""
from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TrackEndpoint:
    def __init__(self, on_items: Callable[[list[dict]], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body)
                on_items(items)
                answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items),
                                     "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.connection_string = ("InstrumentationKey=00000000-0000-0000-0000-000000000001;"
                                  f"IngestionEndpoint=http://127.0.0.1:{self.port}/")

    def start(self) -> TrackEndpoint:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
