"""Hello apps for bench/capture.py: bare, wrapped by capture, and reference middlewares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware

from inspector import ASGIInspectorMiddleware, EventBus, WSGIInspectorMiddleware
from inspector.events import Event

ASGI_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"11")] + [
    (b"x-header-%d" % n, b"value") for n in range(3)
]
WSGI_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "11")] + [
    (f"X-Header-{n}", "value") for n in range(3)
]


class Counter:
    """A subscriber that does the least a real one does: looks at every event."""

    def __init__(self) -> None:
        self.events = 0

    def __call__(self, events: Sequence[Event]) -> None:
        self.events += len(events)


def counted_bus() -> EventBus:
    bus = EventBus()
    bus.subscribe(Counter())
    return bus


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": ASGI_HEADERS})
    await send({"type": "http.response.body", "body": b"hello world"})


def asgi_pass_through(app: Any) -> Any:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def inner_receive() -> Any:
            return await receive()

        async def inner_send(message: Any) -> None:
            await send(message)

        await app(scope, inner_receive, inner_send)

    return middleware


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", WSGI_HEADERS)
    return [b"hello world"]


def wsgi_pass_through(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def inner_start_response(*args: Any) -> Any:
            return start_response(*args)

        return app(environ, inner_start_response)

    return middleware


async def _dispatch(request: Any, call_next: Any) -> Any:
    return await call_next(request)


# What the servers load (one bus each, with a subscriber, as in real use).
asgi_captured = ASGIInspectorMiddleware(asgi_app, bus=counted_bus())
asgi_base_http = BaseHTTPMiddleware(asgi_app, dispatch=_dispatch)
wsgi_captured = WSGIInspectorMiddleware(wsgi_app, bus=counted_bus())
