"""Inject through the relay's control socket: real `websockets` clients, the real uvicorn
upstream (an echo), with and without permessage-deflate, small and 1 MiB messages."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from inspector import events as ev
from inspector.observe.control import GONE, ActionError
from tests.inspector.proxy.conftest import MakeProxy
from tests.inspector.proxy.steering import Steered

MIB = os.urandom(1 << 20)


@pytest.fixture
def steered(make_proxy: MakeProxy, tmp_path: Path) -> Iterator[Steered]:
    steered = Steered(make_proxy(), tmp_path / "control.sock")
    yield steered
    steered.stop()


def _injected(events: list[ev.Event]) -> list[tuple[str, str | None, bytes | None, int]]:
    return [
        (e.sender, e.text, e.data, e.size)
        for e in events
        if isinstance(e, ev.WebSocketMessage) and e.injected
    ]


@pytest.mark.parametrize("compression", ["deflate", None])
@pytest.mark.parametrize("payload", [b"small", MIB], ids=["small", "1MiB"])
def test_inject_both_ways_and_the_conversation_goes_on(
    steered: Steered, compression: str | None, payload: bytes
) -> None:
    url = f"ws://127.0.0.1:{steered.proxy.port}/ws/echo"
    with connect(url, compression=compression, max_size=None) as ws:
        ws.send("before")
        assert ws.recv(5) == "before"
        xid = steered.xid()
        text = payload.hex()[: len(payload)]
        # Towards the server: the echo app gets it (unmasked frames would make it fail the
        # connection, RFC 6455 §5.1) and sends it back.
        steered.act(lambda c: c.inject(xid, "server", 1, text.encode()))
        assert ws.recv(5) == text
        steered.act(lambda c: c.inject(xid, "client", 2, payload))
        assert ws.recv(5) == payload
        ws.send("after")
        assert ws.recv(5) == "after"
        ws.send(b"\x00" * 70_000)  # compressed on a deflate connection: the context is intact
        assert ws.recv(5) == b"\x00" * 70_000
    (exchange,) = steered.proxy.exchanges(1)
    assert _injected(exchange.events) == [
        ("client", text[: 1 << 20], None, len(text)),
        ("server", None, payload, len(payload)),
    ]
    echoed = [m for m in exchange.messages if m.sender == "server" and m.text == text]
    assert len(echoed) == 1  # the echo of the injected message, recorded as the server's
    assert not echoed[0].injected


def _handshake(port: int, extensions: str | None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws/echo HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    if extensions:
        assert b"permessage-deflate" in head.lower()
    return sock


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        assert piece, "closed"
        data += piece
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _read_exactly(sock, 2)
    assert not b1 & 0x80, "frames to a client are never masked (RFC 6455 §5.1)"
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(_read_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(_read_exactly(sock, 8), "big")
    return b0, _read_exactly(sock, length)


@pytest.mark.parametrize("extensions", ["permessage-deflate", None])
def test_frames_on_the_wire_to_the_client(steered: Steered, extensions: str | None) -> None:
    sock = _handshake(steered.proxy.port, extensions)
    try:
        xid = steered.xid()
        steered.act(lambda c: c.inject(xid, "client", 2, MIB))
        frames = []
        while not frames or not frames[-1][0] & 0x80:
            frames.append(_read_frame(sock))
        assert b"".join(payload for _, payload in frames) == MIB
        assert all(len(payload) <= 64 * 1024 for _, payload in frames)
        assert [b0 & 0x7F for b0, _ in frames] == [2] + [0] * (len(frames) - 1)  # RSV1 clear
        assert len(frames) == 16
        steered.act(lambda c: c.inject(xid, "client", 1, b"hi"))
        assert _read_frame(sock) == (0x81, b"hi")
    finally:
        sock.close()


def test_bad_injections_say_why_and_others_go_on(steered: Steered) -> None:
    url = f"ws://127.0.0.1:{steered.proxy.port}/ws/echo"
    with connect(url) as other:
        other.send("x")
        assert other.recv(5) == "x"
        xid = steered.xid()
        with pytest.raises(ActionError, match="is no open WebSocket connection"):
            steered.act(lambda c: c.inject("nope-1", "server", 1, b"a"))
        with pytest.raises(ActionError, match="valid UTF-8"):
            steered.act(lambda c: c.inject(xid, "server", 1, b"\xff"))
        with pytest.raises(ActionError, match="opcode is 1"):
            steered.act(lambda c: c.inject(xid, "server", 9, b"a"))
        with connect(url) as closing:
            closing.send("y")
            assert closing.recv(5) == "y"
        closed = [
            e.exchange_id
            for e in steered.wait_for(
                lambda e: sum(isinstance(x, ev.ExchangeFinished) for x in e) >= 1
            )
            if isinstance(e, ev.ExchangeFinished)
        ]
        with pytest.raises(ActionError, match="no open WebSocket connection"):
            steered.act(lambda c: c.inject(closed[0], "client", 1, b"late"))
        other.send("still here")
        assert other.recv(5) == "still here"
        steered.act(lambda c: c.inject(xid, "client", 1, b"and injectable"))
        assert other.recv(5) == "and injectable"


def test_a_plain_http_exchange_cannot_be_injected_into(steered: Steered) -> None:
    with socket.create_connection(("127.0.0.1", steered.proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(65536)
    (exchange,) = steered.proxy.exchanges(1)
    with pytest.raises(ActionError, match="is no open WebSocket connection"):
        steered.act(lambda c: c.inject(exchange.id, "client", 1, b"a"))


def test_a_control_socket_that_is_gone_is_said(steered: Steered) -> None:
    steered.stop()
    with pytest.raises(ActionError) as caught:
        steered.act(lambda c: c.inject("x-1", "client", 1, b"a"))
    assert str(caught.value) == GONE


def test_the_control_socket_is_private(steered: Steered) -> None:
    assert steered.path.stat().st_mode & 0o777 == 0o600


def _masked(b0: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((b0, 0x80 | len(payload))) + key + masked


def test_an_injection_waits_for_the_end_of_a_fragmented_message(steered: Steered) -> None:
    sock = _handshake(steered.proxy.port, None)
    try:
        xid = steered.xid()
        sock.sendall(_masked(0x01, b"frag"))  # a text message's first frame, FIN clear
        frames = steered.proxy.proxy.steering.tunnels[xid].from_client_frames
        assert frames is not None
        deadline = time.monotonic() + 10
        while not frames.position()[2] and time.monotonic() < deadline:  # read by the relay
            time.sleep(0.005)
        steered.act(lambda c: c.inject(xid, "server", 1, b"injected"))
        sock.sendall(_masked(0x89, b"p"))  # a ping in between (§5.4: allowed)
        sock.sendall(_masked(0x80, b"mented"))
        replies = [_read_frame(sock) for _ in range(3)]
        # The echo app saw the whole message first, then the injected one: never inside it.
        assert replies == [(0x8A, b"p"), (0x81, b"fragmented"), (0x81, b"injected")]
    finally:
        sock.close()
