"""The upstream app of the proxy tests: the ASGI cases plus streaming, size and timing cases.

Served bare by uvicorn in its own process, so direct and proxied responses can be compared
byte for byte. Paths not handled here go to `tests.apps.asgi_cases.app`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from tests.apps.asgi_cases import Receive, Send
from tests.apps.asgi_cases import app as cases

_sse_gate = asyncio.Event()


def _params(scope: dict[str, Any]) -> dict[str, str]:
    query = scope["query_string"].decode()
    return dict(item.partition("=")[::2] for item in query.split("&") if item)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        await cases(scope, receive, send)
        return
    path = scope["path"]
    if path == "/download":
        # `n` bytes in 64 KiB chunks, no Content-Length: chunked on the wire.
        size = int(_params(scope)["n"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        block = bytes(range(256)) * 256
        while size > 0:
            chunk = block[: min(size, len(block))]
            size -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": size > 0})
    elif path == "/upload":
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            size += len(body)
            if not message.get("more_body", False):
                break
        reply = f"{size} {digest.hexdigest()}".encode()
        headers = [(b"content-length", b"%d" % len(reply))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply})
    elif path == "/sse":
        # One event, then the next only after /sse-release: proof that nothing is buffered.
        _sse_gate.clear()
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await _sse_gate.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/sse-release":
        _sse_gate.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"released"})
    elif path == "/slow":
        await asyncio.sleep(float(_params(scope).get("s", "2")))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})
    else:
        await cases(scope, receive, send)
