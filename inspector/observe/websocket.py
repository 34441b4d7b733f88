"""WebSocket messages as the observer keeps them: unmask (RFC 6455 §5.3), inflate
permessage-deflate (RFC 7692), read close codes, and turn each into an event, within a byte
budget.

A message's payload is kept up to the capture limit, and only while its connection has kept
less than `MessageBudget.per_connection` bytes and the open connections of the builders that
share the budget less than `MessageBudget.total`. Past that a message still becomes an event,
with its sender, opcode and size, but an empty payload: the save, the headless log and the
viewer all hold only what the budget allowed, and `Exchange` counts what it left out.
Inflating is bounded too: at most what is kept plus the capture limit per message, since a
message of a few kilobytes can inflate to a gigabyte.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from inspector.events import MessageRelayed, Sender, WebSocketClosed, WebSocketMessage
from inspector.records import Pieces

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_PIECE = 256 * 1024  # inflated at a time: never a whole large message in memory at once

DEFAULT_PER_CONNECTION = 8 << 20
"""Eight messages at the default capture limit, or a long conversation of small ones."""
DEFAULT_TOTAL = 256 << 20
"""A quarter of the store's default byte bound: open connections alone never fill a viewer."""


@dataclass(slots=True)
class MessageBudget:
    """The payload bytes of WebSocket messages kept: the first `per_connection` of each
    connection, and at most `total` across the open connections it serves (a builder's, so
    one capturing process's, unless builders share one). A connection gives its bytes back
    when it finishes: the store's own byte bound takes over from there."""

    per_connection: int = DEFAULT_PER_CONNECTION
    total: int = DEFAULT_TOTAL
    used: int = 0
    """Bytes kept by connections still open (the builder draws on it, see `Builder._room`)."""


def unmask(pieces: Pieces, most: int | None = None) -> bytes:
    """The payload of `pieces` (its first `most` bytes), unmasked (§5.3: octet i XOR key octet
    i mod 4)."""
    out = bytearray()
    for data, mask, offset in pieces:
        if most is not None:
            if len(out) >= most:
                break
            data = data[: most - len(out)]
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
    capture limit, left unrecorded, or inflated only in part breaks the ones after it: they
    are shown as unknown.
    """

    def __init__(self, no_context_takeover: bool) -> None:
        self.no_context_takeover = no_context_takeover
        self._inflate: Any = zlib.decompressobj(-15)
        self.broken = False

    def inflate(
        self, payload: bytes, complete: bool, keep: int, most: int | None = None
    ) -> tuple[bytes, int, bool] | None:
        """The first `keep` bytes of the message inflated, how many bytes were inflated, and
        whether that is the whole message; None if it cannot be inflated. Inflates in bounded
        pieces, keeping only the first `keep` bytes, and stops past `most` bytes (None: goes
        on to the end, only to count them and keep the context)."""
        if self.no_context_takeover:
            self._inflate, self.broken = zlib.decompressobj(-15), False
        if self.broken:
            return None
        inflate = self._inflate
        data = payload + b"\x00\x00\xff\xff" * complete
        kept: list[bytes] = []
        size = 0
        try:
            # One byte past `most`, to tell a message of exactly `most` bytes from a longer one.
            while most is None or size <= most:
                want = _PIECE if most is None else min(_PIECE, most + 1 - size)
                piece: bytes = inflate.decompress(data, want)
                if size < keep:
                    kept.append(piece[: keep - size])
                size += len(piece)
                data = inflate.unconsumed_tail
                if not data and len(piece) < want:  # all read, nothing more to come out
                    self.broken = not complete
                    return b"".join(kept), size, complete
        except zlib.error:
            self.broken = True
            return None
        self.broken = True  # the rest was never inflated: the context lacks it
        return b"".join(kept), size, False


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
    keep: int | None = None,
    most: int | None = None,
) -> WebSocketMessage | MessageRelayed:
    """The event of a message the proxy recorded: `pieces` are its payload as read, cut to
    `limit`, `size` is all of it. `keep`: payload bytes to keep (default `limit`); `most`:
    bytes to inflate at most (default all of them)."""
    if opcode != TEXT and opcode != BINARY:  # §5.2: reserved, meaning only an extension's
        return relayed_event(xid, at, sender, opcode)
    kept, size = message_payload(pieces, size, inflater, limit if keep is None else keep, most)
    return message(xid, at, sender, opcode == TEXT, kept, size)


def message_payload(
    pieces: Pieces, size: int, inflater: Inflater | None, keep: int, most: int | None
) -> tuple[bytes, int]:
    """The first `keep` bytes of a recorded message's payload, unmasked and inflated, and its
    whole size. When the inflated size cannot be known (the message was cut at the capture
    limit, or inflates past `most`) the size is a lower bound: the larger of the size as
    sent and the bytes inflated, always more than what is kept."""
    if inflater is None:
        return unmask(pieces, keep), size
    payload = unmask(pieces)
    inflated = inflater.inflate(payload, len(payload) == size, keep, most)
    if inflated is None:  # unreadable: the size as sent is all that is known
        return b"", size
    kept, count, whole = inflated
    return kept, count if whole else max(size, count)


def message(
    xid: str, at: int, sender: Sender, text: bool, kept: bytes, size: int
) -> WebSocketMessage:
    if text:
        return WebSocketMessage(xid, at, sender, decode(kept, len(kept) < size), None, size)
    return WebSocketMessage(xid, at, sender, None, kept, size)


def decode(data: bytes, cut: bool) -> str:
    """UTF-8 text; when cut, a character split at the end is dropped rather than shown as a
    replacement."""
    if cut:
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
