"""What the relay records and what the observer builds from it, in the cases the other files
leave out: masked headers and trailers, a WebSocket lost without a close frame, a capture
failure inside the relay, a proxy recording into a bare `RecordBuffer` (any `Recorder`), and
the relay never loading the observer's side.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from inspector import events as ev
from inspector import records as rec
from inspector.proxy import Proxy, ProxyConfig
from inspector.proxy.websocket import BINARY, TEXT, FrameReader
from inspector.redact import REDACTED
from tests.inspector.proxy.conftest import MakeProxy, MakeScripted
from tests.inspector.proxy.scripted import Peer, connect, kinds, read_to_end, read_until
from tests.inspector.proxy.test_websocket_frames import frame
from tests.servers import Server

MASK = REDACTED.encode()
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def test_redacted_headers_and_trailers(make_proxy: MakeProxy, make_scripted: MakeScripted) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Secret\r\n"
        b"X-Secret: upstream\r\n\r\n5\r\nhello\r\n0\r\nX-Secret: trailer\r\nX-Other: 1\r\n\r\n"
    )

    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(response)
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port), redact=["x-secret"])
    request = b"GET /a?b=1 HTTP/1.1\r\nHost: a\r\nX-SECRET: client\r\nConnection: close\r\n\r\n"
    with connect(proxy.port) as sock:
        sock.sendall(request)
        assert read_to_end(sock) == (response, "closed")  # what is forwarded is never masked
    upstream.join()
    assert upstream.received == [request]
    (exchange,) = proxy.exchanges(1)
    assert exchange.request is not None
    assert exchange.response is not None
    assert (exchange.request.path, exchange.request.query) == ("/a", b"b=1")
    assert (b"X-SECRET", MASK) in exchange.request.headers
    assert (b"X-Secret", MASK) in exchange.response.headers
    assert exchange.response.trailers  # announced by its Trailer field (RFC 9110 §6.6.2)
    (trailers,) = exchange.trailers
    assert trailers.headers == ((b"X-Secret", MASK), (b"X-Other", b"1"))
    assert bytes(exchange.response_body.data) == b"hello"
    assert kinds(exchange.events)[-2:] == ["ResponseTrailers", "ExchangeFinished"]


def test_a_websocket_lost_without_a_close_frame(
    make_proxy: MakeProxy, make_scripted: MakeScripted
) -> None:
    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(SWITCH + frame(TEXT, b"bye"))
        peer.writer.close()  # no close frame: RFC 6455 §7.1.5, code 1006

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(HANDSHAKE)
        assert read_to_end(sock) == (SWITCH + frame(TEXT, b"bye"), "closed")
    (exchange,) = proxy.exchanges(1)
    assert [(m.sender, m.text) for m in exchange.messages] == [("server", "bye")]
    assert exchange.closed is not None
    closed = exchange.closed
    assert (closed.sender, closed.code, closed.reason, closed.accepted) == (
        "server",
        1006,
        "",
        True,
    )
    assert exchange.finished is not None
    assert exchange.finished.outcome == "completed"
    assert exchange.finished.request_ns == 0
    assert exchange.finished.first_byte_ns is not None


def test_a_capture_failure_never_breaks_the_relay(
    make_proxy: MakeProxy, make_scripted: MakeScripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: FrameReader, data: bytes) -> None:
        raise RuntimeError("frame reader broke")

    monkeypatch.setattr(FrameReader, "feed", broken)
    frames = frame(BINARY, b"\x00" * 10) + frame(TEXT, b"still relayed")

    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(SWITCH + frames)
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port))
    with connect(proxy.port) as sock:
        sock.sendall(HANDSHAKE)
        assert read_until(sock, b"still relayed") == SWITCH + frames
    (exchange,) = proxy.exchanges(1)
    assert exchange.messages == []
    (failure,) = exchange.capture_errors
    assert failure.where == "proxy.websocket"
    assert "frame reader broke" in failure.error


def test_any_recorder_will_do(upstream: Server) -> None:
    """The proxy needs only `record(*fields)` and `failed(...)`: here a bare `RecordBuffer`,
    whose records decode as the observer would read them."""
    buffer = rec.RecordBuffer()
    request = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"

    records: list[rec.Record] = []

    async def run() -> bytes:
        config = ProxyConfig(upstream=("127.0.0.1", upstream.port), listen=("127.0.0.1", 0))
        async with Proxy(config, buffer) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(request + b"hello")
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            for _ in range(100):  # the exchange ends once the answer is written
                records.extend(rec.decode_record(data) for data in buffer.take())
                if records and isinstance(records[-1], rec.Finished):
                    break
                await asyncio.sleep(0.01)
        return answer

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [type(r).__name__ for r in records] == [
        "ProxyRequest",
        "BodyRead",
        "ProxyForwarded",  # the upstream connection opened once the request was read
        "ProxyResponse",
        "BodySent",
        "Finished",
    ]
    head, body, forwarded, response, _, finished = records
    assert isinstance(head, rec.ProxyRequest)
    assert isinstance(forwarded, rec.ProxyForwarded)
    assert (forwarded.peer, forwarded.sequence) == (["127.0.0.1", upstream.port], 1)
    assert head.head == request[:-2]  # through the CRLF ending its last field line
    assert (head.websocket, head.redact, head.snapshot["connection"]) == (False, None, 1)
    assert isinstance(body, rec.BodyRead)
    assert (body.data, body.size, body.more) == (b"hello", 5, False)
    assert isinstance(response, rec.ProxyResponse)
    assert response.head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.head.endswith(b"\r\n")
    assert isinstance(finished, rec.Finished)
    assert finished.outcome == "completed"
    assert len({r.xid for r in records if isinstance(r, rec.ExchangeRecord)}) == 1
    assert buffer.failures == 0


def test_body_records_keep_the_budget_only(make_proxy: MakeProxy) -> None:
    """A body is kept up to the capture budget; pieces past it are recorded with their size."""
    proxy = make_proxy(body_limit=3)
    with connect(proxy.port) as sock:
        head = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n"
        sock.sendall(head + b"\r\n01234")
        sock.sendall(b"56789")
        answer, _ = read_to_end(sock)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    (exchange,) = proxy.exchanges(1)
    chunks = [e for e in exchange.events if isinstance(e, ev.RequestBodyChunk)]
    assert sum(c.size for c in chunks) == 10
    assert b"".join(c.data for c in chunks) == b"012"
    assert chunks[-1].more_body is False


def test_the_relay_never_loads_the_observer() -> None:
    code = (
        "import sys, inspector.proxy, inspector.proxy.tunnel\n"
        "print(sorted(m for m in sys.modules if m.startswith('inspector.observe')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
