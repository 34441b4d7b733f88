"""`python -m tui.demo`: a small Starlette app, captured live, with gentle traffic.

The app (JSON API, form POST, a slow endpoint, an error, Server-Sent Events and a WebSocket
echo) is wrapped by `ASGIInspectorMiddleware` and served by uvicorn on 127.0.0.1; a traffic
generator calls it every so often and the headless log prints every exchange it captured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

from inspector import ASGIInspectorMiddleware, default_bus
from tui.console import ConsoleLog

ITEMS = [{"id": 1, "name": "kettle", "price": 24.5}, {"id": 2, "name": "teapot", "price": 18.0}]


async def items(request: Request) -> JSONResponse:
    return JSONResponse({"items": ITEMS, "page": int(request.query_params.get("page", 1))})


async def form(request: Request) -> PlainTextResponse:
    fields = parse_qs((await request.body()).decode())
    return PlainTextResponse(f"thanks, {fields.get('name', ['stranger'])[0]}", status_code=201)


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(0.4)
    return JSONResponse({"slept_ms": 400})


async def error(request: Request) -> Response:
    raise RuntimeError("the demo app failed on purpose")


async def events(request: Request) -> StreamingResponse:
    async def stream() -> AsyncIterator[str]:
        for n in range(3):
            yield f"event: tick\ndata: {json.dumps({'n': n})}\n\n"
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.send_text("echo: " + await websocket.receive_text())


def demo_app() -> Starlette:
    routes = [
        Route("/api/items", items),
        Route("/form", form, methods=["POST"]),
        Route("/slow", slow),
        Route("/error", error),
        Route("/events", events),
        WebSocketRoute("/ws", echo),
    ]
    return Starlette(routes=routes, middleware=[Middleware(ASGIInspectorMiddleware)])


async def traffic(base: str, pause: float) -> None:
    """Call each endpoint in turn, forever, `pause` seconds apart."""
    async with httpx.AsyncClient(base_url=base) as client:
        for n in itertools.count(1):
            step = n % 6
            with contextlib.suppress(httpx.HTTPError, OSError):
                if step == 1:
                    await client.get("/api/items", params={"page": n})
                elif step == 2:
                    await client.post("/form", data={"name": f"visitor {n}"})
                elif step == 3:
                    await client.get("/slow")
                elif step == 4:
                    await client.get("/error")
                elif step == 5:
                    await client.get("/events")
                else:
                    async with connect(base.replace("http", "ws", 1) + "/ws") as ws:
                        for word in ("hello", "inspector"):
                            await ws.send(word)
                            await ws.recv()
            await asyncio.sleep(pause)


async def main(port: int, pause: float, duration: float | None) -> None:
    default_bus().subscribe(ConsoleLog())
    config = uvicorn.Config(demo_app(), host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # re-raise a failure to bind, for one
            raise SystemExit(f"could not serve on 127.0.0.1:{port}")
        await asyncio.sleep(0.05)
    print(
        f"demo app on http://127.0.0.1:{port}  (captured by ASGIInspectorMiddleware; Ctrl-C stops)"
    )
    generator = asyncio.create_task(traffic(f"http://127.0.0.1:{port}", pause))
    try:
        await asyncio.wait(
            [serving, generator], timeout=duration, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        generator.cancel()
        server.should_exit = True
        await serving
        default_bus().flush()


def run() -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--pause", type=float, default=0.7, help="seconds between demo requests")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.port, args.pause, args.duration))


if __name__ == "__main__":
    run()
