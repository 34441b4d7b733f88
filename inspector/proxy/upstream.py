"""`UpstreamConnection`: a client connection's own connection to the upstream server.

An asyncio Protocol: response bytes are written to the client exactly as read, while a
`MessageReader` observes them and records each response against the oldest request waiting
(RFC 9112 §9.3.2). Framing follows RFC 9112 §6.3: no content for HEAD, 1xx, 204 and 304;
chunked, Content-Length, or read until the upstream closes. A 101 hands both connections to
a `Tunnel`. When this side's send buffer fills, the client's reads pause (and the reverse).
If the upstream closes a kept-alive connection just as a request reaches it, that request is
sent again once on a new connection when that is safe (see `connection_lost`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from inspector.events import now_ns
from inspector.proxy import failures
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
from inspector.proxy.state import CLOSE, FULL, IDLE, REJECT, RESUME, Flight, record_body
from inspector.records import BODY_SENT, PROXY_RESPONSE, PROXY_TRAILERS

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.record = client.record
        self.reader = MessageReader(self)
        self.flight: Flight | None = None  # the response being read
        self.switch: tuple[Flight, bytes] | None = None  # a 101 and its head, for the Tunnel
        self.reused = False  # a response ended on it: it is a kept-alive connection
        self.detached = False  # it closed while idle: the next request opens a new one

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport: asyncio.Transport = transport
        self.client.upstream_made(self)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client.tunnel is not None:
            client.tunnel.from_upstream(data)
            return
        reader = self.reader
        out = reader.feed(data)  # after an error: up to the last byte that was valid
        if out:
            client.transport.write(out)
        if client.after:
            client.after_write()
        if reader.error is not None:
            self.transport.abort()
            failures.upstream_failed(
                client,
                f"upstream {client.shared.upstream} sent a malformed response ({reader.error})",
                "inspector.proxy.MalformedResponse",
                reset=True,  # what a direct client would see is cut short: so is what it gets
            )
        elif reader.stopped and self.switch is not None:
            from inspector.proxy.tunnel import Tunnel

            Tunnel(client, self, *self.switch).start(reader.rest)
            self.switch = None

    def eof_received(self) -> bool:
        # The upstream closed its side. Between exchanges that is its idle keep-alive timeout
        # (RFC 9112 §9.3): detach now, so a request arriving next opens a new connection
        # instead of being written to this closing one.
        client = self.client
        if (
            client.upstream is self
            and client.tunnel is None
            and not client.pending
            and self.reader.idle
            and not client.reader.inside
        ):
            client.upstream = None
            self.detached = True
        return False  # close this side too; connection_lost follows

    def pause_writing(self) -> None:
        self.client.pause(FULL)

    def resume_writing(self) -> None:
        self.client.resume(FULL)

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        if client.upstream is self:
            client.upstream = None
        if self.detached or client.closed or client.closing:
            return
        if client.tunnel is not None:
            client.tunnel.lost("server")
            return
        if exc is None:
            cut_short = not self.reader.eof()  # ends a body read until close (RFC 9112 §6.3 ¶8)
            if client.after:
                client.after_write()
            if client.closing:
                return
        else:  # a reset: nothing it sent last can be trusted to be whole
            cut_short = not self.reader.idle
        if self._may_retry():
            client.retry(client.pending[0])
        elif cut_short or client.pending:
            message = f"upstream {client.shared.upstream} closed the connection"
            if exc is not None:
                message = f"upstream {client.shared.upstream} broke the connection ({exc})"
            failures.upstream_failed(
                client,
                f"{message} before the response ended",
                "inspector.proxy.UpstreamClosed" if exc is None else type(exc).__name__,
                reset=exc is not None,
            )
        elif client.reader.inside:
            # A request is still arriving, its response already ended (an early answer): the
            # rest of it must never reach a new connection, where it would read as a new
            # request (RFC 9112 §9.3, §11.2).
            client.close("the upstream closed the connection during the request")
        # else: it closed while idle; the next request opens a new connection

    def _may_retry(self) -> bool:
        """A kept-alive connection closed before any byte of the answer to the one request
        waiting, which was sent whole: the request most likely met the upstream's idle close.
        If its method is idempotent (RFC 9110 §9.2.2) it may be sent again, once, on a new
        connection (as nginx's `proxy_next_upstream error` does); the new one is not `reused`."""
        client = self.client
        pending = client.pending
        return (
            self.reused
            and self.reader.idle
            and len(pending) == 1
            and pending[0].replay is not None
            and pending[0].request_done
            and not client.reader.inside
        )

    # -- reading responses (the MessageReader's sink) ------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        line = STATUS_LINE.match(data, start, end)
        if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
            raise ProtocolError("malformed status line or field", 502)
        client = self.client
        if not client.pending or client.after & CLOSE:
            raise ProtocolError("a response to no request", 502)
        flight = client.pending[0]
        flight.replay = None  # the client gets bytes of its answer: never sent again
        status = int(line.group(2))
        if status < 200:
            if status == 101:  # RFC 9110 §15.2.2: the connection changes protocol
                self.switch = (flight, data[start:end])
                return STOP, 0
            return INTERIM, 0  # RFC 9110 §15.2: 100, 102, 103 precede the final response
        flight.response_started = True
        self.flight = flight
        # For a WebSocket handshake, any final status but 101 is a denial (RFC 6455 §4.1).
        head, redact = data[start:end], self.client.shared.redact
        self.record(PROXY_RESPONSE, flight.id, now_ns(), head, flight.websocket, redact)
        low = data[line.end() - 2 : end].lower()
        if line.group(1) == b"0":  # RFC 9112 §9.3: HTTP/1.0 closes unless kept alive
            keep = b"keep-alive" in tokens(field_values(low, b"\r\nconnection:"))
            flight.close = flight.close or not keep
        elif b"\r\nconnection:" in low and b"close" in tokens(
            field_values(low, b"\r\nconnection:")
        ):
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

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.flight
        assert flight is not None
        flight.response_left = record_body(
            self.record, BODY_SENT, flight.id, flight.response_left, data, start, end, last
        )

    def trailers(self, block: bytes) -> None:
        flight = self.flight
        assert flight is not None
        self.record(PROXY_TRAILERS, flight.id, now_ns(), block, self.client.shared.redact)

    def end(self) -> None:
        client = self.client
        flight = client.pending.popleft()
        self.flight = None
        self.reused = True
        flight.finish(self.record, "completed", now_ns())
        if not client.pending and client.reader.inside:
            # The response ended before its request did (an early answer, such as 413): the
            # rest of the request must not be read as the next one, so the connection closes
            # after it (RFC 9112 §9.3).
            flight.close = True
        if flight.close:
            client.after |= CLOSE
        elif flight.upgrade:  # declined: the connection stays HTTP/1.1
            client.after |= RESUME
        if client.pending:
            following = client.pending[0]
            if following.request_done is not None:
                client.waiting(following)
        elif client.rejection is not None:
            client.after |= REJECT
        else:
            client.after |= IDLE
