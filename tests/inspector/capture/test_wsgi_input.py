"""`wsgi.input` under capture: every way of reading it is recorded, and gives the app what
the bare stream gives (issue #11: werkzeug reads with `readinto`, which went unseen)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from inspector import EventBus, WSGIInspectorMiddleware
from inspector.observe.exchange import fold
from tests.inspector.capture.conftest import collect

BODY = b"first line\nsecond line\n" + b"x" * 5000 + b"\nlast"


def _into(method: str, size: int, view: bool = False) -> Callable[[Any], list[Any]]:
    def read(stream: Any) -> list[Any]:
        results: list[Any] = []
        while True:
            buffer = bytearray(size)
            count = getattr(stream, method)(memoryview(buffer) if view else buffer)
            results.append((count, bytes(buffer)))
            if not count:
                return results

    return read


def _until_empty(read: Callable[[Any], bytes]) -> Callable[[Any], list[bytes]]:
    def reads(stream: Any) -> list[bytes]:
        results = [read(stream)]
        while results[-1]:
            results.append(read(stream))
        return results

    return reads


READS: dict[str, Callable[[Any], Any]] = {
    "read": lambda stream: stream.read(),
    "read-sized": _until_empty(lambda stream: stream.read(1000)),
    "read-none": lambda stream: stream.read(None),
    "readline": _until_empty(lambda stream: stream.readline()),
    "readline-sized": _until_empty(lambda stream: stream.readline(7)),
    "readlines": lambda stream: stream.readlines(),
    "readlines-hint": lambda stream: [stream.readlines(30), stream.readlines()],
    "iteration": list,
    "read1": _until_empty(lambda stream: stream.read1(1000)),
    "readinto": _into("readinto", 1000),
    "readinto1": _into("readinto1", 1000),
    "readinto-memoryview": _into("readinto", 8000, view=True),
}


@pytest.mark.parametrize("length", ["content-length", "chunked"])
@pytest.mark.parametrize("how", READS)
def test_every_read_is_recorded_and_reads_as_bare(bus: EventBus, how: str, length: str) -> None:
    reads: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        reads.append(READS[how](environ["wsgi.input"]))
        start_response("200 OK", [])
        return []

    def environ() -> dict[str, Any]:
        # A socket file, as werkzeug's and wsgiref's servers hand the app.
        stream = io.BufferedReader(io.BytesIO(BODY))  # type: ignore[arg-type]
        if length == "chunked":
            return {"wsgi.input": stream, "HTTP_TRANSFER_ENCODING": "chunked"}
        return {"wsgi.input": stream, "CONTENT_LENGTH": str(len(BODY))}

    events = collect(bus)
    app(environ(), lambda status, headers: None)
    WSGIInspectorMiddleware(app, bus=bus)(environ(), lambda status, headers: None)
    assert reads[1] == reads[0]
    assert bus.flush()
    (exchange,) = fold(events).values()
    assert bytes(exchange.request_body.data) == BODY
    assert exchange.request_body.complete


def test_reads_beyond_pep_3333_exist_only_if_the_stream_has_them(bus: EventBus) -> None:
    class Minimal:  # the four reads PEP 3333 asks of wsgi.input, and nothing else
        def read(self, size: int = -1) -> bytes:
            return b""

        def readline(self, size: int = -1) -> bytes:
            return b""

        def readlines(self, hint: int = -1) -> list[bytes]:
            return []

        def __iter__(self) -> Any:
            return iter([])

    seen: dict[str, bool] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.update({name: hasattr(stream, name) for name in ("readinto", "read1", "read")})
        start_response("200 OK", [])
        return []

    env = {"wsgi.input": Minimal(), "CONTENT_LENGTH": "3"}
    WSGIInspectorMiddleware(app, bus=bus)(env, lambda status, headers: None)
    assert seen == {"readinto": False, "read1": False, "read": True}
