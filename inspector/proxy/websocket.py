"""An incremental RFC 6455 frame observer for the relay: message boundaries, nothing more.

No I/O: `FrameReader.feed(data)` walks one direction of a WebSocket connection whose bytes
pass unchanged, reassembles fragmented messages (§5.4) and reports each whole message and
control frame to its sink, as `Pieces`: slices of the payload as read, still masked (§5.3)
and compressed (RFC 7692), up to the capture limit per message. Unmasking, inflating and
reading close codes are the observer's (`inspector.observe.websocket`), never the relay's.
"""

from __future__ import annotations

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
