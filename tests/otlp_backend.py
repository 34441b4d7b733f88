"""A real OTLP/HTTP endpoint on 127.0.0.1 for tests, and real traffic to turn into spans.

`Backend` accepts `POST /v1/traces` and decodes each body with the official protobuf
definitions (`opentelemetry-proto`); `hold()` makes it slow (every request waits until
`release()`). `Traffic` serves a Starlette app wrapped by the ASGI middleware with uvicorn,
and `inspect-proxy`'s `Proxy` in front of it, on one loop in a thread, both recording into one
`EventBus`, as `inspector demo` does in its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from inspector import EventBus
from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from inspector.proxy import Proxy, ProxyConfig


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: value(pair.value) for pair in pairs}


@dataclass
class Received:
    """One span as the backend decoded it, with its resource's attributes."""

    span: Span
    resource: dict[str, Any]

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes(self.span.attributes)

    def events(self) -> list[tuple[str, dict[str, Any], int]]:
        return [(e.name, attributes(e.attributes), e.time_unix_nano) for e in self.span.events]


def flatten(request: ExportTraceServiceRequest) -> list[Received]:
    return [
        Received(span, attributes(rs.resource.attributes))
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


class Backend:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        self.released.set()
        self.arrived = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                backend.arrived.set()
                backend.released.wait(30)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)  # the official definitions decode it
                backend.requests.append(request)
                backend.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def spans(self, count: int | None = None, timeout: float = 20.0) -> list[Received]:
        """The spans received so far; with `count`, once at least that many came."""
        deadline = time.monotonic() + timeout
        while True:
            spans = [s for request in list(self.requests) for s in flatten(request)]
            if count is None or len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.02)

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def backend() -> Iterator[Backend]:
    running = Backend()
    try:
        yield running
    finally:
        running.close()


def down_url() -> str:
    """An http URL nothing listens on (a port taken and given back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Traffic:
    """An app (wrapped, on uvicorn) and the proxy in front of it, recording into `bus`."""

    def __init__(self, app_factory: Callable[[EventBus], Any]) -> None:
        self.bus = EventBus()
        self.seen: list[ev.Event] = []
        self.bus.subscribe(self.seen.extend)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="traffic-loop")
        self.thread.start()
        self.app_socket = socket.socket()
        self.app_socket.bind(("127.0.0.1", 0))
        self.app_port = self.app_socket.getsockname()[1]
        config = uvicorn.Config(app_factory(self.bus), log_level="critical", lifespan="off")
        self.server = uvicorn.Server(config)
        self.serving = asyncio.run_coroutine_threadsafe(
            self.server.serve(sockets=[self.app_socket]), self.loop
        )
        while not self.server.started:
            assert not self.serving.done(), self.serving.result()
            time.sleep(0.01)
        config_ = ProxyConfig(("127.0.0.1", self.app_port), ("127.0.0.1", 0))
        self.proxy = Proxy(config_, self.bus)
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)
        self.proxy_url = f"http://127.0.0.1:{self.proxy.port}"
        self.app_url = f"http://127.0.0.1:{self.app_port}"

    def events(self, finished: int, timeout: float = 10.0) -> list[ev.Event]:
        """The events so far, once `finished` exchanges have finished."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.bus.flush()
            events = list(self.seen)
            done = sum(isinstance(e, ev.ExchangeFinished) for e in events)
            if done >= finished or time.monotonic() > deadline:
                assert done == finished, f"{done} exchanges finished, expected {finished}"
                return events
            time.sleep(0.01)

    def exchanges(self, finished: int) -> list[Exchange]:
        return list(fold(self.events(finished)).values())

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10)
        self.server.should_exit = True
        self.serving.result(10)
        self.app_socket.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.bus.close()


@contextlib.contextmanager
def traffic(app_factory: Callable[[EventBus], Any]) -> Iterator[Traffic]:
    running = Traffic(app_factory)
    try:
        yield running
    finally:
        running.close()


def pair_by_request(exchanges: Sequence[Exchange]) -> Callable[[Exchange], Exchange | None]:
    """The test's own pairing of proxy and app records: the same method and path, the app's
    request starting within the proxy's exchange. (The viewer's Diff pairing replaces it.)"""

    def paired(x: Exchange) -> Exchange | None:
        assert x.request is not None
        for other in exchanges:
            o = other.request
            if o is None or (o.source == "proxy") == (x.request.source == "proxy"):
                continue
            if (o.method, o.path) != (x.request.method, x.request.path):
                continue
            proxy, app = (x, other) if x.request.source == "proxy" else (other, x)
            assert proxy.request is not None
            assert app.request is not None
            if proxy.request.wall_time <= app.request.wall_time:
                return other
        return None

    return paired
