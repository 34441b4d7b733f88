"""The relay's RFC 6455 frame observer, and the observer's events from what it records, no I/O."""

from __future__ import annotations

import os
import tracemalloc
import zlib
from typing import Any

import pytest

from inspector.events import Sender, WebSocketClosed, WebSocketMessage
from inspector.observe.websocket import Inflater, control_event, deflate_params
from inspector.observe.websocket import message_event as any_message_event
from inspector.proxy.websocket import BINARY, CLOSE, PING, TEXT, FrameReader
from inspector.records import Pieces


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + size.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def message_event(*args: Any) -> WebSocketMessage:
    event = any_message_event(*args)
    assert isinstance(event, WebSocketMessage)
    return event


def closed_event(xid: str, at: int, sender: Sender, pieces: Pieces) -> WebSocketClosed:
    event = control_event(xid, at, sender, CLOSE, pieces)
    assert isinstance(event, WebSocketClosed)
    return event


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[int, Pieces, int, bool]] = []
        self.controls: list[tuple[int, Pieces]] = []

    def message(self, opcode: int, pieces: Pieces, size: int, compressed: bool) -> None:
        self.messages.append((opcode, pieces, size, compressed))

    def control(self, opcode: int, pieces: Pieces) -> None:
        self.controls.append((opcode, pieces))


@pytest.mark.parametrize("step", [1, 5, 1000, 1 << 20])
def test_fragments_masks_and_split_reads(step: int) -> None:
    big = os.urandom(70_000)
    stream = (
        frame(TEXT, b"hel", fin=False, mask=b"abcd")
        + frame(PING, b"p", mask=b"wxyz")  # a control frame between fragments (§5.4)
        + frame(0, "lo é".encode(), mask=b"1234")
        + frame(BINARY, big, mask=b"\x00\xff\x10\x01")
        + frame(TEXT, b"")
        + frame(CLOSE, (4001).to_bytes(2, "big") + b"why", mask=b"mask")
    )
    sink = Sink()
    reader = FrameReader(sink, limit=1 << 20)
    for at in range(0, len(stream), step):
        reader.feed(stream[at : at + step])
    events = [message_event("x", 0, "client", *m[:3], 1 << 20, None) for m in sink.messages]
    assert [(e.text, e.data, e.size) for e in events] == [
        ("hello é", None, 8),
        (None, big, 70_000),
        ("", None, 0),
    ]
    assert [c[0] for c in sink.controls] == [PING, CLOSE]
    closed = closed_event("x", 0, "client", sink.controls[1][1])
    assert (closed.code, closed.reason) == (4001, "why")
    assert closed_event("x", 0, "server", []).code == 1005  # no status code (§7.4.1)


def test_limit_keeps_a_prefix_and_counts_the_rest() -> None:
    sink = Sink()
    FrameReader(sink, limit=4).feed(frame(BINARY, b"0123456789", mask=b"abcd"))
    event = message_event("x", 0, "client", *sink.messages[0][:3], 4, None)
    assert (event.data, event.size) == (b"0123", 10)


def test_permessage_deflate_with_context_takeover() -> None:
    compress = zlib.compressobj(wbits=-15)
    inflater = Inflater(no_context_takeover=False)
    texts = []
    for text in ("hello hello", "hello again"):
        data = compress.compress(text.encode()) + compress.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]  # RFC 7692 §7.2.1: the empty block's tail is removed
        sink = Sink()
        FrameReader(sink, limit=1000).feed(frame(TEXT | 0x40, data))
        opcode, pieces, size, compressed = sink.messages[0]
        assert compressed
        event = message_event("x", 0, "server", opcode, pieces, size, 1000, inflater)
        texts.append((event.text, event.size))
    assert texts == [("hello hello", 11), ("hello again", 11)]


def test_deflate_params() -> None:
    assert deflate_params([]) is None
    assert deflate_params([b"permessage-deflate; client_max_window_bits"]) == (False, False)
    offer = b"x-other, permessage-deflate; server_no_context_takeover"
    assert deflate_params([offer]) == (False, True)


def test_inflation_is_bounded_by_the_limit() -> None:
    size = 32 * 1024 * 1024  # a small compressed message that inflates to 32 MiB
    compress = zlib.compressobj(1, zlib.DEFLATED, -15)
    data = (compress.compress(bytes(size)) + compress.flush(zlib.Z_SYNC_FLUSH))[:-4]
    sink = Sink()
    limit = 1 << 20
    FrameReader(sink, limit).feed(frame(BINARY | 0x40, data))
    opcode, pieces, compressed_size, _ = sink.messages[0]
    tracemalloc.start()
    try:
        inflater = Inflater(no_context_takeover=False)
        event = message_event("x", 0, "server", opcode, pieces, compressed_size, limit, inflater)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (event.data, event.size) == (bytes(limit), size)  # a prefix, and the whole size
    assert peak < 4 * limit  # never the whole message at once


def test_control_frames_keep_at_most_125_bytes() -> None:
    # RFC 6455 §5.5: longer control frames are invalid; they pass, but only 125 bytes are kept.
    stream = frame(CLOSE, (1000).to_bytes(2, "big") + b"r" * 70_000, mask=b"abcd")
    sink = Sink()
    reader = FrameReader(sink, limit=1 << 20)
    for at in range(0, len(stream), 100):
        reader.feed(stream[at : at + 100])
    ((opcode, pieces),) = sink.controls
    assert opcode == CLOSE
    assert sum(len(data) for data, _, _ in pieces) == 125
    closed = closed_event("x", 0, "client", pieces)
    assert (closed.code, closed.reason) == (1000, "r" * 123)
