"""Real nginx in front of the proxy: nginx -> proxy -> upstream must equal nginx -> upstream.

One nginx serves two ports with the same configuration (HTTP/1.1 to the upstream with
keep-alive, no buffering, WebSocket upgrade headers): one forwards through the proxy, one
straight to the upstream. nginx is required: without it these tests fail, they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.inspector.proxy.conftest import MakeProxy, Nginx, RunningProxy, run_nginx
from tests.inspector.proxy.test_http import CASES, assert_streams_live
from tests.servers import Server, raw_request, without_date


@pytest.fixture
def proxied(make_proxy: MakeProxy) -> RunningProxy:
    return make_proxy(loop="uvloop")


@pytest.fixture
def nginx(tmp_path: Path, proxied: RunningProxy, upstream: Server) -> Iterator[Nginx]:
    with run_nginx(tmp_path, proxied.port, upstream.port) as nginx:
        yield nginx


@pytest.mark.parametrize(
    "case", ["get", "post", "echo-chunked", "head", "no-content", "not-modified", "raw-path-kept"]
)
def test_through_nginx_is_byte_identical(nginx: Nginx, proxied: RunningProxy, case: str) -> None:
    direct = without_date(raw_request(nginx.direct_port, CASES[case]))
    through = without_date(raw_request(nginx.port, CASES[case]))
    assert direct.startswith(b"HTTP/1.1 ")
    assert through == direct
    (exchange,) = proxied.exchanges(1)
    assert exchange.state == "completed"
    assert exchange.request is not None
    assert exchange.request.client is not None
    assert exchange.request.client[0] == "127.0.0.1"  # nginx's side of the hop


def test_large_download_through_nginx(nginx: Nginx, proxied: RunningProxy) -> None:
    # nginx re-chunks a streamed body as its reads happen to split it: compare the content.
    raw = b"GET /download?n=3000000 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    direct = dechunk(without_date(raw_request(nginx.direct_port, raw)))
    assert dechunk(without_date(raw_request(nginx.port, raw))) == direct
    assert len(direct[1]) == 3_000_000
    (exchange,) = proxied.exchanges(1)
    assert exchange.response_body.size == 3_000_000


def dechunk(response: bytes) -> tuple[bytes, bytes]:
    head, _, framed = response.partition(b"\r\n\r\n")
    body = b""
    while True:
        size_line, _, framed = framed.partition(b"\r\n")
        size = int(size_line, 16)
        if not size:
            return head, body
        body, framed = body + framed[:size], framed[size + 2 :]


def test_server_sent_events_through_nginx(nginx: Nginx, proxied: RunningProxy) -> None:
    assert_streams_live(nginx.port, nginx.port)
    sse, _ = proxied.exchanges(2)
    assert bytes(sse.response_body.data) == b"data: one\n\ndata: two\n\n"


def test_keep_alive_connections_from_nginx_are_reused(nginx: Nginx, proxied: RunningProxy) -> None:
    for _ in range(5):
        assert raw_request(nginx.port, CASES["get"]).endswith(b"hello\r\n0\r\n\r\n")
    exchanges = proxied.exchanges(5)
    connections = {x.request.snapshot["connection"] for x in exchanges if x.request}
    assert len(connections) == 1


def test_websocket_through_nginx(nginx: Nginx, proxied: RunningProxy) -> None:
    with connect(f"ws://127.0.0.1:{nginx.port}/ws/echo") as ws:
        for message in ("text", b"\x00binary", "", b"x" * 300_000):
            ws.send(message)
            assert ws.recv() == message
        ws.close(4003, "done")
    assert ws.close_code == 4003
    assert ws.close_reason == "done"
    (exchange,) = proxied.exchanges(1)
    assert exchange.message_counts == {"client": 4, "server": 4}
    assert exchange.closed is not None
    assert (exchange.closed.sender, exchange.closed.code, exchange.closed.reason) == (
        "client",
        4003,
        "done",
    )
