"""Small apps for `inspector run`: the same three routes as ASGI and WSGI, bare (the bootstrap
wraps them) and wrapped in code (it must leave them as they are).

`GET /hello` says hello, `POST /echo` answers the body it was sent, anything else is 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware


def answer(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    if method == "GET" and path == "/hello":
        return 200, b"hello"
    if method == "POST" and path == "/echo":
        return 200, body
    return 404, b"no such page"


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, data = answer(scope["method"], scope["path"], body)
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    status, data = answer(environ["REQUEST_METHOD"], environ["PATH_INFO"], body)
    reason = "OK" if status == 200 else "Not Found"
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
    start_response(f"{status} {reason}", headers)
    return [data]


asgi_wrapped = ASGIInspectorMiddleware(asgi_app)
wsgi_wrapped = WSGIInspectorMiddleware(wsgi_app)
