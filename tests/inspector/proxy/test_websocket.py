"""WebSocket through the proxy: echo of every kind of message, close codes, precise events.

Real clients (the `websockets` library) against the real uvicorn upstream, with and without
permessage-deflate (compressed frames are inflated for the events, on the bus thread).
"""

from __future__ import annotations

import os
import socket

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from inspector import events as ev
from inspector.proxy.websocket import CLOSE, PING, TEXT
from tests.inspector.proxy.conftest import MakeProxy, MakeScripted, RunningProxy
from tests.inspector.proxy.scripted import Peer, read_until
from tests.inspector.proxy.test_websocket_frames import frame
from tests.servers import Server

LARGE = os.urandom(1_000_000)


def messages(events: list[ev.Event]) -> list[tuple[str, str | None, bytes | None, int]]:
    return [
        (e.sender, e.text, e.data, e.size) for e in events if isinstance(e, ev.WebSocketMessage)
    ]


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_and_client_close(proxy: RunningProxy, compression: str | None) -> None:
    sent: list[str | bytes] = ["hello", b"\x00\x01binary", "", b"", LARGE, "é" * 70_000]
    with connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression=compression) as ws:
        for message in sent:
            ws.send(message)
            assert ws.recv() == message
        ws.send(["frag", "mented"])  # one text message in two frames (RFC 6455 §5.4)
        assert ws.recv() == "fragmented"
        ws.ping(b"p").wait(5)
        ws.close(4002, "bye now")
    assert ws.close_code == 4002
    assert ws.close_reason == "bye now"
    (exchange,) = proxy.exchanges(1)
    request = exchange.request
    assert request is not None
    assert request.kind == "websocket"
    assert request.scheme == "ws"
    assert (request.method, request.path, request.source) == ("GET", "/ws/echo", "proxy")
    assert exchange.accepted is not None
    assert exchange.status == 101
    assert (b"x-ws", b"1") in exchange.accepted.headers
    expected: list[tuple[str, str | None, bytes | None, int]] = []
    for message in [*sent, "fragmented"]:
        for sender in ("client", "server"):
            if isinstance(message, str):
                expected.append((sender, message, None, len(message.encode())))
            else:
                expected.append((sender, None, message, len(message)))
    assert messages(exchange.events) == expected
    relayed = [(e.direction, e.type) for e in exchange.events if isinstance(e, ev.MessageRelayed)]
    assert relayed == [("receive", "websocket.ping"), ("send", "websocket.pong")]
    closes = [e for e in exchange.events if isinstance(e, ev.WebSocketClosed)]
    assert [(c.sender, c.code, c.reason) for c in closes] == [
        ("client", 4002, "bye now"),
        ("server", 4002, "bye now"),
    ]
    kinds = [type(e).__name__ for e in exchange.events]
    assert kinds[:4] == [
        "RequestStarted",
        "WebSocketHandshakeReceived",
        "RequestForwarded",
        "WebSocketAccepted",
    ]
    assert kinds[-1] == "ExchangeFinished"
    assert exchange.state == "closed"


def test_server_close_code_and_reason(proxy: RunningProxy) -> None:
    with connect(f"ws://127.0.0.1:{proxy.port}/ws/echo") as ws:
        ws.send("close please")
        with pytest.raises(ConnectionClosed):
            ws.recv()
    assert ws.close_code == 4001
    assert ws.close_reason == "asked to"
    (exchange,) = proxy.exchanges(1)
    assert exchange.closed is not None
    assert (exchange.closed.sender, exchange.closed.code) == ("server", 4001)
    assert exchange.closed.reason == "asked to"
    assert messages(exchange.events) == [("client", "close please", None, 12)]


def test_subprotocol_and_empty_messages(proxy: RunningProxy) -> None:
    url = f"ws://127.0.0.1:{proxy.port}/ws/subprotocol"
    with connect(url, subprotocols=["chat.v2"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat.v2"
        assert ws.recv() == ""
        assert ws.recv() == b""
        with pytest.raises(ConnectionClosedOK):
            ws.recv()
    (exchange,) = proxy.exchanges(1)
    assert exchange.accepted is not None
    assert exchange.accepted.subprotocol == "chat.v2"
    assert messages(exchange.events) == [("server", "", None, 0), ("server", None, b"", 0)]


def test_denied_handshake_is_recorded(upstream: Server, proxy: RunningProxy) -> None:
    with pytest.raises(InvalidStatus, match="401"):
        connect(f"ws://127.0.0.1:{proxy.port}/ws/denial")
    (exchange,) = proxy.exchanges(1)
    assert exchange.denied is not None
    assert exchange.status == 401
    assert (b"x-denied", b"yes") in exchange.denied.headers
    assert exchange.accepted is None
    assert bytes(exchange.response_body.data) == b"go away"


def test_limits_per_message_and_per_connection(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(body_limit=10, max_ws_messages=3)
    with connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression=None) as ws:
        for message in ("0123456789abcdef", "é" * 8, "third", "fourth"):
            ws.send(message)
            assert ws.recv() == message
    (exchange,) = proxy.exchanges(1)
    assert messages(exchange.events) == [
        ("client", "0123456789", None, 16),
        ("server", "0123456789", None, 16),
        ("client", "ééééé", None, 16),  # cut at 10 bytes: whole characters only
    ]
    assert exchange.closed is not None
    assert exchange.closed.code == 1000


def test_control_and_reserved_frames(make_proxy: MakeProxy, make_scripted: MakeScripted) -> None:
    # Ping and pong do not use up `max_ws_messages`; reserved opcodes (§5.2) are named as such.
    frames = (
        frame(PING, b"p")
        + frame(0x3, b"three")
        + frame(0xB, b"eleven")
        + frame(TEXT, b"hi")
        + frame(TEXT, b"over the cap")
        + frame(CLOSE, (1000).to_bytes(2, "big"))
    )
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )

    async def script(peer: Peer) -> None:
        await peer.head()
        peer.send(switch + frames)
        await peer.until_closed()

    upstream = make_scripted(script)
    proxy = make_proxy(upstream=("127.0.0.1", upstream.port), max_ws_messages=2)
    handshake = (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(handshake)
        assert read_until(sock, frames[-4:]) == switch + frames
    (exchange,) = proxy.exchanges(1)
    relayed = [(e.direction, e.type) for e in exchange.events if isinstance(e, ev.MessageRelayed)]
    assert relayed == [
        ("send", "websocket.ping"),
        ("send", "websocket.opcode-3"),
        ("send", "websocket.opcode-11"),
    ]
    assert messages(exchange.events) == [("server", "hi", None, 2)]
    assert exchange.closed is not None
    assert (exchange.closed.sender, exchange.closed.code) == ("server", 1000)
    assert exchange.finished is not None
    assert exchange.finished.request_ns == 0  # the handshake is its whole request
