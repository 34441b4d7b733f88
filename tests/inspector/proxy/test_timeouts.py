"""The clocks through real sockets and real timers: an idle connection is closed, a stalled
request head gets 408, a request in flight is not idle.

Each rule is tested exactly on a fake clock in `test_connection`; these only show that the
asyncio adapters run the connection's wakes. Nothing here asserts a duration.
"""

from __future__ import annotations

import pytest

from tests.inspector.proxy.conftest import MakeProxy, MakeScripted
from tests.inspector.proxy.scripted import Peer, connect, kinds, read_to_end, read_until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
GET = b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"
CHUNKED_END = b"0\r\n\r\n"


def timeout_408(seconds: str) -> bytes:
    body = b"408 Request Timeout: the request head was not complete within %s s\n" % (
        seconds.encode()
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("requests", [0, 1])
def test_an_idle_connection_is_closed_with_its_upstream_connection(
    make_proxy: MakeProxy, make_scripted: MakeScripted, loop: str, requests: int
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(OK)
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(loop=loop, upstream=("127.0.0.1", upstream.port), idle_timeout=0.2)
    with connect(proxy.port) as sock:
        sock.sendall(GET * requests)
        assert read_to_end(sock) == (OK * requests, "closed")  # then nothing: EOF
    upstream.join()  # its script ends only once the proxy closed the upstream connection
    assert len(upstream.peers) == requests
    exchanges = proxy.exchanges(requests)
    assert [(x.status, x.state) for x in exchanges] == [(200, "completed")] * requests
    assert all("AppFailed" not in kinds(x.events) for x in exchanges)  # an idle close: no event


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_stalled_request_head_gets_408(make_proxy: MakeProxy, loop: str) -> None:
    proxy = make_proxy(loop=loop, header_timeout=0.2)
    with connect(proxy.port) as sock:
        sock.sendall(GET)  # a request first: the clock is the head's, not the connection's
        read_until(sock, CHUNKED_END)
        sock.sendall(b"GET /stalled?q=1 HTTP/1.1\r\nHost: a\r\n")
        assert read_to_end(sock) == (timeout_408("0.2"), "closed")
    first, stalled = proxy.exchanges(2)
    assert (first.status, first.state) == (200, "completed")
    assert kinds(stalled.events) == [
        "RequestStarted",
        "AppFailed",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert stalled.request is not None
    assert (stalled.request.method, stalled.request.path) == ("GET", "/stalled")
    assert stalled.error is not None
    assert (stalled.error.type, stalled.error.message) == (
        "inspector.proxy.RequestTimeout",
        "the request head was not complete within 0.2 s",
    )
    assert not stalled.error.response_started
    assert (stalled.status, stalled.state) == (408, "failed")
    assert stalled.finished is not None
    assert stalled.finished.outcome == "failed"


def test_a_request_in_flight_is_not_idle(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(idle_timeout=0.2, header_timeout=0.2)
    with connect(proxy.port) as sock:
        sock.sendall(b"GET /slow?s=0.8 HTTP/1.1\r\nHost: a\r\n\r\n")
        response = read_until(sock, CHUNKED_END)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert response.endswith(b"4\r\nlate\r\n0\r\n\r\n")
        assert read_to_end(sock) == (b"", "closed")  # idle once answered: then closed
    (exchange,) = proxy.exchanges(1)
    assert (exchange.status, exchange.state) == (200, "completed")
