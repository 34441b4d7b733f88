"""ASGI capture under a real uvicorn: the wrapped app must look exactly like the bare one.

Every case is sent as the same raw bytes to a bare and a wrapped server and the responses
are compared byte for byte (only the Date value may differ); then the events the wrapped
server captured are asserted precisely.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from inspector import events as ev
from tests.servers import Server, raw_request, serve, without_date

TARGETS = {"bare": "tests.apps.asgi_cases:app", "wrapped": "tests.apps.asgi_cases:wrapped"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp("asgi")
    with (
        serve("uvicorn", TARGETS["bare"], tmp) as bare,
        serve("uvicorn", TARGETS["wrapped"], tmp) as wrapped,
    ):
        yield {"bare": bare, "wrapped": wrapped}


def marker() -> str:
    return uuid.uuid4().hex[:12]


def request(method: str, target: str, body: bytes = b"", chunked: bool = False) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        framed = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:3], body[3:]) if part
        )
        return head.encode() + framed + b"0\r\n\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


CASES = {
    "plain": ("GET", "/plain", b"", False),
    "plain-post": ("POST", "/plain", b"form=1&x=2", False),
    "head": ("HEAD", "/plain", b"", False),
    "stream-with-empty-chunks": ("GET", "/stream", b"", False),
    "no-content": ("GET", "/no-content", b"", False),
    "not-modified": ("GET", "/not-modified", b"", False),
    "echo-content-length": ("POST", "/echo", b"0123456789", False),
    "echo-chunked": ("POST", "/echo", b"0123456789", True),
    "error-before-start": ("GET", "/error-before", b"", False),
    "error-mid-stream": ("GET", "/error-after", b"", False),
    "not-found": ("GET", "/missing", b"", False),
}


@pytest.mark.parametrize("case", CASES)
def test_http_response_is_byte_identical(servers: dict[str, Server], case: str) -> None:
    method, path, body, chunked = CASES[case]
    raw = request(method, f"{path}?m={marker()}", body, chunked)
    bare = raw_request(servers["bare"].port, raw)
    wrapped = raw_request(servers["wrapped"].port, raw)
    assert bare.startswith(b"HTTP/1.1 ")
    assert without_date(wrapped) == without_date(bare)


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_plain_request_events(servers: dict[str, Server]) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("POST", f"/plain?m={m}", b"form=1"))
    events = servers["wrapped"].exchange_events(m)
    assert kinds(events) == [
        "RequestStarted",
        "RequestBodyChunk",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    started, body, response, chunk, finished = events
    assert isinstance(started, ev.RequestStarted)
    assert (started.source, started.kind, started.method, started.path) == (
        "asgi",
        "http",
        "POST",
        "/plain",
    )
    assert started.query == f"m={m}".encode()
    assert started.raw_path == b"/plain"
    assert started.http_version == "1.1"
    assert started.headers == (
        (b"host", b"test"),
        (b"connection", b"close"),
        (b"content-length", b"6"),
    )
    assert started.client is not None
    assert started.client[0] == "127.0.0.1"
    assert started.snapshot["type"] == "http"
    assert started.snapshot["path"] == "/plain"
    assert body == ev.RequestBodyChunk(body.exchange_id, body.at_ns, b"form=1", 6, False)
    assert isinstance(response, ev.ResponseStarted)
    assert response.status == 200
    assert response.headers == tuple(
        tuple(h)
        for h in [
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"a=1"),
            (b"x-Mixed-Case", b"kept"),
            (b"set-cookie", b"b=2"),
        ]
    )
    assert chunk == ev.ResponseBodyChunk(chunk.exchange_id, chunk.at_ns, b"hello", 5, False)
    assert isinstance(finished, ev.ExchangeFinished)
    assert finished.outcome == "completed"
    assert finished.request_ns is not None
    assert finished.first_byte_ns is not None
    assert 0 < finished.request_ns <= finished.first_byte_ns <= finished.total_ns
    assert len({e.exchange_id for e in events}) == 1
    assert [e.at_ns for e in events] == sorted(e.at_ns for e in events)


def test_streamed_chunks_keep_their_cadence_and_empty_chunks(servers: dict[str, Server]) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("GET", f"/stream?m={m}"))
    chunks = [
        e for e in servers["wrapped"].exchange_events(m) if isinstance(e, ev.ResponseBodyChunk)
    ]
    assert [(c.data, c.size, c.more_body) for c in chunks] == [
        (b"a", 1, True),
        (b"", 0, True),
        (b"bc", 2, True),
        (b"", 0, True),
        (b"", 0, False),
    ]


def test_chunked_upload_is_recorded_as_the_app_received_it(servers: dict[str, Server]) -> None:
    m = marker()
    response = raw_request(
        servers["wrapped"].port, request("POST", f"/echo?m={m}", b"0123456789", chunked=True)
    )
    assert response.endswith(b"\r\n\r\n0123456789")
    chunks = [
        e for e in servers["wrapped"].exchange_events(m) if isinstance(e, ev.RequestBodyChunk)
    ]
    assert b"".join(c.data for c in chunks) == b"0123456789"
    assert sum(c.size for c in chunks) == 10
    assert [c.more_body for c in chunks][-1] is False
    assert all(c.more_body for c in chunks[:-1])


@pytest.mark.parametrize(
    ("path", "message", "started"),
    [
        ("/error-before", "failed before the response", False),
        ("/error-after", "failed mid-stream", True),
    ],
)
def test_app_exception_is_recorded_and_reaches_the_server_unchanged(
    servers: dict[str, Server], path: str, message: str, started: bool
) -> None:
    m = marker()
    raw_request(servers["wrapped"].port, request("GET", f"{path}?m={m}"))
    raw_request(servers["bare"].port, request("GET", f"{path}?m={m}"))
    events = servers["wrapped"].exchange_events(m)
    failed = [e for e in events if isinstance(e, ev.AppFailed)]
    assert len(failed) == 1
    assert (failed[0].type, failed[0].message, failed[0].response_started) == (
        "RuntimeError",
        message,
        started,
    )
    assert f'raise RuntimeError("{message}")' in failed[0].traceback
    finished = events[-1]
    assert isinstance(finished, ev.ExchangeFinished)
    assert finished.outcome == "failed"
    for server in servers.values():  # uvicorn logged the very same exception for both
        assert f"RuntimeError: {message}" in server.log()


@pytest.mark.parametrize("name", ["bare", "wrapped"])
def test_stream_is_not_buffered(servers: dict[str, Server], name: str) -> None:
    # The app holds its second chunk until /release is requested; if capture buffered the
    # stream, the first chunk would never arrive and this test would time out.
    server = servers[name]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request("GET", f"/gated?m={marker()}"))
        received = b""
        while b"first" not in received:
            data = sock.recv(65536)
            assert data, "connection closed before the first chunk"
            received += data
        assert b"second" not in received
        raw_request(server.port, request("GET", "/release"))
        while not received.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            assert data
            received += data
    assert b"second" in received


def test_client_disconnect_is_recorded(servers: dict[str, Server]) -> None:
    m = marker()
    with socket.create_connection(("127.0.0.1", servers["wrapped"].port), timeout=5) as sock:
        sock.sendall(request("GET", f"/wait-disconnect?m={m}"))
        received = b""
        while b"waiting" not in received:
            received += sock.recv(65536)
    events = servers["wrapped"].exchange_events(m)
    assert kinds(events)[-2:] == ["ClientDisconnected", "ExchangeFinished"]
    assert isinstance(events[-1], ev.ExchangeFinished)
    assert events[-1].outcome == "completed"


# -- WebSocket ------------------------------------------------------------------------------


def ws_url(server: Server, path: str, m: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}?m={m}"


def echo_conversation(server: Server, m: str) -> list[object]:
    seen: list[object] = []
    with connect(ws_url(server, "/ws/echo", m)) as ws:
        for message in ["hello", "", b"\x00\x01binary", b"", "é" * 70_000]:
            ws.send(message)
            seen.append(ws.recv())
        ws.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    seen.append((closed.value.rcvd.code, closed.value.rcvd.reason))
    return seen


def test_websocket_echo_is_identical_and_recorded(servers: dict[str, Server]) -> None:
    m = marker()
    bare = echo_conversation(servers["bare"], m)
    assert bare[-1] == (4001, "asked to")
    assert echo_conversation(servers["wrapped"], m) == bare
    events = servers["wrapped"].exchange_events(m)
    assert kinds(events)[:3] == [
        "RequestStarted",
        "WebSocketHandshakeReceived",
        "WebSocketAccepted",
    ]
    started, _, accepted = events[:3]
    assert isinstance(started, ev.RequestStarted)
    assert (started.kind, started.scheme, started.path) == ("websocket", "ws", "/ws/echo")
    assert isinstance(accepted, ev.WebSocketAccepted)
    assert accepted.headers == ((b"x-ws", b"1"),)
    messages = [
        (e.sender, e.text, e.data, e.size) for e in events if isinstance(e, ev.WebSocketMessage)
    ]
    big = "é" * 70_000
    assert messages == [
        ("client", "hello", None, 5),
        ("server", "hello", None, 5),
        ("client", "", None, 0),
        ("server", "", None, 0),
        ("client", None, b"\x00\x01binary", 8),
        ("server", None, b"\x00\x01binary", 8),
        ("client", None, b"", 0),
        ("server", None, b"", 0),
        ("client", big, None, 140_000),
        ("server", big, None, 140_000),
        ("client", "close please", None, 12),
    ]
    closed = [e for e in events if isinstance(e, ev.WebSocketClosed)]
    assert [(c.sender, c.code, c.reason, c.accepted) for c in closed] == [
        ("server", 4001, "asked to", True)
    ]
    assert isinstance(events[-1], ev.ExchangeFinished)
    assert events[-1].outcome == "completed"


def test_websocket_client_close_is_recorded(servers: dict[str, Server]) -> None:
    m = marker()
    with connect(ws_url(servers["wrapped"], "/ws/echo", m)) as ws:
        ws.send("one")
        assert ws.recv() == "one"
    closed = [e for e in servers["wrapped"].exchange_events(m) if isinstance(e, ev.WebSocketClosed)]
    assert [(c.sender, c.code, c.accepted) for c in closed] == [("client", 1000, True)]


def subprotocol_conversation(server: Server, m: str) -> list[object]:
    with connect(ws_url(server, "/ws/subprotocol", m), subprotocols=["chat.v2"]) as ws:  # type: ignore[list-item]
        seen: list[object] = [ws.subprotocol, ws.recv(), ws.recv()]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    return [*seen, closed.value.rcvd.code]


def test_websocket_subprotocol_and_empty_messages(servers: dict[str, Server]) -> None:
    m = marker()
    bare = subprotocol_conversation(servers["bare"], m)
    assert bare == ["chat.v2", "", b"", 1000]
    assert subprotocol_conversation(servers["wrapped"], m) == bare
    events = servers["wrapped"].exchange_events(m)
    accepted = next(e for e in events if isinstance(e, ev.WebSocketAccepted))
    assert accepted.subprotocol == "chat.v2"
    messages = [(e.text, e.data) for e in events if isinstance(e, ev.WebSocketMessage)]
    assert messages == [("", None), (None, b"")]


def denied(server: Server, path: str, m: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server, path, m))
    response = refused.value.response
    headers = [
        (k, v) for k, v in response.headers.raw_items() if k.lower() not in ("date", "server")
    ]
    return response.status_code, response.body or b"", headers


@pytest.mark.parametrize("path", ["/ws/close-before-accept", "/ws/denial"])
def test_websocket_denial_is_identical(servers: dict[str, Server], path: str) -> None:
    m = marker()
    bare = denied(servers["bare"], path, m)
    assert denied(servers["wrapped"], path, m) == bare
    events = servers["wrapped"].exchange_events(m)
    if path == "/ws/denial":
        assert bare[:2] == (401, b"go away")
        denial = next(e for e in events if isinstance(e, ev.WebSocketDenied))
        assert denial.status == 401
        assert denial.headers == ((b"content-type", b"text/plain"), (b"x-denied", b"yes"))
        body = [(e.data, e.more_body) for e in events if isinstance(e, ev.ResponseBodyChunk)]
        assert body == [(b"go ", True), (b"away", False)]
    else:
        assert bare[0] == 403
        closed = next(e for e in events if isinstance(e, ev.WebSocketClosed))
        assert (closed.sender, closed.accepted) == ("server", False)
