"""An incremental RFC 6455 frame observer for the relay: message boundaries, nothing more.

No I/O: `FrameReader.feed(data)` walks one direction of a WebSocket connection whose bytes
pass unchanged, reassembles fragmented messages (§5.4) and reports each whole message and
control frame to its sink, as `Pieces`: slices of the payload as read, still masked (§5.3)
and compressed (RFC 7692), up to the capture limit per message. Unmasking, inflating and
reading close codes are the observer's (`inspector.observe.websocket`), never the relay's.
"""

from __future__ import annotations

import os
from typing import Protocol

from inspector.records import Pieces

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_CONTROL = 125


class FrameSink(Protocol):
    def message(self, opcode: int, pieces: Pieces, size: int, compressed: bool) -> None: ...

    def control(self, opcode: int, pieces: Pieces) -> None: ...


class FrameReader:
    """Observes one direction; `limit` is the payload kept per message (0 keeps nothing)."""

    __slots__ = (
        "_compressed",
        "_control",
        "_control_pieces",
        "_fin",
        "_header",
        "_kept",
        "_left",
        "_mask",
        "_offset",
        "_opcode",
        "_pieces",
        "_size",
        "limit",
        "sink",
    )

    def __init__(self, sink: FrameSink, limit: int) -> None:
        self.sink = sink
        self.limit = limit
        self._header = b""
        self._left = -1  # payload bytes left in the current frame; -1: reading a header
        self._mask: bytes | None = None
        self._offset = 0
        self._fin = False
        self._control = 0  # the opcode of the control frame being read, if any
        self._control_pieces: Pieces = []
        self._opcode = 0  # the data message being reassembled (§5.4), if any
        self._compressed = False
        self._pieces: Pieces = []
        self._size = 0
        self._kept = 0

    def feed(self, data: bytes) -> None:
        pos = 0
        size = len(data)
        while pos < size:
            if self._left < 0 and not self._header and not self._opcode and size - pos > 1:
                # The common case first: a whole unfragmented small data frame in this read.
                b0, b1 = data[pos], data[pos + 1]
                length = b1 & 0x7F
                start = pos + (6 if b1 & 0x80 else 2)
                end = start + length
                if b0 & 0x80 and 1 <= b0 & 0x0F <= 2 and length < 126 and end <= size:
                    mask = data[start - 4 : start] if b1 & 0x80 else None
                    kept = data[start : min(end, start + self.limit)]
                    self.sink.message(b0 & 0x0F, [(kept, mask, 0)], length, bool(b0 & 0x40))
                    pos = end
                    continue
            if self._left < 0:
                pos = self._read_header(data, pos)
                if pos < 0:  # the header is not complete yet
                    return
                continue
            take = min(self._left, size - pos)
            if self._control:
                # §5.5: a control payload is at most 125 bytes; past that, nothing is kept.
                keep = min(take, MAX_CONTROL - self._offset)
                if keep > 0:
                    self._control_pieces.append((data[pos : pos + keep], self._mask, self._offset))
            else:
                room = self.limit - self._kept
                if room > 0:
                    keep = min(room, take)
                    self._pieces.append((data[pos : pos + keep], self._mask, self._offset))
                    self._kept += keep
                self._size += take
            pos += take
            self._offset += take
            self._left -= take
            if not self._left:
                self._end_frame()

    def position(self) -> tuple[bytes, int, bool, bool]:
        """Where this direction is, for a `FrameSplitter` to take over from: the bytes of a
        header begun, payload bytes left in the current frame (-1: none), whether a data
        message is under way, and whether the current frame ends it."""
        data_frame = not self._control and self._left >= 0
        return self._header, self._left, bool(self._opcode), data_frame and self._fin

    def _read_header(self, data: bytes, pos: int) -> int:
        # §5.2: 2 bytes, then a 16- or 64-bit extended length, then a 4-byte masking key.
        held = len(self._header)
        header = self._header + data[pos : pos + 14 - held] if held else data[pos : pos + 14]
        if len(header) < 2:
            self._header = header
            return -1
        b0, b1 = header[0], header[1]
        length = b1 & 0x7F
        need = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
        if len(header) < need:
            self._header = header
            return -1
        self._header = b""
        if length == 126:
            length = int.from_bytes(header[2:4], "big")
        elif length == 127:
            length = int.from_bytes(header[2:10], "big")
        self._mask = header[need - 4 : need] if b1 & 0x80 else None
        self._offset = 0
        self._fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        if opcode >= CLOSE:
            self._control = opcode
            self._control_pieces = []
        else:
            self._control = 0
            if opcode:  # the first frame of a message; 0 continues one
                self._opcode = opcode
                self._compressed = bool(b0 & 0x40)  # RFC 7692 §6: RSV1 on the first frame
                self._pieces = []
                self._size = self._kept = 0
        self._left = length
        if not length:
            self._end_frame()
        return pos + need - held

    def _end_frame(self) -> None:
        self._left = -1
        if self._control:
            self.sink.control(self._control, self._control_pieces)
            self._control = 0
        elif self._fin and self._opcode:
            self.sink.message(self._opcode, self._pieces, self._size, self._compressed)
            self._opcode = 0
            self._pieces = []


# -- writing frames of the relay's own (inject, edit) ----------------------------------------------

MAX_FRAME = 64 * 1024
"""Payload bytes per frame the relay writes: a large message goes out in fragments (§5.4)."""


def encode_message(opcode: int, payload: bytes, masked: bool) -> bytes:
    """`payload` as frames of at most `MAX_FRAME` bytes: uncompressed (RSV1 clear, RFC 7692
    §6.1 lets any message go uncompressed), masked with a fresh random key per frame when it
    goes to the server (§5.3: a client must mask, and keys must not be predictable)."""
    frames = []
    pieces = [payload[i : i + MAX_FRAME] for i in range(0, len(payload), MAX_FRAME)] or [b""]
    for index, piece in enumerate(pieces):
        first = opcode if index == 0 else 0
        fin = 0x80 if index == len(pieces) - 1 else 0
        frames.append(_frame(fin | first, piece, masked))
    return b"".join(frames)


def _frame(b0: int, payload: bytes, masked: bool) -> bytes:
    length = len(payload)
    bit = 0x80 if masked else 0
    if length < 126:
        header = bytes((b0, bit | length))
    elif length < 1 << 16:
        header = bytes((b0, bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((b0, bit | 127)) + length.to_bytes(8, "big")
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + mask(payload, key)


def mask(payload: bytes, key: bytes, offset: int = 0) -> bytes:
    """§5.3: octet i XOR key octet (i + offset) mod 4 (masking and unmasking alike)."""
    if not payload:
        return b""
    turn = offset % 4
    key = key[turn:] + key[:turn]
    stream = key * (len(payload) // 4 + 1)
    value = int.from_bytes(payload, "big") ^ int.from_bytes(stream[: len(payload)], "big")
    return value.to_bytes(len(payload), "big")


def deflate_agreed(head: bytes) -> tuple[bool, bool] | None:
    """From a 101's head: (client, server) no_context_takeover when permessage-deflate was
    agreed (RFC 7692 §7.1.1), else None."""
    values = [
        line.partition(b":")[2]
        for line in head.split(b"\r\n")
        if line.partition(b":")[0].strip().lower() == b"sec-websocket-extensions"
    ]
    for extension in b",".join(values).split(b","):
        name, *params = (part.strip().lower() for part in extension.split(b";"))
        if name == b"permessage-deflate":
            names = {param.partition(b"=")[0].strip() for param in params}
            return b"client_no_context_takeover" in names, b"server_no_context_takeover" in names
    return None


class Frame:
    """A whole frame (`raw`: its header and payload as read), or, with `through` set, the
    start of one that is forwarded as it comes (`raw`: what of its header is still unsent)."""

    __slots__ = ("fin", "key", "opcode", "raw", "rsv1", "start", "through")

    def __init__(
        self, b0: int, key: bytes | None, raw: bytes, start: int, through: bool = False
    ) -> None:
        self.fin = bool(b0 & 0x80)
        self.rsv1 = bool(b0 & 0x40)
        self.opcode = b0 & 0x0F
        self.key = key
        self.raw = raw
        self.start = start  # where the payload begins in `raw`
        self.through = through

    def payload(self) -> bytes:
        data = self.raw[self.start :]
        return data if self.key is None else mask(data, self.key)


BIG_FRAME = 16 << 20
"""A frame with more payload than this is forwarded as it comes, never held."""


class FrameSplitter:
    """Cuts one direction into whole frames (`Frame`), for the relay to forward, hold or
    interleave its own between them. `feed` returns frames, byte strings to forward as they
    are (the rest of a frame that goes through), and None when such a frame ends. It may
    take over mid-frame from a `FrameReader` (`position()`): what was already sent of that
    frame goes through."""

    def __init__(self, header: bytes = b"", left: int = -1) -> None:
        self._buffer = header
        self._sent = len(header)  # bytes of the buffered header already forwarded
        self._left = left if left > 0 else 0  # payload bytes of a frame going through

    def feed(self, data: bytes) -> list[Frame | bytes | None]:
        out: list[Frame | bytes | None] = []
        pos = 0
        if self._left:
            pos = min(self._left, len(data))
            out.append(data[:pos])
            self._left -= pos
            if not self._left:
                out.append(None)
        buffer = self._buffer + data[pos:] if self._buffer else data[pos:]
        pos = 0
        while True:
            size = len(buffer) - pos
            if size < 2:
                break
            b0, b1 = buffer[pos], buffer[pos + 1]
            length = b1 & 0x7F
            need = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
            if size < need:
                break
            if length == 126:
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
            key = buffer[pos + need - 4 : pos + need] if b1 & 0x80 else None
            if self._sent or length > BIG_FRAME:
                unsent = buffer[pos + self._sent : pos + need]
                self._sent = 0
                out.append(Frame(b0, key, unsent, len(unsent), through=True))
                pos += need
                take = min(length, len(buffer) - pos)
                if take:
                    out.append(buffer[pos : pos + take])
                pos += take
                self._left = length - take
                if not self._left:
                    out.append(None)
                    continue
                break
            if size < need + length:
                break
            out.append(Frame(b0, key, buffer[pos : pos + need + length], need))
            pos += need + length
        self._buffer = buffer[pos:]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buffer)
