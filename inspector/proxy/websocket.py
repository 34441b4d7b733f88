"""An incremental RFC 6455 frame observer, and the factories that turn frames into events.

No I/O: `FrameReader.feed(data)` walks one direction of a WebSocket connection whose bytes
pass unchanged, reassembles fragmented messages (§5.4) and reports each whole message and
control frame to its sink. On the forwarding path it only slices what it keeps (up to the
capture limit per message); unmasking (§5.3) and permessage-deflate inflation (RFC 7692) run
in the factories, on the bus thread.
"""

from __future__ import annotations

import zlib
from typing import Any, Protocol

from inspector.events import MessageRelayed, Sender, WebSocketClosed, WebSocketMessage

Pieces = list[tuple[bytes, bytes | None, int]]
"""Payload slices as read: (bytes, masking key or None, offset of the slice in its frame)."""

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_CONTROL = 125
_PIECE = 256 * 1024  # inflated at a time: a small message may inflate to gigabytes


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


def unmask(pieces: Pieces) -> bytes:
    """The payload of `pieces`, unmasked (§5.3: octet i XOR key octet i mod 4)."""
    out = bytearray()
    for data, mask, offset in pieces:
        if mask is None or not data:
            out += data
            continue
        turn = offset % 4
        key = (mask[turn:] + mask[:turn]) * (len(data) // 4 + 1)
        value = int.from_bytes(data, "big") ^ int.from_bytes(key[: len(data)], "big")
        out += value.to_bytes(len(data), "big")
    return bytes(out)


class Inflater:
    """permessage-deflate for one direction (RFC 7692 §7.2.2), used on the bus thread only.

    With context takeover each message depends on all earlier ones, so a message cut at the
    capture limit (or left unrecorded) breaks the ones after it: they are shown as unknown.
    """

    def __init__(self, no_context_takeover: bool) -> None:
        self.no_context_takeover = no_context_takeover
        self._inflate: Any = zlib.decompressobj(-15)
        self.broken = False

    def inflate(self, payload: bytes, complete: bool, limit: int) -> tuple[bytes, int] | None:
        """The first `limit` bytes of the message inflated and its whole inflated size, or None
        if it cannot be known. Inflates in bounded pieces, keeping only the first `limit` bytes
        (the rest is inflated only to be counted, and to keep the context)."""
        if self.no_context_takeover:
            self._inflate, self.broken = zlib.decompressobj(-15), False
        if self.broken:
            return None
        inflate = self._inflate
        data = payload + b"\x00\x00\xff\xff" * complete
        kept: list[bytes] = []
        room = limit
        size = 0
        try:
            while True:
                piece: bytes = inflate.decompress(data, _PIECE)
                size += len(piece)
                if room > 0:
                    kept.append(piece[:room])
                    room -= len(kept[-1])
                data = inflate.unconsumed_tail
                if not data and len(piece) < _PIECE:
                    break
        except zlib.error:
            self.broken = True
            return None
        self.broken = not complete
        return b"".join(kept), size

    def skip(self) -> None:
        """A message passed unrecorded."""
        self.broken = True


def deflate_params(extensions: list[bytes]) -> tuple[bool, bool] | None:
    """From a 101's Sec-WebSocket-Extensions values: (client, server) no_context_takeover
    if permessage-deflate was agreed, else None."""
    for extension in b",".join(extensions).split(b","):
        name, *params = (part.strip().lower() for part in extension.split(b";"))
        if name == b"permessage-deflate":
            names = {param.partition(b"=")[0].strip() for param in params}
            return b"client_no_context_takeover" in names, b"server_no_context_takeover" in names
    return None


# Factories: these run on the bus thread.


def message_event(
    xid: str,
    at: int,
    sender: Sender,
    opcode: int,
    pieces: Pieces,
    size: int,
    limit: int,
    inflater: Inflater | None,
) -> WebSocketMessage:
    payload = unmask(pieces)
    if inflater is not None:
        inflated = inflater.inflate(payload, len(payload) == size, limit)
        if inflated is None:
            payload = b""
        elif len(payload) == size:
            payload, size = inflated
        else:  # cut at the limit: the whole size is only known compressed
            payload = inflated[0]
    kept = payload[:limit]
    if opcode == TEXT:
        return WebSocketMessage(xid, at, sender, _text(kept, len(kept) < size), None, size)
    return WebSocketMessage(xid, at, sender, None, kept, size)


def _text(data: bytes, cut: bool) -> str:
    if cut:  # drop a character split at the limit rather than show a replacement for it
        for trim in range(min(4, len(data) + 1)):
            try:
                return data[: len(data) - trim].decode("utf-8")
            except UnicodeDecodeError:
                continue
    return data.decode("utf-8", "replace")


def closed_event(xid: str, at: int, sender: Sender, pieces: Pieces) -> WebSocketClosed:
    # §5.5.1: an optional 2-byte status code, then a UTF-8 reason; none means 1005 (§7.4.1).
    payload = unmask(pieces)
    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    return WebSocketClosed(xid, at, sender, code, payload[2:].decode("utf-8", "replace"), True)


def relayed_event(xid: str, at: int, sender: Sender, opcode: int) -> MessageRelayed:
    """Ping and pong have no event of their own: recorded as relayed messages, ASGI-style
    (`receive` for the client's, `send` for the server's). So are frames with a reserved
    opcode (§5.2), named by their number."""
    kind = _KINDS.get(opcode) or f"websocket.opcode-{opcode}"
    return MessageRelayed(xid, at, "receive" if sender == "client" else "send", kind)


_KINDS = {PING: "websocket.ping", PONG: "websocket.pong"}
