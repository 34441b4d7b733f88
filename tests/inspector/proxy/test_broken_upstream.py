"""An upstream that breaks: a malformed body, a reset, an idle close meeting a request.

A scripted upstream plays each case on raw sockets. The client must get what it would get
from that upstream directly (the bytes up to the break, then the break itself), the events
must say what happened, and a request the upstream dropped unanswered on a kept-alive
connection is sent again only when that is safe.
"""

from __future__ import annotations

import pytest

from tests.inspector.proxy.conftest import MakeProxy, MakeScripted
from tests.inspector.proxy.scripted import Peer, connect, kinds, read_to_end, read_until

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_malformed_body_is_forwarded_up_to_where_it_broke(
    make_proxy: MakeProxy, make_scripted: MakeScripted, loop: str
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(HEAD + b"5\r\nhello\r\nZZ\r\n")  # one read: good chunk, then a bad size line
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(loop=loop, upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_to_end(sock) == (HEAD + b"5\r\nhello\r\n", "reset")
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events) == [
        "RequestStarted",
        "RequestBodyChunk",
        "RequestForwarded",
        "ResponseStarted",
        "ResponseBodyChunk",
        "AppFailed",
        "ExchangeFinished",
    ]
    assert exchange.status == 200
    assert (bytes(exchange.response_body.data), exchange.response_body.complete) == (
        b"hello",
        False,
    )
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.MalformedResponse"
    assert exchange.error.message.endswith("sent a malformed response (bad chunk size line)")
    assert exchange.error.response_started
    assert exchange.state == "failed"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_reset_during_a_body_read_until_close_reaches_the_client(
    make_proxy: MakeProxy, make_scripted: MakeScripted, loop: str
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(b"HTTP/1.1 200 OK\r\n\r\npartial body")  # no length: read until close
        await upstream.gate.wait()
        peer.reset()

    upstream = make_scripted(script)
    proxy = make_proxy(loop=loop, upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        seen = read_until(sock, b"partial body")
        upstream.release()
        # A FIN would end this body as if complete: the client must see the reset.
        assert read_to_end(sock) == (b"", "reset")
    assert seen == b"HTTP/1.1 200 OK\r\n\r\npartial body"
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events)[-2:] == ["AppFailed", "ExchangeFinished"]
    assert exchange.error is not None
    assert exchange.error.type == "ConnectionResetError"
    assert exchange.error.response_started
    assert (bytes(exchange.response_body.data), exchange.response_body.complete) == (
        b"partial body",
        False,
    )
    assert exchange.state == "failed"


@pytest.mark.parametrize(
    ("request_", "how", "retried"),
    [
        (b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n", "close", True),
        (b"PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "reset", True),
        (b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "close", False),
    ],
    ids=["get-close", "put-reset", "post-close"],
)
def test_a_request_meeting_an_idle_close(
    make_proxy: MakeProxy,
    make_scripted: MakeScripted,
    request_: bytes,
    how: str,
    retried: bool,
) -> None:
    async def script(peer: Peer) -> None:
        if peer.number == 0:
            await peer.head()
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
            await peer.head()  # the request arrived as the upstream closed: it drops it
            if how == "reset":
                peer.reset()
                return
            peer.writer.close()
            await peer.until_closed()
        else:
            await peer.head()
            if b"Content-Length" in request_:
                await peer.read(3)
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
            await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    first = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
    with connect(proxy.port) as sock:
        sock.sendall(first)
        assert read_until(sock, b"one").endswith(b"\r\n\r\none")
        sock.sendall(request_)
        if retried:
            assert read_until(sock, b"two") == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"
        else:
            response, _ = read_to_end(sock)
            assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    states = [(x.status, x.state) for x in proxy.exchanges(2)]
    if retried:
        assert states == [(200, "completed"), (200, "completed")]
        upstream.join()
        assert len(upstream.received) == 2
        assert upstream.received[1] == request_  # sent again exactly as forwarded
    else:
        assert states == [(200, "completed"), (502, "failed")]
        assert len(upstream.peers) == 1


def test_an_http_10_response_keeps_the_clients_close(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    response = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"

    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(response)
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_to_end(sock) == (response, "closed")
    (exchange,) = proxy.exchanges(1)
    assert exchange.state == "completed"
