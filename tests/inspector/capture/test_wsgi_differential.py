"""WSGI capture under real gunicorn and wsgiref: the wrapped app must look exactly like the
bare one on the wire, close() must be called as often, and the events must say what happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector import events as ev
from tests.apps.wsgi_apps import FILE_CONTENTS, FILE_ENV
from tests.servers import Server, raw_request, serve, without_date

SERVERS = ["gunicorn", "wsgiref"]


@pytest.fixture(scope="module", params=SERVERS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp(request.param)
    sent = tmp / "file-wrapper.txt"
    sent.write_bytes(FILE_CONTENTS)
    env = {FILE_ENV: str(sent)}
    with (
        serve(request.param, "tests.apps.wsgi_apps:app", tmp, env) as bare,
        serve(request.param, "tests.apps.wsgi_apps:wrapped", tmp, env) as wrapped,
    ):
        yield {"bare": bare, "wrapped": wrapped}


def marker() -> str:
    return uuid.uuid4().hex[:12]


def request(method: str, target: str, body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


CASES = {
    "plain": ("GET", "/plain", b""),
    "head": ("HEAD", "/plain", b""),
    "lazy-stream-with-empty-chunks": ("GET", "/stream", b""),
    "no-content": ("GET", "/no-content", b""),
    "not-modified": ("GET", "/not-modified", b""),
    "echo-body-read-in-pieces": ("POST", "/echo", b"line one\nand the rest"),
    "write-callable": ("GET", "/write", b""),
    "error-before-start": ("GET", "/error-before", b""),
    "error-mid-stream": ("GET", "/error-after", b""),
    "exc-info-restart": ("GET", "/restart", b""),
    "file-wrapper": ("GET", "/file", b""),
    "iterable-with-close": ("GET", "/closing", b""),
    "not-found": ("GET", "/missing", b""),
}


@pytest.mark.parametrize("case", CASES)
def test_response_is_byte_identical(servers: dict[str, Server], case: str) -> None:
    method, path, body = CASES[case]
    raw = request(method, f"{path}?m={marker()}", body)
    bare = raw_request(servers["bare"].port, raw)
    assert bare.startswith(b"HTTP/1.")
    assert without_date(raw_request(servers["wrapped"].port, raw)) == without_date(bare)


def test_close_is_called_as_often_as_without_capture(servers: dict[str, Server]) -> None:
    counts = {}
    for name, server in servers.items():
        before = raw_request(server.port, request("GET", "/closes")).rsplit(b"\r\n\r\n", 1)[1]
        for _ in range(3):
            raw_request(server.port, request("GET", "/closing"))
        after = raw_request(server.port, request("GET", "/closes")).rsplit(b"\r\n\r\n", 1)[1]
        counts[name] = int(after) - int(before)
    assert counts == {"bare": 3, "wrapped": 3}


@pytest.mark.parametrize(
    ("path", "message"),
    [("/error-before", "failed before the response"), ("/error-after", "failed mid-stream")],
)
def test_app_exceptions_reach_the_server_unchanged(
    servers: dict[str, Server], path: str, message: str
) -> None:
    m = marker()
    for server in servers.values():
        raw_request(server.port, request("GET", f"{path}?m={m}"))
    events = servers["wrapped"].exchange_events(m)
    failed = [e for e in events if isinstance(e, ev.AppFailed)]
    assert [(f.type, f.message, f.response_started) for f in failed] == [
        ("RuntimeError", message, path == "/error-after")
    ]
    assert isinstance(events[-1], ev.ExchangeFinished)
    assert events[-1].outcome == "failed"
    for server in servers.values():
        assert f"RuntimeError: {message}" in server.log()


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_plain_events(servers: dict[str, Server]) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("GET", f"/plain?m={m}"))
    events = servers["wrapped"].exchange_events(m)
    assert kinds(events) == [
        "RequestStarted",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    started, response, chunk, finished = events
    assert isinstance(started, ev.RequestStarted)
    assert (started.source, started.method, started.path, started.query) == (
        "wsgi",
        "GET",
        "/plain",
        f"m={m}".encode(),
    )
    assert (b"host", b"test") in started.headers
    assert started.snapshot["REQUEST_METHOD"] == "GET"
    assert started.snapshot["inspector.exchange_id"] == started.exchange_id
    assert isinstance(response, ev.ResponseStarted)
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers == (
        (b"Content-Type", b"text/plain"),
        (b"Set-Cookie", b"a=1"),
        (b"X-Mixed-Case", b"kept"),
        (b"Set-Cookie", b"b=2"),
    )
    assert (chunk.data, chunk.size) == (b"hello", 5)  # type: ignore[attr-defined]
    assert isinstance(finished, ev.ExchangeFinished)
    assert (finished.outcome, finished.request_ns) == ("completed", 0)


def test_stream_events_keep_empty_chunks(servers: dict[str, Server]) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("GET", f"/stream?m={m}"))
    chunks = [
        (e.data, e.size)
        for e in servers["wrapped"].exchange_events(m)
        if isinstance(e, ev.ResponseBodyChunk)
    ]
    assert chunks == [(b"a", 1), (b"", 0), (b"bc", 2), (b"", 0)]


def test_request_body_events_follow_the_apps_reads(servers: dict[str, Server]) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("POST", f"/echo?m={m}", b"line one\nand the rest"))
    reads = [
        (e.data, e.more_body)
        for e in servers["wrapped"].exchange_events(m)
        if isinstance(e, ev.RequestBodyChunk)
    ]
    assert reads == [
        (b"line one\n", True),
        (b"and", True),
        (b" th", True),
        (b"e r", True),
        (b"est", False),
    ]


def test_write_restart_file_and_close_events(servers: dict[str, Server]) -> None:
    wrapped = servers["wrapped"]
    marks = {path: marker() for path in ("/write", "/restart", "/file", "/closing")}
    for path, m in marks.items():
        raw_request(wrapped.port, request("GET", f"{path}?m={m}"))
    written = wrapped.exchange_events(marks["/write"])
    # A list has no close(), so no IterableClosed.
    assert kinds(written)[1:] == [
        "ResponseStarted",
        "ResponseBodyWritten",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert [
        e.data for e in written if isinstance(e, ev.ResponseBodyWritten | ev.ResponseBodyChunk)
    ] == [b"written ", b"it!"]
    restarted = wrapped.exchange_events(marks["/restart"])
    restart = next(e for e in restarted if isinstance(e, ev.ResponseRestarted))
    assert (restart.status, restart.headers, restart.error) == (
        500,
        ((b"Content-Type", b"text/plain"),),
        "ValueError('changed my mind')",
    )
    filed = wrapped.exchange_events(marks["/file"])
    sent = next(e for e in filed if isinstance(e, ev.ResponseFileSent))
    assert sent.via == "wsgi.file_wrapper"
    assert sent.path is not None
    assert Path(sent.path).read_bytes() == FILE_CONTENTS  # the test's own file, in its tmp dir
    assert not any(isinstance(e, ev.ResponseBodyChunk) for e in filed)  # never read by capture
    closing = wrapped.exchange_events(marks["/closing"])
    assert kinds(closing)[-3:] == ["ResponseBodyChunk", "IterableClosed", "ExchangeFinished"]
