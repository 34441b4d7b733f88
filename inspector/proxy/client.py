"""`ClientConnection`: one client connection, its request stream, and how its exchanges end.

An asyncio Protocol: bytes from the client are forwarded to this connection's own upstream
connection exactly as read, while a `MessageReader` observes them and records each request
(its head is checked first: a malformed one gets 400, an absolute-form target naming another
host 421, and only this client's connection closes). The upstream connection is opened on the
first request and again if the upstream closed it while idle. Responses are awaited in a FIFO
(pipelining, RFC 9112 §9.3.2); no response head within `response_timeout` gets 504.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from inspector.events import (
    JSON,
    ClientDisconnected,
    RequestBodyChunk,
    WebSocketHandshakeReceived,
    new_exchange_id,
    now_ns,
)
from inspector.proxy import failures
from inspector.proxy import record as rec
from inspector.proxy.http1 import (
    CHUNKED,
    FIELD_LINES,
    LENGTH,
    NO_BODY,
    REQUEST_LINE,
    STOP,
    MessageReader,
    ProtocolError,
    content_length,
    field_values,
    tokens,
)
from inspector.proxy.state import (
    CLOSE,
    CONNECTING,
    REJECT,
    RESUME,
    STOPPED,
    UPGRADING,
    Flight,
    Shared,
)
from inspector.proxy.upstream import UpstreamConnection

if TYPE_CHECKING:
    from inspector.proxy.tunnel import Tunnel


class ClientConnection(asyncio.Protocol):
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.record = shared.bus.record
        self.reader = MessageReader(self)
        self.pending: deque[Flight] = deque()
        self.flight: Flight | None = None  # the request being read
        self.upstream: UpstreamConnection | None = None
        self.tunnel: Tunnel | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.outbox: list[bytes] = []
        self.held = b""  # read after an upgrade request, before its answer
        self.paused = 0
        self.after = 0
        self.rejection: tuple[Flight, ProtocolError] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False
        self.closed = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport: asyncio.Transport = transport
        shared = self.shared
        shared.connections.add(self)
        shared.count += 1
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if peer else None
        self.snapshot: dict[str, JSON] = {"upstream": shared.upstream, "connection": shared.count}

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_client(data)
            return
        if self.paused & (UPGRADING | STOPPED):
            self.held += data
            return
        out = self.reader.feed(data)
        if out:
            upstream = self.upstream
            if upstream is not None:
                upstream.transport.write(out)
            else:
                self.outbox.append(out)
                if self.connecting is None:
                    self._connect()
        if self.reader.error is not None:
            failures.malformed(self, self.reader.error)
        elif self.reader.stopped:
            self.held = self.reader.rest
            self.pause(UPGRADING)

    def eof_received(self) -> bool:
        # As nginx and uvicorn do: a client that stops sending has gone (proxy_ignore_client_abort
        # off); its upstream connection is closed with it.
        return False

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.shared.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.connecting is not None:
            self.connecting.cancel()
        if self.tunnel is not None:
            self.tunnel.lost("client")
        at = now_ns()
        for flight in self.pending:
            self.record(ClientDisconnected, flight.id, at)
            failures.finished(self, flight, "disconnected", at)
        self.pending.clear()
        if self.upstream is not None:
            self.upstream.transport.close()

    # -- reading requests (the MessageReader's sink) -------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        line = REQUEST_LINE.match(data, start, end)
        if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
            raise ProtocolError(
                "malformed request line" if line is None else "malformed header field"
            )
        fields = line.end() - 2
        low = data[fields:end].lower()
        method = line.group(1)
        if data[line.start(2)] != 0x2F:  # not origin-form: check it before forwarding
            self._check_target(method, line.group(2))
        http10 = line.group(3) == b"0"
        framing, length = NO_BODY, 0
        if b"\r\ntransfer-encoding:" in low:
            # RFC 9112 §6.1: TE with CL is a smuggling risk (rejecting it is allowed); TE in
            # HTTP/1.0, or chunked not last (§6.3 ¶4), leaves the length unknown: 400.
            codings = tokens(field_values(low, b"\r\ntransfer-encoding:"))
            if b"\r\ncontent-length:" in low or http10 or codings[-1:] != [b"chunked"]:
                raise ProtocolError("unusable Transfer-Encoding")
            framing = CHUNKED
        elif b"\r\ncontent-length:" in low:
            framing, length = LENGTH, content_length(field_values(low, b"\r\ncontent-length:"))
        flight = Flight(new_exchange_id(), now_ns(), method == b"HEAD", self.shared.body_limit)
        close = http10
        upgrade = websocket = False
        if b"\r\nconnection:" in low:
            options = tokens(field_values(low, b"\r\nconnection:"))
            close = b"close" in options or (http10 and b"keep-alive" not in options)
            # RFC 9110 §7.8: Upgrade is only meaningful with "upgrade" in Connection.
            if b"upgrade" in options and b"\r\nupgrade:" in low and not http10:
                upgrade = framing == NO_BODY or (framing == LENGTH and not length)
                websocket = b"websocket" in tokens(field_values(low, b"\r\nupgrade:"))
        flight.close = close
        shared = self.shared
        self.record(
            rec.request_started,
            flight.id,
            flight.started,
            data,
            start,
            end,
            websocket,
            self.client,
            shared.server,
            self.snapshot,
            shared.redact,
        )
        self.pending.append(flight)
        self.flight = flight
        if upgrade:
            flight.upgrade = True
            flight.websocket = websocket
            if websocket:
                self.record(WebSocketHandshakeReceived, flight.id, flight.started)
            flight.request_done = flight.started
            self.waiting(flight)
            return STOP, 0
        return framing, length

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.flight
        assert flight is not None
        at = now_ns()
        size = end - start
        keep = flight.request_left
        if keep and size:
            keep = min(keep, size)
            flight.request_left -= keep
            more = not last
            self.record(
                rec.body, RequestBodyChunk, flight.id, at, data, start, start + keep, size, more
            )
        else:
            self.record(RequestBodyChunk, flight.id, at, b"", size, not last)
        if last:
            flight.request_done = at
            self.waiting(flight)

    def trailers(self, block: bytes) -> None:
        pass  # the vocabulary has no request trailers; they are forwarded all the same

    def end(self) -> None:
        pass

    def _check_target(self, method: bytes, target: bytes) -> None:
        if method == b"CONNECT":  # RFC 9110 §9.3.6: a tunnel to anywhere: never
            raise ProtocolError("CONNECT is not supported by a reverse proxy", 405)
        if target == b"*" and method == b"OPTIONS":  # RFC 9112 §3.2.4
            return
        scheme, sep, rest = target.lower().partition(b"://")
        if not sep or scheme not in (b"http", b"https"):
            raise ProtocolError("malformed request target")
        authority = rest.split(b"/", 1)[0].split(b"?", 1)[0].rpartition(b"@")[2]
        if authority not in self.shared.authorities:
            host = authority.decode("latin-1")
            raise ProtocolError(
                f"this proxy only forwards to {self.shared.upstream}, not to {host}", 421
            )

    # -- the response clock (504) --------------------------------------------------------------

    def waiting(self, flight: Flight) -> None:
        """`flight`'s request was sent; if it is next in line, its response clock starts."""
        if self.pending and self.pending[0] is flight:
            flight.waiting = now_ns()
            if self.timer is None:
                self.timer = self.shared.loop.call_later(self.shared.timeout, self._check_timeout)

    def _check_timeout(self) -> None:
        self.timer = None
        if not self.pending or self.closed:
            return
        flight = self.pending[0]
        if flight.response_start is not None or flight.waiting is None:
            return
        left = flight.waiting + self.shared.timeout_ns - now_ns()
        if left > 0:
            self.timer = self.shared.loop.call_later(left / 1e9, self._check_timeout)
            return
        seconds = f"{self.shared.timeout:g}"
        message = f"upstream {self.shared.upstream} sent no response within {seconds} s"
        failures.answer(self, flight, ProtocolError(message, 504), "TimeoutError")

    # -- the upstream connection ---------------------------------------------------------------

    def _connect(self) -> None:
        self.pause(CONNECTING)
        self.connecting = self.shared.loop.create_task(self._open())

    async def _open(self) -> None:
        config = self.shared.config
        host, port = config.upstream
        try:
            async with asyncio.timeout(config.connect_timeout):
                await self.shared.loop.create_connection(
                    lambda: UpstreamConnection(self), host, port
                )
        except (OSError, TimeoutError) as exc:
            self.connecting = None
            if not self.closed and self.pending:
                message = failures.connect_error(exc, self.shared.upstream, config.connect_timeout)
                error = ProtocolError(message, 502)
                failures.answer(self, self.pending[0], error, type(exc).__name__)
            return
        self.connecting = None

    def upstream_made(self, upstream: UpstreamConnection) -> None:
        if self.closed:
            upstream.transport.close()
            return
        self.upstream = upstream
        upstream.transport.write(b"".join(self.outbox))
        self.outbox.clear()
        self.resume(CONNECTING)

    # -- pausing, failing, closing -------------------------------------------------------------

    def pause(self, reason: int) -> None:
        if not self.paused:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        self.paused &= ~reason
        if not self.paused and not self.closed:
            self.transport.resume_reading()

    def after_write(self) -> None:
        """Runs once the upstream bytes that ended a response were written to the client."""
        after, self.after = self.after, 0
        if after & CLOSE:
            self.close()
        elif after & REJECT and not self.pending and self.rejection is not None:
            failures.answer(self, *self.rejection, kind="inspector.proxy.BadRequest")
            self.rejection = None
        elif after & RESUME:
            held, self.held = self.held, b""
            self.reader.resume()
            self.resume(UPGRADING)
            if held:
                self.data_received(held)

    def close(self) -> None:
        """Close both connections; exchanges still waiting for a response end as failed."""
        self.closing = True
        at = now_ns()
        for flight in self.pending:
            failures.fail(
                self, flight, "inspector.proxy.NotAnswered", "the connection closed first", False
            )
            failures.finished(self, flight, "failed", at)
        self.pending.clear()
        if self.upstream is not None:
            self.upstream.transport.close()
        self.transport.close()
