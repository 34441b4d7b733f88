"""WSGI capture in-process (PEP 3333 corners no server shows): validation, close() on every
path, no read-ahead of wsgi.input, __len__, pass-through, limits and redaction."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from inspector import EventBus, WSGIInspectorMiddleware
from inspector import events as ev
from tests.inspector.capture.conftest import collect


def environ(body: bytes = b"", **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"wsgi.input": io.BytesIO(body), "QUERY_STRING": "", **extra}
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env["REQUEST_METHOD"] = "POST"
    setup_testing_defaults(env)
    return env


def call(
    app: Any, env: dict[str, Any], consume: int | None = None
) -> tuple[list[Any], list[bytes], Any]:
    """Call like a server: start_response, iterate (all or `consume` chunks), close()."""
    starts: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        starts.append((status, headers))
        return lambda data: None

    result = app(env, start_response)
    chunks: list[bytes] = []
    try:
        for chunk in result:
            chunks.append(chunk)
            if consume is not None and len(chunks) >= consume:
                break
    finally:
        if hasattr(result, "close"):
            result.close()
    return starts, chunks, result


class Counted:
    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks, self.fail_at, self.closes = chunks, fail_at, 0

    def __iter__(self) -> Iterator[bytes]:
        for n, chunk in enumerate(self.chunks):
            if n == self.fail_at:
                raise RuntimeError("iteration failed")
            yield chunk

    def close(self) -> None:
        self.closes += 1


def counted_app(iterable: Counted) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Counted:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iterable

    return app


def test_wsgiref_validator_is_silent_inside_and_outside(bus: EventBus) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"w")
        yield body
        yield b""

    inner = validator(WSGIInspectorMiddleware(validator(app), bus=bus))
    starts, chunks, _ = call(inner, environ(b"payload"))  # warnings are errors here
    assert starts == [("200 OK", [("Content-Type", "text/plain")])]
    assert chunks == [b"payload", b""]


@pytest.mark.parametrize(("fail_at", "consume"), [(None, None), (1, None), (None, 1)])
def test_close_is_called_exactly_once_on_every_path(
    bus: EventBus, fail_at: int | None, consume: int | None
) -> None:
    iterable = Counted([b"a", b"b", b"c"], fail_at)
    events = collect(bus)
    app = WSGIInspectorMiddleware(counted_app(iterable), bus=bus)
    if fail_at is None:
        call(app, environ(), consume)
    else:
        with pytest.raises(RuntimeError, match="iteration failed"):
            call(app, environ(), consume)
    assert iterable.closes == 1
    assert bus.flush()
    finished = events[-1]
    assert isinstance(finished, ev.ExchangeFinished)
    expected = {(None, None): "completed", (1, None): "failed", (None, 1): "cancelled"}[
        (fail_at, consume)
    ]
    assert finished.outcome == expected
    assert sum(isinstance(e, ev.IterableClosed) for e in events) == 1


def test_wsgi_input_is_never_read_ahead(bus: EventBus) -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    class Spy(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            calls.append(("read", args))
            return super().read(*args)

        def readline(self, *args: Any) -> bytes:
            calls.append(("readline", args))
            return super().readline(*args)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        first = environ["wsgi.input"].readline()
        start_response("200 OK", [])
        return [first]

    env = environ(b"one\ntwo\n")
    env["wsgi.input"] = Spy(b"one\ntwo\n")
    events = collect(bus)
    call(WSGIInspectorMiddleware(app, bus=bus), env)
    assert calls == [("readline", ())]  # the app's read only, with its own arguments
    assert bus.flush()
    chunks = [(e.data, e.more_body) for e in events if isinstance(e, ev.RequestBodyChunk)]
    assert chunks == [(b"one\n", True)]


def test_len_is_offered_only_when_the_iterable_has_it(bus: EventBus) -> None:
    def listing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"one item"]

    def generating(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"x"

    _, _, sized = call(WSGIInspectorMiddleware(listing, bus=bus), environ())
    _, _, unsized = call(WSGIInspectorMiddleware(generating, bus=bus), environ())
    assert len(sized) == 1
    assert not hasattr(unsized, "__len__")


def test_disabled_returns_the_apps_own_iterable(bus: EventBus) -> None:
    iterable = Counted([b"a"])
    env = environ()
    result = WSGIInspectorMiddleware(counted_app(iterable), bus=bus, enabled=False)(
        env, lambda s, h, e=None: None
    )
    assert result is iterable
    assert "inspector.exchange_id" not in env


def test_exc_info_is_passed_to_the_server_as_given(bus: EventBus) -> None:
    received: list[tuple[Any, ...]] = []

    def start_response(*args: Any) -> Callable[[bytes], None]:
        received.append(args)
        return lambda data: None

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"err"]

    list(WSGIInspectorMiddleware(app, bus=bus)(environ(), start_response))
    assert len(received[0]) == 2  # no exc_info invented
    assert received[1][2][0] is ValueError


def test_body_limit_and_redaction(bus: EventBus) -> None:
    seen_by_app: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen_by_app.append(environ["HTTP_AUTHORIZATION"])
        environ["wsgi.input"].read()
        start_response("200 OK", [("Set-Cookie", "sid=1")])
        return [b"0123456789"]

    events = collect(bus)
    env = environ(b"abcdefgh", HTTP_AUTHORIZATION="Bearer secret")
    call(WSGIInspectorMiddleware(app, bus=bus, body_limit=4, redact=True), env)
    assert seen_by_app == ["Bearer secret"]
    assert bus.flush()
    started = events[0]
    assert isinstance(started, ev.RequestStarted)
    assert (b"authorization", b"[redacted]") in started.headers
    # The snapshot leaves the headers to the event: no second copy to mask, or to leak.
    assert not any(key.startswith("HTTP_") for key in started.snapshot)
    assert "Bearer" not in repr(dict(started.snapshot))
    response = next(e for e in events if isinstance(e, ev.ResponseStarted))
    assert response.headers == ((b"Set-Cookie", b"[redacted]"),)
    request_chunk = next(e for e in events if isinstance(e, ev.RequestBodyChunk))
    body_chunk = next(e for e in events if isinstance(e, ev.ResponseBodyChunk))
    assert (request_chunk.data, request_chunk.size) == (b"abcd", 8)
    assert (body_chunk.data, body_chunk.size) == (b"0123", 10)


def test_a_raising_subscriber_never_reaches_the_app(bus: EventBus) -> None:
    calls: list[object] = []

    def broken(events: Any) -> None:
        calls.append(events)
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    iterable = Counted([b"fine"])
    _, chunks, _ = call(WSGIInspectorMiddleware(counted_app(iterable), bus=bus), environ())
    assert chunks == [b"fine"]
    assert bus.flush()
    assert bus.stats().subscriber_errors == len(calls) > 0  # each failure counted, once


def test_an_app_may_resize_a_buffer_it_yielded_a_view_of(bus: EventBus) -> None:
    events = collect(bus)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        buffer = bytearray(b"abcdef")
        yield memoryview(buffer)[:3]
        del buffer[:3]  # BufferError if anyone still holds the view
        yield bytes(buffer)

    def serve(wsgi: Any) -> list[bytes]:  # a server that writes each chunk, then lets go
        result = wsgi(environ(), lambda status, headers, exc_info=None: None)
        written = []
        for chunk in result:
            written.append(bytes(chunk))
            del chunk
        result.close()
        return written

    assert serve(app) == [b"abc", b"def"]
    assert serve(WSGIInspectorMiddleware(app, bus=bus)) == [b"abc", b"def"]
    assert bus.flush()
    bodies = [e.data for e in events if isinstance(e, ev.ResponseBodyChunk)]
    assert bodies == [b"abc", b"def"]
