"""HTTP/1.1 through the proxy: byte for byte what the upstream sent, and precise events.

Each case sends the same raw bytes to the upstream directly and through the proxy, and the
two responses must be identical (only the Date value may differ). Then the events the proxy
published are folded and asserted.
"""

from __future__ import annotations

import hashlib
import socket
import time

import httpx
import pytest

from inspector import events as ev
from tests.inspector.proxy.conftest import MakeProxy, RunningProxy
from tests.servers import Server, raw_request, without_date


def request(
    method: str, target: str, body: bytes = b"", chunked: bool = False, extra: str = ""
) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        framed = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:3], body[3:]) if part
        )
        return head.encode() + framed + b"0\r\n\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def both(upstream: Server, proxy: RunningProxy, raw: bytes) -> tuple[bytes, bytes]:
    direct = raw_request(upstream.port, raw)
    proxied = raw_request(proxy.port, raw)
    assert direct.startswith(b"HTTP/1.1 ")
    return without_date(direct), without_date(proxied)


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


CASES = {
    "get": request("GET", "/plain?a=1&b=%20x"),
    "post": request("POST", "/plain", b"form=1&x=2"),
    "echo-content-length": request("POST", "/echo", b"0123456789"),
    "echo-chunked": request("POST", "/echo", b"0123456789", chunked=True),
    "head": request("HEAD", "/plain"),
    "no-content": request("GET", "/no-content"),
    "not-modified": request("GET", "/not-modified", extra='If-None-Match: "v1"\r\n'),
    "stream-with-empty-chunks": request("GET", "/stream"),
    "raw-path-kept": request("GET", "/caf%C3%A9/%2F/../x?q=%E2%82%AC"),
    "header-case-and-duplicates": request("GET", "/plain", extra="X-A: 1\r\nx-a: 2\r\n"),
    "http-1.0": b"GET /plain HTTP/1.0\r\nHost: test\r\n\r\n",
    "error-mid-stream": request("GET", "/error-after"),
}


@pytest.mark.parametrize("case", CASES)
def test_response_is_byte_identical(upstream: Server, proxy: RunningProxy, case: str) -> None:
    direct, proxied = both(upstream, proxy, CASES[case])
    assert proxied == direct


def test_a_kept_alive_request_says_where_it_went_in_its_own_event(
    upstream: Server, proxy: RunningProxy
) -> None:
    """The first request opens the upstream connection: a `RequestForwarded` follows once it
    is open. The next one on it goes as it is read: `RequestStarted.forwarded` says where,
    one event less per request (the app's record of it pairs by that address and order)."""
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        for _ in range(2):
            sock.sendall(b"GET /plain HTTP/1.1\r\nHost: test\r\n\r\n")
            assert _read_response(sock).endswith(b"0\r\n\r\n")
    first, second = sorted(proxy.exchanges(2), key=lambda x: x.events[0].at_ns)
    assert first.request is not None
    assert second.request is not None
    assert first.request.forwarded is None
    assert "RequestForwarded" in kinds(first.events)
    assert "RequestForwarded" not in kinds(second.events)
    assert second.request.forwarded is not None
    assert first.forwarded is not None
    assert second.forwarded is second.request.forwarded
    assert (first.forwarded.sequence, second.forwarded.sequence) == (1, 2)
    assert first.forwarded.local == second.forwarded.local  # the same upstream connection


def test_get_events(upstream: Server, proxy: RunningProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        client = sock.getsockname()
        sock.sendall(b"GET /plain?x=%41 HTTP/1.1\r\nHost: test\r\nX-Case: A\r\nx-case: b\r\n\r\n")
        response = _read_response(sock)
    assert response.endswith(b"5\r\nhello\r\n0\r\n\r\n")
    (exchange,) = proxy.exchanges(1)
    request, response_started = exchange.request, exchange.response
    assert request is not None
    assert response_started is not None
    assert kinds(exchange.events) == [
        "RequestStarted",
        "RequestBodyChunk",
        "RequestForwarded",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert request.source == "proxy"
    assert (request.kind, request.method, request.scheme) == ("http", "GET", "http")
    assert (request.http_version, request.path) == ("1.1", "/plain")
    assert (request.raw_path, request.query) == (b"/plain", b"x=%41")
    assert request.headers == ((b"Host", b"test"), (b"X-Case", b"A"), (b"x-case", b"b"))
    assert request.client == client
    assert request.server == ("127.0.0.1", proxy.port)
    assert request.snapshot == {"upstream": f"127.0.0.1:{upstream.port}", "connection": 1}
    assert response_started.status == 200
    assert response_started.reason == "OK"
    names = [name for name, _ in response_started.headers]
    assert names == [
        b"date",
        b"server",
        b"content-type",
        b"set-cookie",
        b"x-Mixed-Case",
        b"set-cookie",
        b"Transfer-Encoding",
    ]
    assert response_started.trailers is False
    assert bytes(exchange.response_body.data) == b"hello"
    assert exchange.response_body.complete
    assert exchange.request_body.complete
    assert exchange.url == "http://test/plain?x=%41"
    assert exchange.state == "completed"
    finished = exchange.finished
    assert finished is not None
    assert finished.outcome == "completed"
    assert finished.request_ns is not None
    assert finished.first_byte_ns is not None
    assert 0 <= finished.request_ns <= finished.first_byte_ns <= finished.total_ns


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_chunked_request_body_events(upstream: Server, proxy: RunningProxy) -> None:
    raw = request("POST", "/echo?m=chunked", b"0123456789", chunked=True)
    assert raw_request(proxy.port, raw).endswith(b"\r\n\r\n0123456789")
    (exchange,) = proxy.exchanges(1)
    chunks = [e for e in exchange.events if isinstance(e, ev.RequestBodyChunk)]
    assert [(c.data, c.size, c.more_body) for c in chunks] == [
        (b"012", 3, True),
        (b"3456789", 7, True),
        (b"", 0, False),
    ]
    assert bytes(exchange.request_body.data) == b"0123456789"
    assert bytes(exchange.response_body.data) == b"0123456789"


def test_head_204_304_have_no_body_events(upstream: Server, proxy: RunningProxy) -> None:
    for raw in (request("HEAD", "/plain"), request("GET", "/no-content"), CASES["not-modified"]):
        raw_request(proxy.port, raw)
    exchanges = proxy.exchanges(3)
    assert [x.status for x in exchanges] == [200, 204, 304]
    for exchange in exchanges:
        body = [e for e in exchange.events if isinstance(e, ev.ResponseBodyChunk)]
        assert [(e.data, e.size, e.more_body) for e in body] == [(b"", 0, False)]
        assert exchange.state == "completed"


def test_keep_alive_several_requests(upstream: Server, proxy: RunningProxy) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        bodies = [client.post("/echo", content=b"x" * n).content for n in (1, 100, 10_000)]
        assert bodies == [b"x", b"x" * 100, b"x" * 10_000]
        assert client.get("/plain").headers.get_list("set-cookie") == ["a=1", "b=2"]
    exchanges = proxy.exchanges(4)
    assert {x.request.snapshot["connection"] for x in exchanges if x.request} == {1}
    assert [x.response_body.size for x in exchanges] == [1, 100, 10_000, 5]


def test_pipelining(upstream: Server, proxy: RunningProxy) -> None:
    raw = (
        request("GET", "/plain?n=1").replace(b"Connection: close\r\n", b"")
        + request("HEAD", "/plain?n=2").replace(b"Connection: close\r\n", b"")
        + request("POST", "/echo?n=3", b"abc").replace(b"Connection: close\r\n", b"")
        + request("GET", "/no-content?n=4")
    )
    direct, proxied = both(upstream, proxy, raw)
    assert proxied == direct
    assert proxied.count(b"HTTP/1.1 ") == 4
    exchanges = proxy.exchanges(4)
    assert [(x.request.query, x.status) for x in exchanges if x.request] == [
        (b"n=1", 200),
        (b"n=2", 200),
        (b"n=3", 200),
        (b"n=4", 204),
    ]
    assert [bytes(x.response_body.data) for x in exchanges] == [b"hello", b"", b"abc", b""]


def test_expect_100_continue(upstream: Server, proxy: RunningProxy) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )

    def exchange(port: int) -> tuple[bytes, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head)
            interim = sock.recv(65536)  # the body is sent only after "100 Continue"
            sock.sendall(b"hello")
            rest = b""
            while chunk := sock.recv(65536):
                rest += chunk
        return interim, without_date(rest)

    direct = exchange(upstream.port)
    proxied = exchange(proxy.port)
    assert direct[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert proxied == direct
    (x,) = proxy.exchanges(1)
    assert x.status == 200
    assert bytes(x.request_body.data) == b"hello"
    assert bytes(x.response_body.data) == b"hello"


def test_large_upload_and_download(upstream: Server, proxy: RunningProxy) -> None:
    size = 6 * 1024 * 1024 + 7
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        reply = client.post("/upload", content=body).content
    assert reply == f"{size} {hashlib.sha256(body).hexdigest()}".encode()
    direct, proxied = both(upstream, proxy, request("GET", f"/download?n={size}"))
    assert len(proxied) > size
    assert proxied == direct
    upload, download = proxy.exchanges(2)
    limit = 1 << 20
    assert (len(upload.request_body.data), upload.request_body.size) == (limit, size)
    assert bytes(upload.request_body.data) == body[:limit]
    assert (len(download.response_body.data), download.response_body.size) == (limit, size)
    assert download.response_body.complete
    assert download.state == "completed"


def test_body_limit_cuts_what_is_kept_only(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(body_limit=4)
    raw = request("POST", "/echo", b"0123456789", chunked=True)
    assert raw_request(proxy.port, raw).endswith(b"\r\n\r\n0123456789")
    (exchange,) = proxy.exchanges(1)
    assert (bytes(exchange.request_body.data), exchange.request_body.size) == (b"0123", 10)
    assert (bytes(exchange.response_body.data), exchange.response_body.size) == (b"0123", 10)


def test_server_sent_events_arrive_before_the_stream_ends(
    upstream: Server, proxy: RunningProxy
) -> None:
    assert_streams_live(proxy.port, proxy.port)
    (exchange, release) = proxy.exchanges(2)
    chunks = [e for e in exchange.events if isinstance(e, ev.ResponseBodyChunk)]
    assert [(c.data, c.more_body) for c in chunks] == [
        (b"data: one\n\n", True),
        (b"data: two\n\n", True),
        (b"", False),
    ]
    assert release.request is not None
    assert release.request.path == "/sse-release"


def assert_streams_live(port: int, release_port: int) -> None:
    """The first event is read while the upstream cannot have ended the stream yet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("GET", "/sse"))
        seen = b""
        while b"data: one\n\n" not in seen:
            chunk = sock.recv(65536)
            assert chunk, seen
            seen += chunk
        assert b"data: two" not in seen
        assert b"released" in raw_request(release_port, request("GET", "/sse-release"))
        while chunk := sock.recv(65536):
            seen += chunk
    assert seen.endswith(b"data: two\n\n\r\n0\r\n\r\n")


def test_client_disconnect_closes_the_upstream_connection(
    upstream: Server, proxy: RunningProxy
) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: test\r\n\r\n")
        seen = b""
        while b"waiting" not in seen:
            seen += sock.recv(65536)
        assert established_to(upstream.port) == 1
    (exchange,) = proxy.exchanges(1)
    assert exchange.client_disconnected
    assert exchange.finished is not None
    assert exchange.finished.outcome == "disconnected"
    assert kinds(exchange.events)[-2:] == ["ClientDisconnected", "ExchangeFinished"]
    deadline = time.monotonic() + 5
    while established_to(upstream.port) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert established_to(upstream.port) == 0
    assert proxy.proxy.connections == 0


def established_to(port: int) -> int:
    """TCP connections from this host to 127.0.0.1:`port` now established (/proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(row[2] == f"0100007F:{port:04X}" and row[3] == "01" for row in rows)
