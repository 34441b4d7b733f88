"""The apps the benchmarks serve: a hello app (ASGI and WSGI) and a WebSocket echo.

Servers load these by name (`uvicorn bench.hello:asgi_app`, `gunicorn 'bench.hello:wsgi_app'`);
the `*_captured` factories wrap them as a user would, with the middleware's defaults: records
go to the process-wide sink, whose address comes from `INSPECTOR_BUS`. Importing this module
starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BODY = b"hello world"
ASGI_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(BODY))] + [
    (b"x-header-%d" % n, b"value") for n in range(3)
]
WSGI_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))] + [
    (f"X-Header-{n}", "value") for n in range(3)
]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HTTP: reads the request, answers 5 headers and 11 bytes. WebSocket: echoes every
    message until the client closes."""
    kind = scope["type"]
    if kind == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": ASGI_HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes")})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Reads the request body if there is one, answers 5 headers and 11 bytes."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        environ["wsgi.input"].read(int(length))
    start_response("200 OK", WSGI_HEADERS)
    return [BODY]


def asgi_captured() -> Any:
    from inspector import ASGIInspectorMiddleware

    return ASGIInspectorMiddleware(asgi_app)


def wsgi_captured() -> Any:
    from inspector import WSGIInspectorMiddleware

    return WSGIInspectorMiddleware(wsgi_app)
