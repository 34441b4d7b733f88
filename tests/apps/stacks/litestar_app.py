"""Litestar, with a WebSocket: bare `app`, and `wrapped`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.datastructures import Cookie
from litestar.response import Stream

from inspector import ASGIInspectorMiddleware
from tests.apps.stacks import CLOSE_CODE, CLOSE_REASON, PARTS


@get("/hello")
async def hello(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(
        b"hello " + request.headers.get("x-dup", "").encode(),
        media_type="text/plain",
        headers={"X-Mixed-Case": "kept"},
        cookies=[Cookie(key="a", value="1"), Cookie(key="b", value="2")],
    )


@post("/echo", status_code=200)
async def echo(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(await request.body(), media_type="application/octet-stream")


@get("/stream")
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for part in PARTS:
            yield part

    return Stream(parts(), media_type="text/plain")


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    while True:
        message = await socket.receive()
        if message["type"] != "websocket.receive":
            return
        text, data = message.get("text"), message.get("bytes")
        if text == "close":
            await socket.close(CLOSE_CODE, CLOSE_REASON)
            return
        if text is not None:
            await socket.send_text(text)
        elif data is not None:
            await socket.send_bytes(data)


app = Litestar(route_handlers=[hello, echo, stream, ws])
wrapped = ASGIInspectorMiddleware(app)
