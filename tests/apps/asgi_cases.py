"""Tricky raw ASGI apps, served bare (`app`) and wrapped (`wrapped`) for differential tests.

One app routes on the path so a single uvicorn process serves every case; the wrapped one
records events to the file the test harness reads (see `recording.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from inspector import ASGIInspectorMiddleware
from tests.apps.recording import recording_bus

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HEADERS = [
    (b"content-type", b"text/plain"),
    (b"set-cookie", b"a=1"),
    (b"x-Mixed-Case", b"kept"),
    (b"set-cookie", b"b=2"),
]
_gate = asyncio.Event()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, headers: list[Any], *chunks: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for chunk in chunks[:-1]:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": chunks[-1] if chunks else b""})


async def http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/plain":
        await _body(receive)
        await _respond(send, 200, HEADERS, b"hello")
    elif path == "/stream":
        await _respond(send, 200, [(b"content-type", b"text/plain")], b"a", b"", b"bc", b"", b"")
    elif path == "/no-content":
        await _respond(send, 204, [])
    elif path == "/not-modified":
        await _respond(send, 304, [(b"etag", b'"v1"')])
    elif path == "/echo":
        body = await _body(receive)
        length = str(len(body)).encode()
        await _respond(send, 200, [(b"content-length", length)], body)
    elif path == "/error-before":
        raise RuntimeError("failed before the response")
    elif path == "/error-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("failed mid-stream")
    elif path == "/gated":
        # The second chunk waits for a request to /release: proof that nothing is buffered.
        _gate.clear()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await _gate.wait()
        await send({"type": "http.response.body", "body": b"second"})
    elif path == "/release":
        _gate.set()
        await _respond(send, 200, [], b"released")
    elif path == "/wait-disconnect":
        await _body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
    else:
        await _respond(send, 404, [], b"no such case")


async def websocket(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect"
    if path == "/ws/echo":
        await send({"type": "websocket.accept", "subprotocol": None, "headers": [(b"x-ws", b"1")]})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close please":
                await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
                return
            reply = {"type": "websocket.send"}
            if message.get("text") is not None:
                reply["text"] = message["text"]
            else:
                reply["bytes"] = message["bytes"]
            await send(reply)
    elif path == "/ws/subprotocol":
        await send({"type": "websocket.accept", "subprotocol": "chat.v2"})
        await send({"type": "websocket.send", "text": ""})
        await send({"type": "websocket.send", "bytes": b""})
        await send({"type": "websocket.close", "code": 1000, "reason": ""})
    elif path == "/ws/close-before-accept":
        await send({"type": "websocket.close", "code": 1000})
    elif path == "/ws/denial":
        headers = [(b"content-type", b"text/plain"), (b"x-denied", b"yes")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "websocket":
        await websocket(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return


wrapped = ASGIInspectorMiddleware(app, bus=recording_bus())
