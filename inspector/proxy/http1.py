"""An incremental HTTP/1.1 observer: finds message boundaries in bytes that pass unchanged.

No I/O (h11's style): `MessageReader.feed(data)` walks a byte stream and tells its sink about
each head, body piece, trailer section and message end, and returns the bytes that may be
forwarded now (the very `data` it was given, unless a head is still incomplete: heads are
checked before they are forwarded). The sink decides each body's framing from the head
(RFC 9112 §6.3), since that depends on the request method and the response status. The helpers
below read request and status lines and the few header fields that decide framing.
"""

from __future__ import annotations

import re
from typing import Protocol

from inspector.heads import FIELD_LINES, REQUEST_LINE, STATUS_LINE, parse_fields

__all__ = ["FIELD_LINES", "REQUEST_LINE", "STATUS_LINE", "parse_fields"]

MAX_HEAD = 64 * 1024
MAX_LINE = 4 * 1024

# A body's framing, as the sink decides it from the head (RFC 9112 §6.3).
NO_BODY = 0
LENGTH = 1
CHUNKED = 2
UNTIL_CLOSE = 3
INTERIM = 4  # a 1xx response: no body, and the next head answers the same request
STOP = 5  # the bytes after this head are another protocol (101), or wait for the answer

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _STOPPED = range(8)

# RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF (BWS before ";" per §7.1.1).
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r\n")


class ProtocolError(Exception):
    """The bytes are not HTTP/1.1 a recipient may accept (or a request this proxy refuses):
    the message says why, `status` is the answer a client gets."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.in_head = False  # set by MessageReader: the message's head was not forwarded


class Sink(Protocol):
    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        """`data[start:end]` is a head up to the CRLF ending its last line; returns (framing,
        length). Raises ProtocolError to reject it."""

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        """`data[start:end]` is body content (chunked framing removed); `last` ends the body."""

    def trailers(self, block: bytes) -> None:
        """A non-empty trailer section after the last chunk, its lines each ending in CRLF."""

    def end(self) -> None:
        """The message is complete."""


class MessageReader:
    """Observes one direction of an HTTP/1.1 connection; see the module docstring.

    After `feed`, `error` is set if the stream broke the rules (what was returned for
    forwarding ends at the last byte accepted as valid: a bad head is never forwarded, a body
    that breaks is forwarded up to where it broke), and once stopped, `rest` holds the bytes
    after the STOP head, or from the first bad byte (not returned for forwarding: they are the
    caller's to handle).
    """

    __slots__ = (
        "_end",
        "_from",
        "_held",
        "_left",
        "_line",
        "_state",
        "_valid",
        "error",
        "rest",
        "scanned",
        "sink",
    )

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._state = _HEAD
        self._left = 0
        self._held = bytearray()  # the start of a head not complete yet: not forwarded yet
        self._from = 0  # where the held head starts after its leading empty lines
        self._end = -1  # where the held head's final CRLF CRLF starts, once found
        self._line = b""  # a partial chunk line or trailer section: forwarded already
        self._valid = 0  # after an error: how much of the data fed was valid
        self.scanned = 0  # bytes searched for a head's end: linear in the bytes fed
        self.error: ProtocolError | None = None
        self.rest = b""

    @property
    def idle(self) -> bool:
        """Between messages, with nothing half-read."""
        return self._state == _HEAD and not self._held

    @property
    def holding(self) -> bool:
        """A head is incomplete: its start is held back (see `partial`)."""
        return bool(self._held)

    @property
    def partial(self) -> bytes:
        """The start of a head not complete yet (with any empty lines before it; empty if
        none): held back, not forwarded."""
        return bytes(self._held)

    @property
    def inside(self) -> bool:
        """Inside a message whose head was forwarded: the rest of it belongs after that head,
        on the same connection (never the start of another request)."""
        return self._state != _HEAD and self._state != _STOPPED

    @property
    def stopped(self) -> bool:
        return self._state == _STOPPED

    def stop(self) -> None:
        """Read nothing more until `resume`: the bytes after the message that just ended are
        left in `rest` (a sink calls it from `end`, to take one message at a time)."""
        self._state = _STOPPED

    def resume(self) -> None:
        """After a STOP: the connection stays HTTP/1.1 (the next message, or an upgrade that
        was declined)."""
        self._state = _HEAD

    def feed(self, data: bytes) -> bytes:
        self.rest = b""
        if self._held:
            held = self._held
            start = len(held)
            held += data
            try:
                if not self._head_ends(held, start):
                    return b""
            except ProtocolError as exc:
                exc.in_head = True
                self.error = exc
                self._state = _STOPPED
                self.rest = bytes(held)
                self._held = bytearray()
                return b""
            data = bytes(held)
            self._held = bytearray()
        mark = 0
        try:
            mark = self._parse(data)
        except ProtocolError as exc:
            exc.in_head = self._state == _HEAD
            self.error = exc
            self._state = _STOPPED
            self.rest = data[self._valid :]
            return data[: self._valid]
        if mark == len(data):
            return data
        if self._state == _STOPPED:
            self.rest = data[mark:]
        else:
            self._held = bytearray(data[mark:])
        return data[:mark]

    def _head_ends(self, held: bytearray, start: int) -> bool:
        """Whether the held head ends in the bytes just added at `start`. Only they are
        searched (a head fed byte by byte costs linear work, not quadratic): every end a head
        can have, and every bare LF, ends in LF, so each LF among them is looked at with
        the three bytes before it. Raises ProtocolError as `_parse` would."""
        fro = self._from
        while held.startswith(b"\r\n", fro):  # RFC 9112 §2.2: empty lines before a request
            fro += 2
        self._from = fro
        at = max(start, fro)
        self.scanned += len(held) - at
        at = held.find(b"\n", at)
        while at >= 0:
            self.scanned += 3
            if at - 3 >= fro and held[at - 3 : at + 1] == b"\r\n\r\n":
                if at - 3 - fro > MAX_HEAD:
                    raise ProtocolError("header section too large")
                self._end = at - 3
                return True
            if (at - 1 >= fro and held[at - 1] == 0x0A) or (
                at - 2 >= fro and held[at - 2 : at] == b"\n\r"
            ):
                raise ProtocolError("bare LF in the header section")
            at = held.find(b"\n", at + 1)
        if len(held) - fro > MAX_HEAD:
            raise ProtocolError("header section too large")
        return False

    def eof(self) -> bool:
        """The peer closed: ends a read-until-close body. False if a message was cut short."""
        if self._state == _UNTIL_CLOSE:
            self._state = _HEAD
            self.sink.body(b"", 0, 0, True)
            self.sink.end()
            return True
        return self.idle or self._state == _STOPPED

    def _parse(self, data: bytes) -> int:
        """Returns how far `data` was consumed: less than all only inside an unfinished head."""
        sink = self.sink
        pos = 0
        size = len(data)
        while pos < size:
            self._valid = pos  # everything before it was accepted
            state = self._state
            if state == _HEAD:
                first = pos
                while data.startswith(b"\r\n", pos):  # RFC 9112 §2.2: empty lines before it
                    pos += 2
                end = self._end
                if end >= 0:  # found by `_head_ends`
                    self._end = -1
                else:
                    end = data.find(b"\r\n\r\n", pos)
                    self.scanned += (size if end < 0 else end + 4) - pos
                if end < 0 or end - pos > MAX_HEAD:
                    if size - pos > MAX_HEAD:
                        raise ProtocolError("header section too large")
                    if data.find(b"\n\n", pos) >= 0 or data.find(b"\n\r\n", pos) >= 0:
                        raise ProtocolError("bare LF in the header section")
                    self.scanned += 2 * (size - pos)
                    # Held with its empty lines: none is forwarded on its own.
                    self._from = pos - first
                    return first
                framing, length = sink.head(data, pos, end + 2)
                pos = end + 4
                if framing == LENGTH and length:
                    self._state = _LENGTH
                    self._left = length
                elif framing in (LENGTH, NO_BODY):
                    sink.body(data, pos, pos, True)
                    sink.end()
                elif framing == CHUNKED:
                    self._state = _CHUNK_SIZE
                elif framing == UNTIL_CLOSE:
                    self._state = _UNTIL_CLOSE
                elif framing == STOP:
                    self._state = _STOPPED
                    return pos
                # INTERIM: the next head follows
            elif state in (_LENGTH, _CHUNK_DATA):
                left = self._left
                if size - pos < left:
                    self._left = left - (size - pos)
                    sink.body(data, pos, size, False)
                    return size
                last = state == _LENGTH
                sink.body(data, pos, pos + left, last)
                pos += left
                if last:
                    self._state = _HEAD
                    sink.end()
                else:
                    self._state = _CHUNK_CRLF
            elif state == _CHUNK_SIZE:
                line, pos = self._take_line(data, pos)
                if line is None:
                    return size
                match = _CHUNK_LINE.fullmatch(line)
                if match is None:
                    raise ProtocolError("bad chunk size line")
                self._left = int(match.group(1), 16)
                if self._left:
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILERS
                    sink.body(data, pos, pos, True)
            elif state == _CHUNK_CRLF:
                line = self._line + data[pos : pos + 2 - len(self._line)]
                pos += len(line) - len(self._line)
                if len(line) < 2:
                    self._line = line
                    return size
                self._line = b""
                if line != b"\r\n":  # RFC 9112 §7.1: chunk-data CRLF
                    raise ProtocolError("chunk data not followed by CRLF")
                self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                pos = self._trailers(data, pos)
            elif state == _UNTIL_CLOSE:
                sink.body(data, pos, size, False)
                return size
            else:  # _STOPPED: what follows is the caller's (see `rest`)
                return pos
        return size

    def _take_line(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._line += data[pos:]
            if len(self._line) > MAX_LINE:
                raise ProtocolError("chunk size line too long")
            return None, len(data)
        line = self._line + data[pos : newline + 1] if self._line else data[pos : newline + 1]
        self._line = b""
        return line, newline + 1

    def _trailers(self, data: bytes, pos: int) -> int:
        # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then the final CRLF.
        held = len(self._line)
        buffer = self._line + data[pos:] if held else data[pos:]
        if buffer.startswith(b"\r\n"):
            block, used = b"", 2
        else:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ProtocolError("trailer section too large")
                self._line = buffer
                return len(data)
            block, used = buffer[: end + 2], end + 4
            if FIELD_LINES.fullmatch(block) is None:
                raise ProtocolError("malformed trailer field")
        self._line = b""
        self._state = _HEAD
        if block:
            self.sink.trailers(block)
        self.sink.end()
        return pos + used - held


# -- reading heads ----------------------------------------------------------------------------


def field_values(low: bytes, name: bytes) -> list[bytes]:
    """The values of every `name` field line in a lowercased head (`name` is b"\\r\\nname:"),
    each stripped of OWS. The head must start with the CRLF ending its start line."""
    values = []
    at = low.find(name)
    while at >= 0:
        start = at + len(name)
        values.append(low[start : low.find(b"\r\n", start)].strip(b" \t"))
        at = low.find(name, start)
    return values


def tokens(values: list[bytes]) -> list[bytes]:
    """The comma-separated list elements of a field's values (RFC 9110 §5.6.1), lowercased."""
    return [item.strip(b" \t") for value in values for item in value.split(b",") if item.strip()]


def content_length(values: list[bytes]) -> int:
    """RFC 9112 §6.3 ¶5 and RFC 9110 §8.6: identical repeated values are one; else invalid."""
    items = set(tokens(values))
    if len(items) != 1:
        raise ProtocolError("conflicting Content-Length values")
    (item,) = items
    if not item.isdigit() or len(item) > 18:
        raise ProtocolError("bad Content-Length")
    return int(item)
