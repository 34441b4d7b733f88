"""What the observer does with WebSocket frames the proxy recorded: unmask (RFC 6455 §5.3),
inflate permessage-deflate (RFC 7692), read close codes, and turn each into an event."""

from __future__ import annotations

import zlib
from typing import Any

from inspector.events import MessageRelayed, Sender, WebSocketClosed, WebSocketMessage
from inspector.records import Pieces

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_PIECE = 256 * 1024  # inflated at a time: a small message may inflate to gigabytes


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
    """permessage-deflate for one direction (RFC 7692 §7.2.2).

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


def deflate_params(extensions: list[bytes]) -> tuple[bool, bool] | None:
    """From a 101's Sec-WebSocket-Extensions values: (client, server) no_context_takeover
    if permessage-deflate was agreed, else None."""
    for extension in b",".join(extensions).split(b","):
        name, *params = (part.strip().lower() for part in extension.split(b";"))
        if name == b"permessage-deflate":
            names = {param.partition(b"=")[0].strip() for param in params}
            return b"client_no_context_takeover" in names, b"server_no_context_takeover" in names
    return None


def message_event(
    xid: str,
    at: int,
    sender: Sender,
    opcode: int,
    pieces: Pieces,
    size: int,
    limit: int,
    inflater: Inflater | None,
) -> WebSocketMessage | MessageRelayed:
    if opcode != TEXT and opcode != BINARY:  # §5.2: reserved, meaning only an extension's
        return relayed_event(xid, at, sender, opcode)
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


def control_event(
    xid: str, at: int, sender: Sender, opcode: int, pieces: Pieces
) -> WebSocketClosed | MessageRelayed:
    if opcode != CLOSE:
        return relayed_event(xid, at, sender, opcode)
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
