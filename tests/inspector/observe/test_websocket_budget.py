"""The byte budget of WebSocket messages: pure builder tests, fixed ids and clocks, no I/O.

Messages keep their payload while their connection (and the open connections of the builder)
are within budget; past it they come with their sender, opcode and size but no payload, and
the fold counts them. The proxy's messages and the middleware's obey the same budget.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from inspector import events as ev
from inspector import records as rec
from inspector.observe import build
from inspector.observe.build import Builder
from inspector.observe.exchange import fold
from inspector.observe.websocket import BINARY, TEXT, MessageBudget

MASK = b"\x01\x02\x03\x04"
TAKEOVER = b"permessage-deflate"
NO_TAKEOVER = b"permessage-deflate; client_no_context_takeover; server_no_context_takeover"


def built(builder: Builder, *records: tuple[Any, ...]) -> list[ev.Event]:
    return builder.build([rec.decode_record(rec.encode(fields)) for fields in records])


def messages(events: list[ev.Event]) -> list[tuple[str, str | bytes | None, int]]:
    return [
        (e.sender, e.text if e.text is not None else e.data, e.size)
        for e in events
        if isinstance(e, ev.WebSocketMessage)
    ]


# -- what the proxy records ---------------------------------------------------------------------


def opened(xid: str, extensions: bytes | None = None) -> list[tuple[Any, ...]]:
    """A proxied WebSocket handshake; `extensions`: the 101's Sec-WebSocket-Extensions."""
    head = b"GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\r\n"
    client, server = ("127.0.0.1", 50000), ("127.0.0.1", 8000)
    response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    if extensions is not None:
        response += b"Sec-WebSocket-Extensions: " + extensions + b"\r\n"
    return [
        (rec.PROXY_REQUEST, xid, 1_000, head, True, client, server, {}),
        (rec.PROXY_RESPONSE, xid, 1_100, response, True),
    ]


def masked(payload: bytes) -> bytes:
    return bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def frame(
    xid: str, at: int, sender: str, payload: bytes, limit: int = 1 << 20, opcode: int = BINARY
) -> tuple[Any, ...]:
    """A whole uncompressed message as the relay records it (the client's masked)."""
    mask = MASK if sender == "client" else None
    data = masked(payload[:limit]) if mask else payload[:limit]
    pieces = [(data, mask, 0)]
    return (rec.WS_FRAME, xid, at, sender, opcode, pieces, len(payload), False, limit)


class Deflater:
    """One direction's permessage-deflate (RFC 7692 §7.2.1), with or without takeover."""

    def __init__(self, takeover: bool = True) -> None:
        self.takeover = takeover
        self.compress = zlib.compressobj(wbits=-15)

    def frame(
        self, xid: str, at: int, payload: bytes, limit: int = 1 << 20, opcode: int = BINARY
    ) -> tuple[Any, ...]:
        """A whole compressed message the server sent, as the relay records it."""
        if not self.takeover:
            self.compress = zlib.compressobj(wbits=-15)
        data = self.compress.compress(payload) + self.compress.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]  # the empty block's tail is removed
        pieces = [(data[:limit], None, 0)]
        return (rec.WS_FRAME, xid, at, "server", opcode, pieces, len(data), True, limit)


def test_a_connection_keeps_payload_up_to_its_budget_then_only_sizes() -> None:
    builder = Builder(budget=MessageBudget(per_connection=10, total=100))
    events = built(
        builder,
        *opened("p-1"),
        frame("p-1", 1_200, "client", b"0123"),
        frame("p-1", 1_300, "server", b"4567"),
        frame("p-1", 1_400, "client", b"89ab"),  # 2 bytes left: a prefix
        frame("p-1", 1_500, "server", b"cdef", opcode=TEXT),  # none left: the size only
        frame("p-1", 1_600, "client", b""),
    )
    assert messages(events) == [
        ("client", b"0123", 4),
        ("server", b"4567", 4),
        ("client", b"89", 4),
        ("server", "", 4),
        ("client", b"", 0),
    ]
    assert builder.budget.used == 10
    exchange = fold(events)["p-1"]
    assert (exchange.payloads_not_kept, exchange.payload_bytes_not_kept) == (1, 4)
    assert exchange.message_counts == {"client": 3, "server": 2}
    (done,) = built(builder, (rec.FINISHED, "p-1", 2_000, "completed"))
    assert builder.budget.used == 0  # a finished connection gives its bytes back
    assert done == ev.ExchangeFinished("p-1", 2_000, "completed", 0, 100, 1_000)


def test_open_connections_share_the_total() -> None:
    builder = Builder(budget=MessageBudget(per_connection=8, total=12))
    events = built(
        builder,
        *opened("p-1"),
        *opened("p-2"),
        frame("p-1", 1_200, "client", b"aaaaaaaa"),
        frame("p-2", 1_300, "client", b"bbbbbbbb"),  # 4 bytes of the total left
        frame("p-2", 1_400, "server", b"cc"),
        (rec.FINISHED, "p-1", 1_500, "completed"),
        frame("p-2", 1_600, "server", b"dddddddd"),  # p-1 gave 8 back; p-2 has 4 of its own
    )
    assert messages(events) == [
        ("client", b"aaaaaaaa", 8),
        ("client", b"bbbb", 8),
        ("server", b"", 2),
        ("server", b"dddd", 8),
    ]
    assert builder.budget.used == 8


def test_builders_can_share_one_budget() -> None:
    budget = MessageBudget(per_connection=8, total=8)
    one, other = Builder(budget=budget), Builder(budget=budget)
    built(one, *opened("a-1"), frame("a-1", 1_200, "client", b"12345"))
    events = built(other, *opened("b-1"), frame("b-1", 1_200, "client", b"12345"))
    assert messages(events) == [("client", b"123", 5)]


def test_the_middleware_and_the_proxy_keep_the_same_messages() -> None:
    """One vocabulary: an ASGI app's messages and the proxy's obey the same budget."""
    sent: list[tuple[str, str | bytes]] = [
        ("client", "héllo"),
        ("server", b"\x00\x01\x02"),
        ("client", "wörld"),  # 2 bytes left: the cut never splits a character
        ("server", b"more"),
    ]
    asgi = Builder(budget=MessageBudget(per_connection=11))
    scope = {"type": "websocket", "path": "/ws", "headers": []}
    records: list[tuple[Any, ...]] = [(rec.ASGI_SCOPE, "a-1", 1_000, scope)]
    for at, (sender, payload) in enumerate(sent, 1_200):
        key = "text" if isinstance(payload, str) else "bytes"
        if sender == "client":
            records.append(
                (rec.ASGI_RECEIVED, "a-1", at, {"type": "websocket.receive", key: payload})
            )
        else:
            records.append((rec.ASGI_SENT, "a-1", at, {"type": "websocket.send", key: payload}))
    proxy = Builder(budget=MessageBudget(per_connection=11))
    frames = [
        frame(
            "p-1",
            at,
            sender,
            payload.encode() if isinstance(payload, str) else payload,
            opcode=TEXT if isinstance(payload, str) else BINARY,
        )
        for at, (sender, payload) in enumerate(sent, 1_200)
    ]
    expected = [
        ("client", "héllo", 6),
        ("server", b"\x00\x01\x02", 3),
        ("client", "w", 6),
        ("server", b"", 4),
    ]
    assert messages(built(asgi, *records)) == expected
    assert messages(built(proxy, *opened("p-1"), *frames)) == expected
    assert asgi.budget.used == proxy.budget.used == 11


def test_an_asgi_message_already_cut_by_capture_keeps_its_whole_size() -> None:
    builder = Builder(budget=MessageBudget(per_connection=3))
    events = built(
        builder,
        (rec.ASGI_SCOPE, "a-1", 1_000, {"type": "websocket", "path": "/ws"}),
        (rec.ASGI_SENT, "a-1", 1_100, {"type": "websocket.send", "bytes": b"01234"}, 1_000),
        (rec.ASGI_SENT, "a-1", 1_200, {"type": "websocket.send", "text": "abc"}, 2_000),
    )
    assert messages(events) == [("server", b"012", 1_000), ("server", "", 2_000)]


def test_compressed_messages_past_the_budget_are_still_inflated_for_their_size() -> None:
    """With context takeover each message needs the ones before it inflated: the messages
    past a connection's budget are inflated (not kept), so when the total has room again
    the next messages can still be read."""
    builder = Builder(budget=MessageBudget(per_connection=1 << 20, total=100))
    server = Deflater()
    events = built(
        builder,
        *opened("p-1", TAKEOVER),
        *opened("p-2"),
        frame("p-2", 1_150, "client", bytes(100)),  # uses up the total
        server.frame("p-1", 1_200, b"hello " * 50, opcode=TEXT),
        server.frame("p-1", 1_300, b"hello " * 50, opcode=TEXT),
        (rec.FINISHED, "p-2", 1_400, "completed"),
        server.frame("p-1", 1_500, b"hello again", opcode=TEXT),
    )
    assert messages(events)[1:] == [
        ("server", "", 300),
        ("server", "", 300),
        ("server", "hello again", 11),
    ]


def test_a_message_that_inflates_too_far_is_not_inflated_to_its_end() -> None:
    """A few kilobytes can inflate to a gigabyte: inflating stops one byte past what is kept
    plus the capture limit; the size is then only a lower bound, and with context takeover
    the messages after it cannot be read."""
    limit = 1 << 16
    bomb = bytes(8 << 20)
    takeover, fresh = Builder(), Builder()
    with_takeover, without = Deflater(), Deflater(takeover=False)
    events = built(
        takeover,
        *opened("p-1", TAKEOVER),
        with_takeover.frame("p-1", 1_200, bomb, limit),
        with_takeover.frame("p-1", 1_300, b"after", limit),
    )
    (first, after) = [e for e in events if isinstance(e, ev.WebSocketMessage)]
    assert (first.data, first.size) == (bytes(limit), 2 * limit + 1)
    assert after.data == b""  # unreadable: the context lacks the end of the bomb
    assert after.size < 100  # the size as sent, compressed
    events = built(
        fresh,
        *opened("p-1", NO_TAKEOVER),
        without.frame("p-1", 1_200, bomb, limit),
        without.frame("p-1", 1_300, b"after", limit),
    )
    assert messages(events)[1:] == [("server", b"after", 5)]


def test_a_message_past_the_budget_inflates_at_most_the_limit() -> None:
    builder = Builder(budget=MessageBudget(per_connection=0))
    events = built(
        builder,
        *opened("p-1", NO_TAKEOVER),
        Deflater(takeover=False).frame("p-1", 1_200, bytes(4096), limit=1000),
    )
    assert messages(events) == [("server", b"", 1001)]


def test_compressed_messages_of_a_connection_never_seen_keep_nothing() -> None:
    """Without the 101 nobody knows what was agreed: the bytes are not shown as if plain."""
    record = Deflater().frame("p-7", 1_200, b"hello", opcode=TEXT)
    assert messages(built(Builder(), record)) == [("server", "", record[6])]


def test_messages_of_a_connection_whose_start_was_not_seen_count_all_the_same() -> None:
    builder = Builder(budget=MessageBudget(per_connection=4))
    events = built(
        builder,
        frame("p-7", 1_200, "client", b"abc"),
        frame("p-7", 1_300, "client", b"def"),
        (rec.FINISHED, "p-7", 1_400, "completed"),
    )
    assert messages(events) == [("client", b"abc", 3), ("client", b"d", 3)]
    assert events[-1] == ev.ExchangeFinished("p-7", 1_400, "completed", None, None, 0)
    assert builder.budget.used == 0


def test_a_forgotten_connection_gives_its_bytes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "MAX_OPEN", 2)
    builder = Builder(budget=MessageBudget(per_connection=10, total=10))
    built(builder, *opened("p-1"), frame("p-1", 1_200, "client", b"0123456789"))
    assert builder.budget.used == 10
    built(builder, *opened("p-2"), *opened("p-3"))
    assert list(builder.open) == ["p-2", "p-3"]
    assert builder.budget.used == 0
