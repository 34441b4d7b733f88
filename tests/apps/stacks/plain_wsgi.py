"""A plain PEP 3333 app, no framework: bare `app`, and `wrapped`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inspector import WSGIInspectorMiddleware
from tests.apps.stacks import HEADERS, PARTS


def _stream() -> Iterator[bytes]:
    yield from PARTS


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", HEADERS)
        return [b"hello " + environ.get("HTTP_X_DUP", "").encode("latin-1")]
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream()
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


wrapped = WSGIInspectorMiddleware(app)
