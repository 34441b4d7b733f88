"""WSGI results a server may tell apart, served bare (`app`) and wrapped (`wrapped`).

granian sends a list whole, with Content-Length, and streams anything else chunked
(issue #11): the wrapped app must give it the same kind of result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inspector import WSGIInspectorMiddleware
from tests.apps.recording import recording_bus

StartResponse = Callable[..., Callable[[bytes], object]]


def _generate() -> Iterator[bytes]:
    yield b"one "
    yield b"two"


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    path = environ["PATH_INFO"]
    if path == "/list":
        return [b"hello ", b"list"]
    if path == "/empty-list":
        return []
    if path == "/tuple":
        return (b"a ", b"tuple")
    return _generate()


wrapped = WSGIInspectorMiddleware(app, bus=recording_bus())
