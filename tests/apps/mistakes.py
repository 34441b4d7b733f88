"""Apps that make the protocol mistakes the spec checks flag, one per path, wrapped so their
events reach the test (see `recording.py`): `asgi` for uvicorn, `wsgi` for gunicorn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware
from tests.apps.recording import recording_bus

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
TEXT = (b"content-type", b"text/plain")


def _start(status: int, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def _body(body: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


_ASGI_HTTP: dict[str, list[dict[str, Any]]] = {
    "/start-twice": [_start(200, TEXT), _start(500, TEXT)],
    "/body-after-end": [_start(200, TEXT), _body(b"a"), _body(b"b")],
    "/unfinished": [_start(200, TEXT), _body(b"a", more=True)],
    "/upper-case": [_start(200, (b"Content-Type", b"text/plain")), _body(b"a")],
    "/no-type": [_start(200), _body(b"hello")],
    "/redirect": [_start(302), _body()],
    "/unauthorized": [_start(401, TEXT), _body(b"no")],
    "/not-allowed": [_start(405, TEXT), _body(b"no")],
    "/duplicate": [_start(200, TEXT, TEXT), _body(b"a")],
    "/body-on-204": [_start(204), _body(b"oops")],
    "/ok": [_start(200, TEXT, (b"content-length", b"2")), _body(b"ok")],
    "/ok-stream": [_start(200, TEXT), _body(b"a", more=True), _body(b"b", more=True), _body()],
    "/ok-204": [_start(204), _body()],
    "/ok-redirect": [_start(303, (b"location", b"/ok")), _body()],
    "/str-body": [_start(200, TEXT), {"type": "http.response.body", "body": "text"}],
}


async def _asgi(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":
        for message in _ASGI_HTTP[scope["path"]]:
            await send(message)
        return
    await receive()  # websocket.connect
    path = scope["path"]
    if path == "/ws/send-before-accept":
        await send({"type": "websocket.send", "text": "too early"})
    elif path == "/ws/subprotocol":
        await send({"type": "websocket.accept", "subprotocol": "not.offered"})
        await send({"type": "websocket.close", "code": 1000})
    elif path == "/ws/ok":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        await send({"type": "websocket.close", "code": 1000})
    elif path == "/ws/close-code":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1005})


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    path = environ["PATH_INFO"]
    if path == "/hop-by-hop":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
        return [b"hop"]
    if path == "/no-reason":
        start_response("200", [("Content-Type", "text/plain")])
        return [b"terse"]
    if path == "/twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"twice"]
    if path == "/write-after":
        write = start_response("200 OK", [("Content-Type", "text/plain")])

        def late() -> Iterator[bytes]:
            yield b"first "
            write(b"late")

        return late()
    if path == "/short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"abc"]
    if path == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return iter([b"o", b"k"])
    start_response("200 OK", [("Content-Length", "5")])  # /no-type
    return [b"hello"]


asgi = ASGIInspectorMiddleware(_asgi, bus=recording_bus())
wsgi = WSGIInspectorMiddleware(_wsgi, bus=recording_bus())
