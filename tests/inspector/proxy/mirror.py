"""An upstream for the HTTP intercept tests that says what it received: each request is
answered with JSON naming its method, path, query, headers and body (its size and SHA-256, and
the body itself when short), and remembered, so `/seen` tells which requests ever arrived.
Served bare by uvicorn in its own process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_seen: list[str] = []


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    if scope["path"] == "/seen":
        reply: dict[str, Any] = {"seen": _seen}
    else:
        _seen.append(scope["path"])
        reply = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("latin-1") if len(body) <= 4096 else None,
        }
    data = json.dumps(reply).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})
