"""A `Connection`'s response side: the sink of the upstream's `MessageReader`, without I/O.

It reads each response head (RFC 9112 §4: the status line and fields), decides its framing
(RFC 9112 §6.3) and whether the connection closes after it, records the head, body and
trailers as the upstream sent them, and says what follows once the response's last bytes
reach the client (`after`: close, or read the next request). A 101 is not read as a response
but kept (`switch`): the connection becomes a tunnel there. While the viewer holds a response
(`caught`, see `holder`), its end waits for the release, and whatever the upstream sends
after it waits in `stash`.

One per `Connection`, for every upstream connection it opens in turn (`connected` starts
each afresh). Its fields are plain: the `Connection` reads them on its per-read path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from inspector.matching import Rule
from inspector.proxy.actions import CLOSE, IDLE, RESUME
from inspector.proxy.http1 import (
    CHUNKED,
    FIELD_LINES,
    INTERIM,
    LENGTH,
    NO_BODY,
    STATUS_LINE,
    STOP,
    UNTIL_CLOSE,
    MessageReader,
    ProtocolError,
    content_length,
    field_values,
    tokens,
)
from inspector.proxy.intercept import Caught
from inspector.proxy.state import Flight, Shared, record_body
from inspector.records import BODY_SENT, PROXY_RESPONSE, PROXY_TRAILERS

Watch = Callable[[Flight, bytes, Rule, tuple[int, int]], "Caught | None"]


class Owner(Protocol):
    """What the response side reads and changes of its `Connection` (a Protocol:
    `connection` imports this module, never the reverse)."""

    shared: Shared
    reader: MessageReader  # the client's: a response may end before its request does
    responses: MessageReader  # the upstream's, whose sink this is
    flight: Flight | None


class Responses:
    __slots__ = (
        "after",
        "caught",
        "clock",
        "connection",
        "flight",
        "record",
        "reused",
        "stash",
        "switch",
        "watch",
    )

    def __init__(self, connection: Owner, clock: Callable[[], int], watch: Watch) -> None:
        """`watch`: asked about each final response head while a `responses` rule is armed;
        returns what to keep back, if anything (`holder.HttpHolder.watch_response`)."""
        self.connection = connection
        self.clock = clock
        self.watch = watch
        self.record = connection.shared.recorder.record
        self.flight: Flight | None = None  # the exchange whose response is being read
        self.after = 0  # what follows once the bytes just read reach the client
        self.reused = False  # a response ended on the upstream connection: kept alive
        self.switch: tuple[Flight, bytes] | None = None  # a 101 and its head
        self.caught: Caught | None = None  # a response kept back from the client
        self.stash = b""  # upstream bytes after a held response's end

    def connected(self) -> None:
        """A new upstream connection: nothing was answered on it yet."""
        self.reused = False

    # -- the upstream's MessageReader's sink -----------------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        line = STATUS_LINE.match(data, start, end)
        if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
            raise ProtocolError("malformed status line or field", 502)
        flight = self.connection.flight
        if flight is None or self.after & CLOSE:
            raise ProtocolError("a response to no request", 502)
        self.flight = flight
        flight.replay = None  # the client gets bytes of its answer: never sent again
        status = int(line.group(2))
        if status < 200:
            if status == 101:  # RFC 9110 §15.2.2: the connection changes protocol
                self.switch = (flight, data[start:end])
                return STOP, 0
            return INTERIM, 0  # RFC 9110 §15.2: 100, 102, 103 precede the final response
        flight.response_started = True
        # For a WebSocket handshake, any final status but 101 is a denial (RFC 6455 §4.1).
        shared = self.connection.shared
        head, redact = data[start:end], shared.redact
        self.record(PROXY_RESPONSE, flight.id, self.clock(), head, flight.websocket, redact)
        low = data[line.end() - 2 : end].lower()
        framing = _framing(flight, low, line.group(1) == b"0", status)
        rule = shared.steering.responses
        if rule is not None:
            self.caught = self.watch(flight, head, rule, framing)
        return framing

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.flight
        assert flight is not None
        flight.response_left = record_body(
            self.record, BODY_SENT, flight.id, flight.response_left, data, start, end, last
        )
        caught = self.caught
        if caught is not None:
            caught.body(data, start, end, last)

    def trailers(self, block: bytes) -> None:
        flight = self.flight
        assert flight is not None
        redact = self.connection.shared.redact
        self.record(PROXY_TRAILERS, flight.id, self.clock(), block, redact)

    def end(self) -> None:
        caught = self.caught
        if caught is not None:
            # It ends once the viewer lets it go: until then, whatever the upstream sends
            # after it waits (`stash`).
            caught.ended = True
            self.connection.responses.stop()
            return
        self.done()

    def done(self) -> None:
        """The response is over (or released, if it was held): its exchange completes."""
        connection = self.connection
        flight = connection.flight
        assert flight is not None
        connection.flight = None
        self.reused = True
        flight.finish(self.record, "completed", self.clock())
        if connection.reader.inside:
            # The response ended before its request did (an early answer, such as 413): the
            # rest of the request must not be read as the next one, so the connection closes
            # after it (RFC 9112 §9.3).
            flight.close = True
        self.after |= CLOSE if flight.close else RESUME | IDLE


def _framing(flight: Flight, low: bytes, http10: bool, status: int) -> tuple[int, int]:
    """A response's framing (RFC 9112 §6.3; `low`: its field lines, lowercased, from the
    CRLF before them), and whether the connection closes after it (`flight.close`)."""
    if http10:  # RFC 9112 §9.3: HTTP/1.0 closes unless kept alive
        keep = b"keep-alive" in tokens(field_values(low, b"\r\nconnection:"))
        flight.close = flight.close or not keep
    elif b"\r\nconnection:" in low and b"close" in tokens(field_values(low, b"\r\nconnection:")):
        flight.close = True
    if flight.head or status == 204 or status == 304:
        return NO_BODY, 0
    if b"\r\ntransfer-encoding:" in low:
        codings = tokens(field_values(low, b"\r\ntransfer-encoding:"))
        if codings[-1:] == [b"chunked"]:
            return CHUNKED, 0
        flight.close = True
        return UNTIL_CLOSE, 0
    if b"\r\ncontent-length:" in low:
        try:
            return LENGTH, content_length(field_values(low, b"\r\ncontent-length:"))
        except ProtocolError as exc:
            raise ProtocolError(str(exc), 502) from None
    flight.close = True
    return UNTIL_CLOSE, 0
