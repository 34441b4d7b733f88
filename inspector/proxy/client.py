"""`ClientConnection`: one client connection, its request stream, and how its exchanges end.

An asyncio Protocol: bytes from the client are forwarded to this connection's own upstream
connection exactly as read, while a `MessageReader` observes them and records each request
(its head is checked first by `read_request`: a malformed one gets 400, an absolute-form
target naming another host 421, and only this client's connection closes). The upstream
connection is opened on the first request, and again only between requests if the upstream
closed it while idle (or once to retry a request it closed on, see `UpstreamConnection`).
Responses are awaited in a FIFO (pipelining, RFC 9112 §9.3.2); no response head within
`response_timeout` gets 504. An idle connection, or a request head that stalls, is ended by its
own clock (see `timers`). Whatever closes the connection ends every exchange it still holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from inspector.events import JSON, new_exchange_id, now_ns
from inspector.proxy import failures, timers
from inspector.proxy.http1 import CHUNKED, STOP, MessageReader, ProtocolError
from inspector.proxy.request import IDEMPOTENT, read_request
from inspector.proxy.state import (
    CLOSE,
    CONNECTING,
    IDLE,
    REJECT,
    RESUME,
    STOPPED,
    UPGRADING,
    Flight,
    Shared,
    record_body,
)
from inspector.proxy.upstream import UpstreamConnection
from inspector.records import BODY_READ, CLIENT_GONE, HANDSHAKE_RECEIVED, PROXY_REQUEST

if TYPE_CHECKING:
    from inspector.proxy.tunnel import Tunnel

REPLAY_LIMIT = 64 * 1024  # a request kept for one retry, only while it is this small


class ClientConnection(asyncio.Protocol):
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.record = shared.recorder.record
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
        self.timer: asyncio.TimerHandle | None = None  # the response clock (504)
        self.idle_timer: asyncio.TimerHandle | None = None  # see `timers`
        self.header_timer: asyncio.TimerHandle | None = None
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
        timers.idle(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_client(data)
            return
        if self.paused & (UPGRADING | STOPPED):
            self.held += data
            return
        if self.idle_timer is not None:  # the first bytes after an idle time
            self.idle_timer.cancel()
            self.idle_timer = None
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
        elif self.reader.partial and self.header_timer is None:
            timers.head_started(self)

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
        timers.stop(self)
        if self.connecting is not None:
            self.connecting.cancel()
        if self.tunnel is not None:
            self.tunnel.lost("client")
        at = now_ns()
        for flight in self.pending:
            if not flight.finished:
                self.record(CLIENT_GONE, flight.id, at)
                flight.finish(self.record, "disconnected", at)
        self.pending.clear()
        if self.rejection is not None:
            self.record(CLIENT_GONE, self.rejection[0].id, at)
        self._drop_rejection("the client closed the connection first")
        if self.upstream is not None:
            self.upstream.transport.close()

    # -- reading requests (the MessageReader's sink) -------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        if self.header_timer is not None:  # it spanned reads: its clock stops
            self.header_timer.cancel()
            self.header_timer = None
        shared = self.shared
        request = read_request(data, start, end, shared.authorities, shared.upstream)
        method = request.method
        flight = Flight(new_exchange_id(), method == b"HEAD", shared.body_limit)
        flight.close = request.close
        at = now_ns()
        self.record(
            PROXY_REQUEST,
            flight.id,
            at,
            data[start:end],  # the head through the CRLF ending its last field line
            request.websocket,
            self.client,
            shared.server,
            self.snapshot,
            shared.redact,
        )
        upstream = self.upstream
        if (
            upstream is not None
            and upstream.reused
            and not self.pending
            and method in IDEMPOTENT
            and request.framing != CHUNKED
        ):
            flight.replay = data[start : end + 2]  # the head as forwarded; the body follows
        self.pending.append(flight)
        self.flight = flight
        if request.upgrade:
            flight.upgrade = True
            flight.websocket = request.websocket
            if request.websocket:
                self.record(HANDSHAKE_RECEIVED, flight.id, at)
            flight.request_done = True  # it has no body (see `read_request`)
            self.waiting(flight)
            return STOP, 0
        return request.framing, request.length

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.flight
        assert flight is not None
        flight.request_left = record_body(
            self.record, BODY_READ, flight.id, flight.request_left, data, start, end, last
        )
        replay = flight.replay
        if replay is not None and end > start:
            small = len(replay) + end - start <= REPLAY_LIMIT
            flight.replay = replay + data[start:end] if small else None
        if last:
            flight.request_done = True
            self.waiting(flight)

    def trailers(self, block: bytes) -> None:
        pass  # the vocabulary has no request trailers; they are forwarded all the same

    def end(self) -> None:
        pass

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
        if flight.response_started or flight.waiting is None:
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
            message = failures.connect_error(exc, self.shared.upstream, config.connect_timeout)
            if self.closing or self.closed:
                return
            if self.pending:
                error = ProtocolError(message, 502)
                failures.answer(self, self.pending[0], error, type(exc).__name__)
            else:  # nothing to answer: the client must not wait, paused, for ever
                self.close(message)
            return
        self.connecting = None

    def upstream_made(self, upstream: UpstreamConnection) -> None:
        if self.closed or self.closing:
            upstream.transport.close()
            return
        self.upstream = upstream
        upstream.transport.write(b"".join(self.outbox))
        self.outbox.clear()
        self.resume(CONNECTING)

    def retry(self, flight: Flight) -> None:
        """Sends `flight`'s request, kept as forwarded, once more on a new upstream connection."""
        replay, flight.replay = flight.replay, None
        assert replay is not None
        self.outbox.append(replay)
        self._connect()

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
            self.close("the response before it closed the connection")
        elif after & REJECT and not self.pending and self.rejection is not None:
            flight, error = self.rejection
            self.rejection = None
            failures.answer(self, flight, error, "inspector.proxy.BadRequest")
        elif after & RESUME:
            held, self.held = self.held, b""
            self.reader.resume()
            self.resume(UPGRADING)
            if held:
                self.data_received(held)
        if after & IDLE:
            timers.idle(self)

    def close(self, why: str = "the proxy closed the connection", reset: bool = False) -> None:
        """Close both connections (`reset`: abort the client's, see `failures.reset`); each
        exchange still held ends as failed, saying `why` it got no (whole) response."""
        self.closing = True
        for flight in self.pending:
            started = flight.response_started
            kind = "inspector.proxy.ResponseCut" if started else "inspector.proxy.NotAnswered"
            failures.fail(self, flight, kind, why)
        self.pending.clear()
        self._drop_rejection(why)
        if self.upstream is not None:
            self.upstream.transport.close()
        if reset:
            failures.reset(self.transport)
        else:
            self.transport.close()

    def _drop_rejection(self, why: str) -> None:
        """A malformed request waiting for its 400 will not get it: it ends as failed."""
        if self.rejection is not None:
            flight, error = self.rejection
            self.rejection = None
            failures.fail(self, flight, "inspector.proxy.BadRequest", f"{error} ({why})")
