"""A Starlette WebSocket chat for the replay tests: `/ws/chat` accepts the subprotocol it is
offered, answers each text message with `$CHAT_PREFIX` + the text (`echo: ` by default) and
each binary message with its length, says goodbye (server close 4000) on `bye`; `/ws/deny`
refuses the handshake (403); `/api/echo` answers JSON describing the request."""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

PREFIX = os.environ.get("CHAT_PREFIX", "echo: ")


async def chat(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.send_text(json.dumps({"type": "hello", "prefix": PREFIX}))
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            if message["text"] == "bye":
                await websocket.close(4000, "goodbye")
                return
            await websocket.send_text(PREFIX + message["text"])
        else:
            await websocket.send_bytes(len(message["bytes"]).to_bytes(4, "big"))


async def deny(websocket: WebSocket) -> None:
    await websocket.close(1008)


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {"method": request.method, "path": request.url.path, "body": body.decode(), "v": PREFIX}
    )


app = Starlette(
    routes=[
        WebSocketRoute("/ws/chat", chat),
        WebSocketRoute("/ws/deny", deny),
        Route("/api/echo", echo, methods=["GET", "POST", "PUT"]),
    ]
)
