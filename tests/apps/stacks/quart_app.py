"""Quart, with a WebSocket: bare `app`, and `wrapped`, whose `asgi_app` is wrapped as Quart's
docs wrap one."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Quart, Response, request, websocket
from werkzeug.datastructures import Headers

from inspector import ASGIInspectorMiddleware
from tests.apps.stacks import CLOSE_CODE, CLOSE_REASON, HEADERS, PARTS


def create_app() -> Quart:
    app = Quart(__name__)

    @app.get("/hello")
    async def hello() -> Response:
        return Response(
            b"hello " + request.headers.get("X-Dup", "").encode(), headers=Headers(HEADERS)
        )

    @app.post("/echo")
    async def echo() -> Response:
        return Response(await request.get_data(), content_type="application/octet-stream")

    @app.get("/stream")
    async def stream() -> Response:
        async def parts() -> AsyncIterator[bytes]:
            for part in PARTS:
                yield part

        return Response(parts(), content_type="text/plain")

    @app.websocket("/ws")
    async def ws() -> None:
        while True:
            message = await websocket.receive()
            if message == "close":
                await websocket.close(CLOSE_CODE, CLOSE_REASON)
                return
            await websocket.send(message)

    return app


app = create_app()
wrapped = create_app()
# Quart types its ASGI messages as TypedDicts, which are not MutableMapping[str, Any].
wrapped.asgi_app = ASGIInspectorMiddleware(wrapped.asgi_app)  # type: ignore[method-assign,assignment]
