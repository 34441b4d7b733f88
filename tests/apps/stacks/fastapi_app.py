"""FastAPI, with a WebSocket: bare `app`, and `wrapped`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import StreamingResponse

from inspector import ASGIInspectorMiddleware
from tests.apps.stacks import CLOSE_CODE, CLOSE_REASON, HEADERS, PARTS

app = FastAPI()


@app.get("/hello")
async def hello(request: Request) -> Response:
    response = Response(b"hello " + request.headers.get("x-dup", "").encode())
    for name, value in HEADERS:
        response.headers.append(name, value)
    return response


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for part in PARTS:
            yield part

    return StreamingResponse(parts(), media_type="text/plain")


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await websocket.close(CLOSE_CODE, CLOSE_REASON)
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


wrapped = ASGIInspectorMiddleware(app)
