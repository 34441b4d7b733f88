"""`UpstreamConnection`: a client connection's own connection to the upstream server.

An asyncio Protocol: response bytes are written to the client exactly as read, while a
`MessageReader` observes them and records each response against the oldest request waiting
(RFC 9112 §9.3.2). Framing follows RFC 9112 §6.3: no content for HEAD, 1xx, 204 and 304;
chunked, Content-Length, or read until the upstream closes. A 101 hands both connections to
a `Tunnel`. When this side's send buffer fills, the client's reads pause (and the reverse).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from inspector.events import ExchangeFinished, ResponseBodyChunk, now_ns
from inspector.proxy import failures
from inspector.proxy import record as rec
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
from inspector.proxy.state import CLOSE, FULL, REJECT, RESUME, Flight

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.record = client.record
        self.reader = MessageReader(self)
        self.flight: Flight | None = None  # the response being read
        self.switch: tuple[Flight, bytes, int, int, bytes] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport: asyncio.Transport = transport
        self.client.upstream_made(self)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client.tunnel is not None:
            client.tunnel.from_upstream(data)
            return
        out = self.reader.feed(data)
        if out:
            client.transport.write(out)
        if client.after:
            client.after_write()
        reader = self.reader
        if reader.error is not None:
            error = reader.error
            upstream = client.shared.upstream
            self.transport.abort()
            failures.upstream_failed(
                client,
                f"upstream {upstream} sent a malformed response ({error})",
                "inspector.proxy.MalformedResponse",
            )
        elif reader.stopped and self.switch is not None:
            from inspector.proxy.tunnel import Tunnel

            Tunnel(client, self, *self.switch).start(reader.rest)
            self.switch = None

    def pause_writing(self) -> None:
        self.client.pause(FULL)

    def resume_writing(self) -> None:
        self.client.resume(FULL)

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        if client.upstream is self:
            client.upstream = None
        if client.closed or client.closing:
            return
        if client.tunnel is not None:
            client.tunnel.lost("server")
            return
        cut_short = not self.reader.eof()  # ends a body read until close (RFC 9112 §6.3 ¶8)
        if client.after:
            client.after_write()
        if cut_short or client.pending:
            upstream = client.shared.upstream
            failures.upstream_failed(
                client,
                f"upstream {upstream} closed the connection before the response ended",
                "inspector.proxy.UpstreamClosed",
            )
        # else: it closed while idle; the next request opens a new connection

    # -- reading responses (the MessageReader's sink) ------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        line = STATUS_LINE.match(data, start, end)
        if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
            raise ProtocolError("malformed status line or field", 502)
        client = self.client
        if not client.pending:
            raise ProtocolError("a response to no request", 502)
        flight = client.pending[0]
        status = int(line.group(2))
        low = data[line.end() - 2 : end].lower()
        if status < 200:
            if status == 101:  # RFC 9110 §15.2.2: the connection changes protocol
                self.switch = (flight, data, start, end, low)
                return STOP, 0
            return INTERIM, 0  # RFC 9110 §15.2: 100, 102, 103 precede the final response
        at = now_ns()
        flight.response_start = at
        self.flight = flight
        factory = rec.websocket_denied if flight.websocket else rec.response_started
        self.record(factory, flight.id, at, data, start, end, client.shared.redact)
        if line.group(1) == b"0":  # RFC 9112 §9.3: HTTP/1.0 closes unless kept alive
            flight.close = b"keep-alive" not in tokens(field_values(low, b"\r\nconnection:"))
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
        at = now_ns()
        size = end - start
        keep = flight.response_left
        if keep and size:
            keep = min(keep, size)
            flight.response_left -= keep
            more = not last
            self.record(
                rec.body, ResponseBodyChunk, flight.id, at, data, start, start + keep, size, more
            )
        else:
            self.record(ResponseBodyChunk, flight.id, at, b"", size, not last)

    def trailers(self, block: bytes) -> None:
        flight = self.flight
        assert flight is not None
        self.record(rec.trailers, flight.id, now_ns(), block, self.client.shared.redact)

    def end(self) -> None:
        client = self.client
        flight = client.pending.popleft()
        self.flight = None
        at = now_ns()
        started = flight.started
        request_ns = None if flight.request_done is None else flight.request_done - started
        first = None if flight.response_start is None else flight.response_start - started
        self.record(ExchangeFinished, flight.id, at, "completed", request_ns, first, at - started)
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
