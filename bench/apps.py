"""Hello apps for bench/capture.py: bare, a minimal pass-through, capture, and a reference.

The factories at the bottom are what the servers load (`uvicorn --factory`, gunicorn's
`module:factory()`), so importing this module starts no bus thread of its own.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from inspector import ASGIInspectorMiddleware, EventBus, WSGIInspectorMiddleware
from inspector.events import Event

BODY = b"hello world"
ASGI_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(BODY))] + [
    (b"x-header-%d" % n, b"value") for n in range(3)
]
WSGI_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))] + [
    (f"X-Header-{n}", "value") for n in range(3)
]


class Counter:
    """A subscriber that does the least a real one does: takes every batch and counts it.

    `last` is when the latest batch arrived (perf_counter), so a timer can stop at the moment
    the bus thread finished rather than when a waiting `flush()` happened to wake up.
    """

    def __init__(self) -> None:
        self.events = 0
        self.batches = 0
        self.last = 0.0

    def __call__(self, events: Sequence[Event]) -> None:
        self.events += len(events)
        self.batches += 1
        self.last = time.perf_counter()


def counted_bus(**kwargs: Any) -> tuple[EventBus, Counter]:
    bus = EventBus(**kwargs)
    counter = Counter()
    bus.subscribe(counter)
    return bus, counter


# -- the apps --------------------------------------------------------------------------------


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the request (one `http.request`), answers 5 headers and an 11-byte body."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": ASGI_HEADERS})
    await send({"type": "http.response.body", "body": BODY})


AT_SHUTDOWN: list[Callable[[], None]] = []


async def lifespan(receive: Any, send: Any) -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown, so atexit never runs there:
    the lifespan shutdown is the last chance to report."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for callback in AT_SHUTDOWN:
                callback()
            await send({"type": "lifespan.shutdown.complete"})
            return


def asgi_pass_through(app: Any) -> Any:
    """The least a pure ASGI middleware that sees every message does: wrap and forward."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def inner_receive() -> Any:
            return await receive()

        async def inner_send(message: Any) -> None:
            await send(message)

        await app(scope, inner_receive, inner_send)

    return middleware


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Reads the request body if there is one, answers 5 headers and an 11-byte body."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        environ["wsgi.input"].read(int(length))
    start_response("200 OK", WSGI_HEADERS)
    return [BODY]


def wsgi_pass_through(app: Any) -> Any:
    """The least a WSGI middleware that sees the response does: wrap `start_response`."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def inner_start_response(*args: Any) -> Any:
            return start_response(*args)

        return app(environ, inner_start_response)

    return middleware


# -- what the servers load -------------------------------------------------------------------


def _report_at_exit(bus: EventBus, counter: Counter) -> None:
    """Write what the bus did to $BENCH_STATS_DIR/<pid>.json at exit, so the benchmark can
    check that every event was built and delivered (none dropped) under load."""
    directory = os.environ.get("BENCH_STATS_DIR")
    if not directory:
        return

    def report() -> None:
        bus.flush(5)
        stats = bus.stats()
        data = {
            "delivered": counter.events,
            "batches": counter.batches,
            "dropped": stats.dropped,
            "capture_errors": stats.capture_errors,
            "subscriber_errors": stats.subscriber_errors,
        }
        with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as file:
            json.dump(data, file)

    atexit.register(report)  # gunicorn workers
    AT_SHUTDOWN.append(report)  # uvicorn


def asgi_bare() -> Any:
    return asgi_app


def asgi_passed() -> Any:
    return asgi_pass_through(asgi_app)


def asgi_captured() -> Any:
    bus, counter = counted_bus()
    _report_at_exit(bus, counter)
    return ASGIInspectorMiddleware(asgi_app, bus=bus)


def asgi_base_http() -> Any:
    from starlette.middleware.base import BaseHTTPMiddleware

    async def dispatch(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    return BaseHTTPMiddleware(asgi_app, dispatch=dispatch)  # type: ignore[arg-type]


def wsgi_bare() -> Any:
    return wsgi_app


def wsgi_captured() -> Any:
    bus, counter = counted_bus()
    _report_at_exit(bus, counter)
    return WSGIInspectorMiddleware(wsgi_app, bus=bus)
