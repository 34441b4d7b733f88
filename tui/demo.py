"""`inspector demo`: a small Starlette app behind the proxy, with gentle traffic, in the viewer.

The app (JSON API, form POST, a slow endpoint, an error, Server-Sent Events and a WebSocket
echo) is served by uvicorn on 127.0.0.1, wrapped by `ASGIInspectorMiddleware`; `inspect-proxy`
sits in front of it, and a traffic generator calls the proxy every so often, keeping one
WebSocket open to inject into and intercept from the viewer. This process is
the hot side, as a user's app and proxy would be: both capture points record into one sink,
and the viewer runs in a child process (`tui.observer`), showing each exchange as the proxy
saw it and as the app did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any
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
from websockets.exceptions import WebSocketException

from inspector import ASGIInspectorMiddleware
from inspector.records import Recorder

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


def demo_app(bus: Recorder | None) -> Starlette:
    routes = [
        Route("/api/items", items),
        Route("/form", form, methods=["POST"]),
        Route("/slow", slow),
        Route("/error", error),
        Route("/events", events),
        WebSocketRoute("/ws", echo),
    ]
    if bus is None:
        return Starlette(routes=routes)
    return Starlette(routes=routes, middleware=[Middleware(ASGIInspectorMiddleware, bus=bus)])


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


async def chat(base: str, pause: float) -> None:
    """One WebSocket kept open for the whole demo, saying something every few seconds: a
    live connection to inject into (`i`) or intercept (`I`) from the viewer. Uncompressed, so
    intercept can read and edit its messages even when armed after it opened (a compressed
    one with context takeover can then only be matched by direction, type and size)."""
    url = base.replace("http", "ws", 1) + "/ws"
    while True:
        with contextlib.suppress(OSError, WebSocketException):
            async with connect(url, compression=None) as ws:
                for said in itertools.count(1):
                    await ws.send(f"still here ({said})")
                    await ws.recv()
                    await asyncio.sleep(max(pause, 0.5) * 5)
        await asyncio.sleep(1.0)  # the app restarted, say: connect again


class _Discard:
    """A recorder for the capture point `--capture` leaves out."""

    def record(self, *fields: Any) -> None:
        pass

    def failed(self, exchange_id: str, where: str, exc: BaseException) -> None:
        pass


async def main(args: argparse.Namespace) -> None:
    from inspector.proxy import Proxy, ProxyConfig, parse_address
    from inspector.proxy.control import ControlServer
    from tui.cli import _set_soon, listen_error
    from tui.observer import ObserverChild

    # Bound here, not by uvicorn: it would log a busy port (at a level we silence) and exit.
    # First, so a busy port leaves nothing behind (the observer makes a directory).
    app_socket = _bind_app(args.app_port)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    observer = ObserverChild(args, name="inspector demo", on_stop=lambda: _set_soon(loop, stopped))
    sink = observer.sink
    app = demo_app(sink if args.capture in ("asgi", "both") else None)
    config = uvicorn.Config(app, log_level="critical")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[app_socket]))
    tasks: list[asyncio.Task[Any]] = [serving]
    proxy: Proxy | None = None
    control: ControlServer | None = None
    try:
        while not server.started:
            if serving.done():
                await serving  # re-raise a failure to bind, for one
                raise OSError(f"the demo app could not serve on 127.0.0.1:{args.app_port}")
            await asyncio.sleep(0.02)
        app_port = server.servers[0].sockets[0].getsockname()[1]
        recorder = sink if args.capture in ("proxy", "both") else _Discard()
        listen = parse_address(args.port)
        relay = ProxyConfig(("127.0.0.1", app_port), listen, hold_timeout=args.hold_timeout)
        proxy = Proxy(relay, recorder)
        try:
            await proxy.start()
        except OSError as exc:
            raise listen_error(exc, "{}:{}".format(*listen), "--port") from None
        # Inject, intercept: the viewer child acts on the proxy's traffic through this socket.
        control = ControlServer(observer.control_path, proxy.steering)
        await control.start()
        base = f"http://127.0.0.1:{proxy.port}"
        where = f"demo app on http://127.0.0.1:{app_port} behind inspect-proxy on {base}"
        print(where, flush=True)
        # Replays go to the app itself: through the proxy they would be captured three times.
        observer.start("inspector demo", where, f"http://127.0.0.1:{app_port}", control=True)
        tasks.append(asyncio.create_task(traffic(base, args.pause)))
        tasks.append(asyncio.create_task(chat(base, args.pause)))
        tasks.append(asyncio.create_task(stopped.wait()))
        if args.duration is not None:
            tasks.append(asyncio.create_task(asyncio.sleep(args.duration)))
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks[1:]:
            task.cancel()
        if control is not None:
            await control.close()
        if proxy is not None:
            await proxy.close()
        server.should_exit = True
        await serving
        app_socket.close()
        observer.close()


def _bind_app(port: int) -> socket.socket:
    from tui.cli import listen_error

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise listen_error(exc, f"127.0.0.1:{port}", "--app-port") from None
    return sock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", default="8080", help="where the proxy listens")
    parser.add_argument(
        "--app-port", metavar="PORT", type=int, default=0, help="the demo app's port (default: any)"
    )
    parser.add_argument(
        "--pause", metavar="S", type=float, default=0.7, help="seconds between demo requests"
    )
    parser.add_argument(
        "--duration",
        metavar="S",
        type=float,
        help="stop after this many seconds (default: when the viewer quits, or Ctrl-C)",
    )
    parser.add_argument(
        "--capture",
        choices=["proxy", "asgi", "both"],
        default="both",
        help="where to capture: at the proxy, in the app (ASGI middleware) or both",
    )
    parser.add_argument(
        "--hold-timeout",
        metavar="S",
        type=float,
        default=60.0,
        help="seconds intercepted traffic is held before it goes on unchanged (default 60)",
    )


def run(args: argparse.Namespace) -> None:
    from tui.cli import run as run_loop

    run_loop(main(args))
