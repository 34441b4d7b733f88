"""A small Starlette app whose traffic becomes tests (tests/inspector/observe/test_pytest_*).

`app` answers as captured; with `TRAFFIC_CHANGED=1` in its environment it answers
differently (another item name, another echo), so generated tests must fail against it.
`wrapped` is the same app under the ASGI middleware, sending to `INSPECTOR_BUS`.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from inspector import ASGIInspectorMiddleware

CHANGED = os.environ.get("TRAFFIC_CHANGED") == "1"


async def items(request: Request) -> Response:
    name = "spanner" if CHANGED else "hammer"
    return JSONResponse({"items": [{"id": 1, "name": name}], "count": 1})


async def create(request: Request) -> Response:
    data = await request.json()
    headers = {"location": f"/api/items/{data['id']}", "cache-control": "no-store"}
    return JSONResponse({"created": data}, status_code=201, headers=headers)


async def login(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))  # no python-multipart needed
    response = RedirectResponse("/home", status_code=303)
    response.set_cookie("session", f"s-{form['user']}")
    response.set_cookie("theme", "dark")
    return response


async def page(request: Request) -> Response:
    text = "changed" if CHANGED else f"hello {request.query_params.get('name', 'you')}"
    return PlainTextResponse(text, headers={"cache-control": "max-age=60"})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "bye":
            await websocket.close(1000)
            return
        if text.startswith("{"):
            await websocket.send_json({"echo": "changed" if CHANGED else text})
        else:
            await websocket.send_text(("again: " if CHANGED else "echo: ") + text)


app = Starlette(
    routes=[
        Route("/api/items", items),
        Route("/api/items", create, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/page", page),
        WebSocketRoute("/ws/echo", echo),
    ]
)
wrapped = ASGIInspectorMiddleware(app)
