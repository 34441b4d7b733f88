"""Requests that cannot end normally: answered early, malformed after their head went upstream,
or rejected while the connection closes for another reason.

A scripted upstream plays what uvicorn cannot (an early answer, a stream held open). Each case
asserts the bytes the client gets, what the upstream got, and the folded events: every
exchange ends exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from inspector.observe.exchange import Exchange
from tests.inspector.proxy.conftest import MakeProxy, MakeScripted, RunningProxy
from tests.inspector.proxy.scripted import Peer, connect, kinds, read_to_end, read_until
from tests.servers import free_port, raw_request

EARLY_413 = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig"
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BAD_HEAD = b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n"


@pytest.mark.parametrize("then", ["closes", "stays open"])
def test_an_early_answer_ends_the_connection_mid_request(
    make_proxy: MakeProxy, make_scripted: MakeScripted, then: str
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        await peer.read(4)
        peer.send(EARLY_413)  # without reading the body, and without Connection: close
        if then == "closes":
            await peer.writer.drain()
            peer.writer.close()
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    head = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
    with connect(proxy.port) as sock:
        sock.sendall(head + b"AAAA")
        response = read_until(sock, b"big")
        # The rest of the body looks like a request: it must never reach the upstream as one.
        rest = b"GET /hidden HTTP/1.1\r\nHost: a\r\n\r\n"
        with contextlib.suppress(OSError):
            sock.sendall(rest + b"B" * (96 - len(rest)))
        tail, _ = read_to_end(sock)
    assert response + tail == EARLY_413
    upstream.join()
    assert upstream.received == [head + b"AAAA"]
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events) == [
        "RequestStarted",
        "RequestBodyChunk",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert (bytes(exchange.request_body.data), exchange.request_body.complete) == (b"AAAA", False)
    assert exchange.status == 413
    assert exchange.state == "completed"
    assert exchange.finished is not None
    assert exchange.finished.request_ns is None  # its request never arrived whole


def test_a_broken_body_behind_a_pending_response_gets_no_400(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    get = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
    post = b"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    with connect(proxy.port) as sock:
        sock.sendall(get + post + b"zz\r\n")
        # The 400 cannot go ahead of the response before it: the connection closes after it.
        assert read_to_end(sock) == (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", "closed")
    upstream.join()
    assert upstream.received == [get + post]  # forwarded up to the last valid byte
    first, broken = proxy.exchanges(2)
    assert (first.status, first.state, bytes(first.response_body.data)) == (
        200,
        "completed",
        b"first",
    )
    assert_failed_unanswered(broken, "bad chunk size line")


def test_a_broken_body_during_a_streamed_response_waits_for_its_end(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(STREAM_HEAD + b"5\r\nhello\r\n")
        await upstream.gate.wait()
        peer.send(b"5\r\nworld\r\n0\r\n\r\n")
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        seen = read_until(sock, b"hello\r\n")
        sock.sendall(b"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        proxy.exchanges(1)  # the broken one has ended
        upstream.release()
        rest, end = read_to_end(sock)
    assert (seen + rest, end) == (STREAM_HEAD + b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", "closed")
    first, broken = proxy.exchanges(2)
    assert (first.state, bytes(first.response_body.data)) == ("completed", b"helloworld")
    assert_failed_unanswered(broken, "bad chunk size line")


def test_a_broken_body_cuts_its_own_early_response(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(STREAM_HEAD + b"5\r\nearly\r\n")
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(
            b"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )
        seen = read_until(sock, b"early\r\n")
        sock.sendall(b"zz\r\n")
        rest, end = read_to_end(sock)
    assert (seen + rest, end) == (STREAM_HEAD + b"5\r\nearly\r\n", "reset")
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events)[-2:] == ["AppFailed", "ExchangeFinished"]
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.BadRequest"
    assert exchange.error.message == "bad chunk size line"
    assert exchange.error.response_started
    assert (bytes(exchange.request_body.data), bytes(exchange.response_body.data)) == (
        b"abc",
        b"early",
    )
    assert exchange.state == "failed"


def assert_failed_unanswered(exchange: Exchange, message: str) -> None:
    assert kinds(exchange.events) == ["RequestStarted", "AppFailed", "ExchangeFinished"]
    assert exchange.error is not None
    assert (exchange.error.type, exchange.error.message) == ("inspector.proxy.BadRequest", message)
    assert not exchange.error.response_started
    assert exchange.finished is not None
    assert exchange.finished.outcome == "failed"


# -- a deferred 400 when the connection closes first --------------------------------------------


def test_rejection_after_a_closing_response(proxy: RunningProxy) -> None:
    raw = b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + BAD_HEAD
    response = raw_request(proxy.port, raw)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"5\r\nhello\r\n0\r\n\r\n")  # the client asked to close: no 400
    first, rejected = proxy.exchanges(2)
    assert first.state == "completed"
    text = "malformed header field (the response before it closed the connection)"
    assert_failed_unanswered(rejected, text)


def test_rejection_after_a_502(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(upstream=("127.0.0.1", free_port()))
    response = raw_request(proxy.port, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n" + BAD_HEAD)
    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert response.count(b"HTTP/1.1") == 1
    first, rejected = proxy.exchanges(2)
    assert first.status == 502
    assert_failed_unanswered(
        rejected, "malformed header field (the proxy answered 502 to a request before it)"
    )


def test_rejection_when_the_client_leaves(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(STREAM_HEAD + b"5\r\nhello\r\n")
        await upstream.gate.wait()
        # Reading is paused while the 400 waits: the proxy learns the client left by writing.
        with contextlib.suppress(ConnectionError):
            while not peer.reader.at_eof():
                peer.send(b"1\r\nx\r\n")
                await peer.writer.drain()
                await asyncio.sleep(0.01)

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n" + BAD_HEAD)
        read_until(sock, b"hello\r\n")
    upstream.release()
    first, rejected = proxy.exchanges(2)
    assert kinds(first.events)[-2:] == ["ClientDisconnected", "ExchangeFinished"]
    assert first.finished is not None
    assert first.finished.outcome == "disconnected"
    assert kinds(rejected.events) == [
        "RequestStarted",
        "ClientDisconnected",
        "AppFailed",
        "ExchangeFinished",
    ]
    assert rejected.error is not None
    assert rejected.error.message == (
        "malformed header field (the client closed the connection first)"
    )
    assert rejected.state == "failed"


def test_closing_the_proxy_cuts_a_streamed_response(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(STREAM_HEAD + b"5\r\nhello\r\n")
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        read_until(sock, b"hello\r\n")
        asyncio.run_coroutine_threadsafe(proxy.proxy.close(), proxy.loop).result(10)
        assert read_to_end(sock) == (b"", "closed")
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events)[-2:] == ["AppFailed", "ExchangeFinished"]
    assert exchange.error is not None
    assert (exchange.error.type, exchange.error.message) == (
        "inspector.proxy.ResponseCut",
        "the proxy closed the connection",
    )
    assert exchange.error.response_started
    assert exchange.state == "failed"
