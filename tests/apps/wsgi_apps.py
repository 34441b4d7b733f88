"""Tricky WSGI apps (PEP 3333 corners), served bare (`app`) and wrapped (`wrapped`).

One app routes on PATH_INFO so one server process serves every case; `/closes` reports how
many times this process's iterables were closed, so bare and wrapped can be compared.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inspector import WSGIInspectorMiddleware
from tests.apps.recording import recording_bus

StartResponse = Callable[..., Callable[[bytes], object]]
CLOSES = {"count": 0}
FILE_CONTENTS = b"file wrapper contents\n" * 100
FILE_ENV = "INSPECTOR_TEST_FILE"
"""Names the file `/file` sends: the test writes it into its own temporary directory."""


class Closing:
    """An iterable with close(), as PEP 3333 servers must call it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        CLOSES["count"] += 1


def _stream(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])  # lazily, at first next()
    yield b"a"
    yield b""
    yield b"bc"
    yield b""


def _error_after(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial"
    raise RuntimeError("failed mid-stream")


def _restart(start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Before", "1")])
    try:
        raise ValueError("changed my mind")
    except ValueError:
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
        )
    return [b"error page"]


def _echo(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    stream = environ["wsgi.input"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    first_line = stream.readline(length)
    rest = b""
    while len(first_line) + len(rest) < length:
        rest += stream.read(min(3, length - len(first_line) - len(rest)))
    body = first_line + rest
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/plain":
        headers = [
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "a=1"),
            ("X-Mixed-Case", "kept"),
            ("Set-Cookie", "b=2"),
        ]
        start_response("200 OK", headers)
        return [b"hello"]
    if path == "/stream":
        return _stream(start_response)
    if path == "/no-content":
        start_response("204 No Content", [])
        return []
    if path == "/not-modified":
        start_response("304 Not Modified", [("ETag", '"v1"')])
        return []
    if path == "/echo":
        return _echo(environ, start_response)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        write(b"written ")
        return [b"it!"]
    if path == "/error-before":
        raise RuntimeError("failed before the response")
    if path == "/error-after":
        return _error_after(start_response)
    if path == "/restart":
        return _restart(start_response)
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2200")])
        return environ["wsgi.file_wrapper"](open(os.environ[FILE_ENV], "rb"), 1024)
    if path == "/closing":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"one", b"two"])
    if path == "/closes":
        count = str(CLOSES["count"]).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(count)))]
        )
        return [count]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such case"]


wrapped = WSGIInspectorMiddleware(app, bus=recording_bus())
