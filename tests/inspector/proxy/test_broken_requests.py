"""Requests that cannot end normally: answered early, malformed after their head went upstream,
or sent after the last request a connection serves (never read then).

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
        "RequestForwarded",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert (bytes(exchange.request_body.data), exchange.request_body.complete) == (b"AAAA", False)
    assert exchange.status == 413
    assert exchange.state == "completed"
    assert exchange.finished is not None
    assert exchange.finished.request_ns is None  # its request never arrived whole


BAD_CHUNK_400 = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 37\r\nconnection: close\r\n\r\n400 Bad Request: bad chunk size line\n"
)


def test_a_pipelined_request_is_read_once_the_response_before_it_ended(
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
        # One request at a time (as nginx): the POST is read after the 200, so its broken body
        # gets a 400 of its own, in order.
        first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
        assert read_to_end(sock) == (first + BAD_CHUNK_400, "closed")
    upstream.join()
    assert upstream.received == [get + post]  # forwarded up to the last valid byte
    first_exchange, broken = proxy.exchanges(2)
    assert (first_exchange.status, first_exchange.state) == (200, "completed")
    assert bytes(first_exchange.response_body.data) == b"first"
    assert (broken.status, broken.state) == (400, "failed")
    assert broken.error is not None
    assert broken.error.message == "bad chunk size line"


def test_a_request_sent_during_a_streamed_response_waits_for_its_end(
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
        assert len(proxy.exchanges()) == 1  # held, not read, while the response streams
        upstream.release()
        rest, end = read_to_end(sock)
    streamed = STREAM_HEAD + b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"
    assert (seen + rest, end) == (streamed + BAD_CHUNK_400, "closed")
    first, broken = proxy.exchanges(2)
    assert (first.state, bytes(first.response_body.data)) == ("completed", b"helloworld")
    assert (broken.status, broken.state) == (400, "failed")


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


# -- bytes after the last request a connection serves are never read ------------------------


def test_nothing_is_read_after_a_closing_response(proxy: RunningProxy) -> None:
    raw = b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + BAD_HEAD
    response = raw_request(proxy.port, raw)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"5\r\nhello\r\n0\r\n\r\n")  # RFC 9112 §9.6: no more requests
    (first,) = proxy.exchanges(1)
    assert first.state == "completed"
    assert len(proxy.exchanges()) == 1


def test_nothing_is_read_after_a_502(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(upstream=("127.0.0.1", free_port()))
    response = raw_request(proxy.port, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n" + BAD_HEAD)
    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert response.count(b"HTTP/1.1") == 1
    (first,) = proxy.exchanges(1)
    assert first.status == 502
    assert len(proxy.exchanges()) == 1


def test_a_client_that_leaves_during_a_response_ends_it_as_disconnected(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(STREAM_HEAD + b"5\r\nhello\r\n")
        await upstream.gate.wait()
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
    (first,) = proxy.exchanges(1)
    assert kinds(first.events)[-2:] == ["ClientDisconnected", "ExchangeFinished"]
    assert first.finished is not None
    assert first.finished.outcome == "disconnected"
    assert len(proxy.exchanges()) == 1  # the head it sent after was held, never read


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
