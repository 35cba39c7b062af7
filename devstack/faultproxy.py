"""A fault-injecting TCP proxy for the local stack (what Toxiproxy does, in one asyncio process).

    python -m devstack.faultproxy --control PORT NAME=LISTEN_PORT:UPSTREAM_PORT [NAME=...]

Each NAME forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:UPSTREAM_PORT. The stack points its clients
at the listen ports; a test or benchmark changes a proxy's behaviour at run time over HTTP:

    PUT    /proxies/NAME  {"fault": "refuse"}                 new connections refused, open ones reset
    PUT    /proxies/NAME  {"fault": "reset"}                  every connection reset (RST) as it comes
    PUT    /proxies/NAME  {"fault": "latency", "ms": 50}      each request towards the service waits 50 ms
    PUT    /proxies/NAME  {"fault": "stall"}                  accepted, read, never answered
    PUT    /proxies/NAME  {"fault": "http", "status": 429, "retry_after_ms": 1000}
                                                             an HTTP service answers every request so
                                                             (Retry-After and x-ms-retry-after-ms set)
    DELETE /proxies/NAME                                      back to forwarding
    GET    /proxies                                           each proxy's fault and counters

A change of fault closes the connections opened under the previous one, as a load balancer that
changes its mind would: kept-alive clients meet the new behaviour on their next request.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
from dataclasses import dataclass, field

FAULTS = ("refuse", "reset", "latency", "stall", "http")
REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Proxy:
    name: str
    listen: int
    upstream: int
    fault: dict = field(default_factory=dict)  # {} forwards
    server: asyncio.base_events.Server | None = None
    connections: set = field(default_factory=set)  # (reader, writer) of the clients
    counters: dict = field(default_factory=lambda: {"connections": 0, "refused_or_reset": 0, "http_faults": 0})

    async def start(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.listen, reuse_address=True)

    async def set(self, fault: dict) -> None:
        self.fault = fault
        for _, writer in list(self.connections):
            _close(writer, reset=fault.get("fault") in ("refuse", "reset"))
        self.connections.clear()
        if fault.get("fault") == "refuse" and self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        elif fault.get("fault") != "refuse":
            await self.start()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["connections"] += 1
        kind = self.fault.get("fault")
        if kind in ("refuse", "reset"):
            self.counters["refused_or_reset"] += 1
            _close(writer, reset=True)
            return
        pair = (reader, writer)
        self.connections.add(pair)
        try:
            if kind == "stall":
                while await reader.read(65536):
                    pass
            elif kind == "http":
                await self.answer_http(reader, writer, self.fault)
            else:
                await self.forward(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self.connections.discard(pair)
            _close(writer)

    async def forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            _close(writer, reset=True)  # the service itself is down: the client sees what it would
            return
        fault, turn = self.fault, {"answered": True}  # has the service spoken since the client last did?

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, towards_service: bool) -> None:
            try:
                while data := await src.read(65536):
                    if self.fault is not fault:  # the fault changed under this connection
                        break
                    if towards_service and fault.get("fault") == "latency" and turn["answered"]:
                        await asyncio.sleep(fault.get("ms", 0) / 1000)  # once per request, as a longer
                    turn["answered"] = not towards_service  # round trip would, not per packet
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                _close(dst)

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    async def answer_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fault: dict) -> None:
        """Answer each request on the connection with the fault's status, reading (and dropping) it."""
        status, after_ms = int(fault.get("status", 503)), int(fault.get("retry_after_ms", 1000))
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if length:
                await reader.readexactly(length)
            body = json.dumps({"code": REASONS.get(status, "Fault"), "message": f"injected {status}"}).encode()
            writer.write(b"".join([
                f"HTTP/1.1 {status} {REASONS.get(status, 'Fault')}\r\n".encode(),
                f"Retry-After: {max(1, round(after_ms / 1000))}\r\n".encode(),
                f"x-ms-retry-after-ms: {after_ms}\r\n".encode(),
                b"Content-Type: application/json\r\n",
                f"Content-Length: {len(body)}\r\n\r\n".encode(), body]))
            await writer.drain()
            self.counters["http_faults"] += 1

    def describe(self) -> dict:
        return {"listen": self.listen, "upstream": self.upstream, "fault": self.fault, **self.counters}


def _close(writer: asyncio.StreamWriter, reset: bool = False) -> None:
    try:
        if reset:  # SO_LINGER 0: the peer gets an RST, not a polite FIN
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
    except (OSError, RuntimeError):
        pass


def check_fault(body: dict) -> dict:
    """A fault as the control API takes it, or ValueError naming what is wrong."""
    kind = body.get("fault")
    if kind not in FAULTS:
        raise ValueError(f"'fault' must be one of {', '.join(FAULTS)}")
    if kind == "latency" and not (isinstance(body.get("ms"), (int, float)) and 0 <= body["ms"] <= 60_000):
        raise ValueError("'ms' must be a number of milliseconds from 0 to 60000")
    if kind == "http" and body.get("status", 503) not in REASONS:
        raise ValueError(f"'status' must be one of {', '.join(map(str, REASONS))}")
    return {k: body[k] for k in ("fault", "ms", "status", "retry_after_ms") if k in body}


async def control(proxies: dict[str, Proxy], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP/1.1 request per connection: the smallest control API that curl and httpx can speak."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines)
                       if k.strip().lower() == "content-length"), 0)
        raw = await reader.readexactly(length) if length else b""
        status, answer = await _route(proxies, method, path, raw)
    except (ValueError, asyncio.IncompleteReadError) as e:
        status, answer = 400, {"error": str(e)}
    body = json.dumps(answer).encode()
    writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()


async def _route(proxies: dict[str, Proxy], method: str, path: str, raw: bytes) -> tuple[int, dict]:
    if path == "/proxies" and method == "GET":
        return 200, {name: p.describe() for name, p in proxies.items()}
    name = path.removeprefix("/proxies/")
    if not path.startswith("/proxies/") or name not in proxies:
        return 404, {"error": f"no proxy {name!r}; there are {', '.join(proxies)}"}
    proxy = proxies[name]
    if method == "DELETE":
        await proxy.set({})
        return 200, proxy.describe()
    if method == "PUT":
        body = json.loads(raw or b"{}")
        await proxy.set(check_fault(body if isinstance(body, dict) else {}))
        return 200, proxy.describe()
    return 405, {"error": "use GET /proxies, PUT or DELETE /proxies/NAME"}


def parse_route(text: str) -> Proxy:
    try:
        name, ports = text.split("=", 1)
        listen, upstream = (int(p) for p in ports.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=LISTEN_PORT:UPSTREAM_PORT") from None
    return Proxy(name, listen, upstream)


async def serve(control_port: int, proxies: list[Proxy]) -> None:
    by_name = {p.name: p for p in proxies}
    for proxy in proxies:
        await proxy.start()
    server = await asyncio.start_server(lambda r, w: control(by_name, r, w), "127.0.0.1", control_port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.faultproxy",
                                     description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--control", type=int, required=True, help="the control API's port")
    parser.add_argument("routes", nargs="+", type=parse_route, metavar="NAME=LISTEN:UPSTREAM")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.control, args.routes))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
