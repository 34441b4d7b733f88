"""A plain WSGI app whose traffic becomes tests (tests/inspector/observe/test_pytest_*).

`app` answers as captured; with `TRAFFIC_CHANGED=1` in its environment it answers
differently, so generated tests must fail against it. `wrapped` is the same app under the
WSGI middleware, sending to `INSPECTOR_BUS`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from inspector import WSGIInspectorMiddleware

CHANGED = os.environ.get("TRAFFIC_CHANGED") == "1"
StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if path == "/api/users" and method == "GET":
        users = [{"id": 7, "name": "Ada" if not CHANGED else "Grace"}]
        return _send(start_response, "200 OK", "application/json", json.dumps(users).encode())
    if path == "/api/users" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
        body = json.dumps({"created": form["name"]}).encode()
        extra = [("Location", "/api/users/8"), ("Set-Cookie", "last=8; Path=/")]
        return _send(start_response, "201 Created", "application/json", body, extra)
    if path == "/robots.txt":
        text = b"User-agent: *\nDisallow: /private\n" if not CHANGED else b"User-agent: *\n"
        return _send(start_response, "200 OK", "text/plain; charset=utf-8", text)
    return _send(start_response, "404 Not Found", "text/plain", b"not found")


def _send(
    start_response: StartResponse,
    status: str,
    content_type: str,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(status, headers + (extra or []))
    return [body]


wrapped = WSGIInspectorMiddleware(app)
