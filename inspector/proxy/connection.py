"""`Connection`: every rule of one client connection and its upstream connection, without I/O.

The h11 way: a `Connection` is told what happened (bytes from either side, a side's send
buffer filling or draining, the upstream connection opening, failing or closing, a clock
reading at `tick`) and asks its `Io` for what must be done (write to a side, pause or resume
reading one, open or close the upstream connection, close or reset the client, wake it at a
deadline). It holds no socket, no task and no event loop: the asyncio adapters in
`protocols` feed it and perform what it asks, and tests drive it with a fake `Io` and a fake
clock. What it observes it records (`inspector.records`), raw, as the relay's only output.

It is the one object the adapters drive; four parts it owns keep their own rules: the
request side (`requests`: the client's reader's sink), the response side (`responses`: the
upstream's reader's sink), the clocks (`clocks`: every timeout, and what it does when it runs
out) and HTTP intercept (`holder`: what is kept back for the viewer, and its release). Each
reaches back only through a small Protocol.

The rules, in the order a connection meets them:
- Bytes are forwarded exactly as read, but a request head only once whole and checked
  (`read_request`): malformed 400, another host 421, CONNECT 405, a request that came back
  to this proxy through its own upstream connection 508 (`came_back`), each closing this
  client's connection only. Empty lines before a request are held with it, never forwarded
  alone.
- One request at a time (pipeline depth 1, as nginx): the bytes after a request are held
  until its response is complete, and reading pauses if they pass `HOLD_LIMIT`. Memory per
  connection is bounded, and a response is never queued behind another.
- The upstream connection opens on the first request, and again only between requests if the
  upstream closed it while idle, or once to retry an idempotent request it closed on.
- Clocks (nginx's names, see `clocks`): keepalive, client header, client body, proxy read
  (the response head) and send timeouts.
- Whatever closes the connection ends the exchange it holds, recorded as failed with why.
- Intercept (see `holder`): a request or response an armed rule matches is kept back until
  the viewer forwards, edits or drops it, or `hold_timeout` forwards it; the response, body
  and send clocks stand still meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from inspector.events import JSON, Sender, new_exchange_id, now_ns
from inspector.proxy.actions import (
    BAD_REQUEST,
    CLIENT_FULL,
    CLOSE,
    CONNECTING,
    FULL,
    HELD,
    HOLDING,
    IDLE,
    KEPT,
    NONE,
    OPEN,
    OPENING,
    RESUME,
    STOPPED,
    Io,
)
from inspector.proxy.clocks import Clocks
from inspector.proxy.failures import connect_error, error_response
from inspector.proxy.holder import HttpHolder
from inspector.proxy.http1 import MAX_HEAD, MessageReader, ProtocolError
from inspector.proxy.intercept import Caught
from inspector.proxy.requests import REPLAY_LIMIT, Requests
from inspector.proxy.responses import Responses
from inspector.proxy.state import Address, Flight, Link, Shared
from inspector.proxy.tunnel import Tunnel
from inspector.records import (
    BODY_SENT,
    CLIENT_GONE,
    FAILED,
    PROXY_ANSWERED,
    PROXY_BAD_REQUEST,
    PROXY_FORWARDED,
)

__all__ = ["HOLD_LIMIT", "REPLAY_LIMIT", "Connection", "Io"]

HOLD_LIMIT = MAX_HEAD  # client bytes held while a response is due, before reading pauses


class Connection:
    def __init__(
        self,
        shared: Shared,
        io: Io,
        client: Address | None,
        clock: Callable[[], int] = now_ns,
        local: Address | None = None,
    ) -> None:
        """`client`: the client's address; `local`: the proxy's end of its connection."""
        self.shared = shared
        self.io = io
        self.clock = clock
        self.record = shared.recorder.record
        shared.count += 1
        self.client = client
        self.link = (client, local) if client is not None and local is not None else None
        self.snapshot: dict[str, JSON] = {"upstream": shared.upstream, "connection": shared.count}
        self.request: Flight | None = None  # the request being read
        self.flight: Flight | None = None  # the exchange whose response is due
        self.held = b""  # read after a request, before its response ended
        self.paused = 0
        self.upstream = NONE
        self.outbox: list[bytes] = []
        self.tunnel: Tunnel | None = None
        self.upstream_link: Link | None = None  # (our end, the upstream's) of the open one
        self.sent_upstream = 0  # requests written on it: their order pairs them with the app's
        self.closing = False
        self.closed = False
        self.upstream_paused = 0
        self.caught_request: Caught | None = None  # kept back from the upstream (`holder`)
        self.holder = HttpHolder(self)
        self.response_side = Responses(self, clock, self.holder.watch_response)
        self.responses = MessageReader(self.response_side)
        self.clocks = Clocks(self, io, clock, self.holder.holding)
        self.request_side = Requests(self, clock, self.holder.watch)
        self.reader = MessageReader(self.request_side)
        self.clocks.idle(clock())

    # -- the client's side -----------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.client_data(data)
            return
        reader = self.reader
        if reader.stopped or self.closing:  # the next request waits for this response
            if not self.closing:
                self.held += data
                if len(self.held) > HOLD_LIMIT:
                    self.pause(HOLDING)
            return
        clocks = self.clocks
        clocks.idle_at = 0
        out = reader.feed(data)
        caught = self.caught_request
        if caught is not None:  # kept back: nothing of it reaches the upstream yet
            if out:
                caught.raw.append(out)
        elif out:
            if self.upstream == OPEN:  # `to_upstream`'s common case, without the call
                self.io.to_upstream(out)
            else:
                self.to_upstream(out)
        if reader.error is not None:
            self._malformed(reader.error)
            return
        if reader.stopped:
            self.held = reader.rest
            if len(self.held) > HOLD_LIMIT:
                self.pause(HOLDING)
        elif reader.holding:
            if not clocks.head_at:  # the clock runs from the head's first byte
                clocks.head_started()
        elif clocks.read_at:
            clocks.read_at = self.clock()
        if caught is not None and caught.hold is None and caught.full:
            self.holder.decide(caught)

    def to_upstream(self, data: bytes) -> None:
        if self.upstream == OPEN:
            self.io.to_upstream(data)
        else:
            self.outbox.append(data)
            if self.upstream == NONE:
                self._connect()

    def client_full(self) -> None:
        """The client's send buffer is full: it reads nothing for now."""
        self.pause_upstream(CLIENT_FULL)
        self.clocks.full("client")

    def client_drained(self) -> None:
        self.clocks.client_full_at = 0
        self.resume_upstream(CLIENT_FULL)

    def client_lost(self) -> None:
        """The client's connection closed (its end, a reset, or `close_client`)."""
        self.closed = True
        self.holder.lose()
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.lost("client")
        at = self.clock()
        flight = self.flight
        if flight is not None and not flight.finished:
            self.record(CLIENT_GONE, flight.id, at)
            flight.finish(self.record, "disconnected", at)
        self.flight = None
        if self.upstream != NONE:
            self.upstream = NONE
            self.io.close_upstream(False)

    # -- the upstream's side ---------------------------------------------------------------------

    def upstream_connected(self, link: Link | None = None) -> None:
        """`link`: the new connection's (local, peer) addresses, when known."""
        if self.closing or self.closed:
            self.io.close_upstream(False)
            return
        self.upstream = OPEN
        self.upstream_link, self.sent_upstream = link, 0
        if self.flight is not None and self.outbox:
            self.forwarded(self.flight, self.clock())
        self.io.to_upstream(b"".join(self.outbox))
        self.outbox.clear()
        self.clocks.body_restarts()
        self.resume(CONNECTING)

    def forwarded(self, flight: Flight, at: int) -> None:
        """Records which upstream connection carries `flight`'s request, and its place there."""
        self.sent_upstream += 1
        local, peer = self.upstream_link or (None, None)
        self.record(PROXY_FORWARDED, flight.id, at, local, peer, self.sent_upstream)

    def upstream_unreachable(self, exc: OSError) -> None:
        """The upstream connection could not be opened."""
        self.upstream = NONE
        config = self.shared.config
        message = connect_error(exc, self.shared.upstream, config.connect_timeout)
        if self.closing or self.closed:
            return
        if self.flight is not None:
            self.answer(self.flight, ProtocolError(message, 502), type(exc).__name__)
        else:  # nothing to answer: the client must not wait, paused, for ever
            self.close(message)

    def upstream_data(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.upstream_data(data)
            return
        responses = self.responses
        out = responses.feed(data)  # after an error: up to the last byte that was valid
        side = self.response_side
        caught = side.caught
        if caught is not None:  # kept back: nothing of it reaches the client yet
            if out:
                caught.raw.append(out)
            if responses.rest and side.switch is None:
                side.stash += responses.rest
        elif out:
            self.io.to_client(out)
        if side.after:
            self._after_write()
        if responses.error is not None:
            self.upstream = NONE
            self.io.close_upstream(True)
            self._upstream_failed(
                f"upstream {self.shared.upstream} sent a malformed response ({responses.error})",
                "inspector.proxy.MalformedResponse",
                reset=True,  # what a direct client would see is cut short: so is what it gets
            )
        elif responses.stopped and side.switch is not None:
            self._start_tunnel(*side.switch)
        elif caught is not None and caught.hold is None and caught.full:
            self.holder.decide(caught)

    def upstream_eof(self) -> None:
        """The upstream closed its side. Between exchanges that is its idle keep-alive
        timeout (RFC 9112 §9.3): it is let go now, so that a request arriving next opens a
        new connection instead of being written to this closing one."""
        unsent = self.caught_request is not None  # held: nothing of it went there yet
        if (
            self.tunnel is None
            and (unsent or (self.flight is None and not self.reader.inside))
            and self.responses.idle
            and self.upstream == OPEN
        ):
            self.upstream = NONE
            self.io.close_upstream(False)

    def upstream_lost(self, exc: Exception | None) -> None:
        """The upstream connection closed (`exc`: it was broken, such as by a reset)."""
        self.upstream = NONE
        if self.closed or self.closing:
            return
        if self.tunnel is not None:
            self.tunnel.lost("server")
            self.io.close_client(False)
            return
        if self.caught_request is not None and self.responses.idle:
            return  # nothing of the held request went there: it will go on a new connection
        if exc is None:
            cut_short = not self.responses.eof()  # ends a body read until close (§6.3 ¶8)
            if self.response_side.after:
                self._after_write()
            if self.closing:
                return
        else:  # a reset: nothing it sent last can be trusted to be whole
            cut_short = not self.responses.idle
        caught = self.response_side.caught
        if caught is not None and caught.ended:  # whole: it waits for the viewer still
            if caught.hold is None:
                self.holder.decide(caught)
            return
        if self._may_retry():
            self._retry()
        elif cut_short or self.flight is not None:
            message = f"upstream {self.shared.upstream} closed the connection"
            if exc is not None:
                message = f"upstream {self.shared.upstream} broke the connection ({exc})"
            self._upstream_failed(
                f"{message} before the response ended",
                "inspector.proxy.UpstreamClosed" if exc is None else type(exc).__name__,
                reset=exc is not None,
            )
        elif self.reader.inside:
            # A request is still arriving, its response already ended (an early answer): the
            # rest of it must never reach a new connection, where it would read as a new
            # request (RFC 9112 §9.3, §11.2).
            self.close("the upstream closed the connection during the request")
        # else: it closed while idle; the next request opens a new connection

    def upstream_full(self) -> None:
        """The upstream's send buffer is full: the client's reads pause."""
        self.pause(FULL)
        self.clocks.full("server")

    def upstream_drained(self) -> None:
        self.clocks.upstream_full_at = 0
        self.clocks.body_restarts()
        self.resume(FULL)

    def _connect(self) -> None:
        self.upstream = OPENING
        self.response_side.connected()
        self.responses = MessageReader(self.response_side)
        self.pause(CONNECTING)
        self.io.connect()

    def _may_retry(self) -> bool:
        """A kept-alive connection closed before any byte of the answer to the request
        waiting, which was sent whole: the request most likely met the upstream's idle close.
        If its method is idempotent (RFC 9110 §9.2.2) it may be sent again, once, on a new
        connection (as nginx's `proxy_next_upstream error` does); the new one is not reused."""
        flight = self.flight
        return (
            self.response_side.reused
            and self.responses.idle
            and flight is not None
            and flight.replay is not None
            and flight.request_done
            and not self.reader.inside
        )

    def _retry(self) -> None:
        """Sends the request, kept as forwarded, once more on a new upstream connection."""
        flight = self.flight
        assert flight is not None
        replay, flight.replay = flight.replay, None
        assert replay is not None
        self.outbox.append(replay)
        self._connect()

    def _start_tunnel(self, flight: Flight, head: bytes) -> None:
        """101: both connections now carry another protocol, relayed both ways unchanged."""
        self.response_side.switch = None
        self.flight = None
        io = self.io
        self.tunnel = Tunnel(
            self.shared, flight, head, io.to_upstream, io.to_client, self._pause_side
        )
        rest = self.responses.rest
        if rest:
            self.upstream_data(rest)
        held, self.held = self.held, b""
        if held:
            self.client_data(held)
        self.resume(HOLDING)

    def _after_write(self) -> None:
        """Runs once the upstream bytes that ended a response were written to the client."""
        side = self.response_side
        after, side.after = side.after, 0
        if after & CLOSE:
            self.close("the response before it closed the connection")
            return
        if after & RESUME and self.reader.stopped:
            self.reader.resume()
            held, self.held = self.held, b""
            if held:
                self.client_data(held)
            if len(self.held) <= HOLD_LIMIT:
                self.resume(HOLDING)
        if after & IDLE:
            self.clocks.idle(self.clock())

    def tick(self) -> None:
        """The wake asked for is due (see `clocks`)."""
        self.clocks.tick()

    def is_idle(self) -> bool:
        return not (
            self.closing
            or self.closed
            or self.flight is not None
            or self.tunnel is not None
            or self.paused & STOPPED
            or not self.reader.idle
        )

    def _pause_side(self, sender: Sender, paused: bool) -> None:
        """A tunnel's messages queued behind a held one passed their bound (or went)."""
        if sender == "client":
            if paused:
                self.pause(HELD)
            else:
                self.resume(HELD)
        elif paused:
            self.pause_upstream(KEPT)
        else:
            self.resume_upstream(KEPT)

    # -- pausing, failing, answering, closing ----------------------------------------------------

    def pause(self, reason: int) -> None:
        if not self.paused:
            self.io.pause_client()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not (self.closing or self.closed):
                self.io.resume_client()

    def pause_upstream(self, reason: int) -> None:
        if not self.upstream_paused:
            self.io.pause_upstream()
        self.upstream_paused |= reason

    def resume_upstream(self, reason: int) -> None:
        if self.upstream_paused & reason:
            self.upstream_paused &= ~reason
            if not self.upstream_paused:
                self.io.resume_upstream()

    def _malformed(self, error: ProtocolError) -> None:
        self.pause(STOPPED)
        request = self.request
        if error.in_head or request is None:
            # A head that could not be read (or was refused): an exchange of its own.
            self.answer(self.unread(self.clock(), self.reader.rest), error, BAD_REQUEST)
        elif request is self.flight and not request.response_started:
            # Its head went upstream but its body is broken, and nothing was answered yet:
            # the proxy answers it instead of the upstream.
            self.answer(request, error, BAD_REQUEST)
        else:
            # Its response is on the wire (or over): a 400 now would land inside it. Like
            # nginx, no answer then: the connection closes, and the upstream connection with
            # it, since the rest of this request can never follow (RFC 9112 §11.2: a request
            # cut short must not leave bytes that could be read as another).
            self.fail(request, BAD_REQUEST, str(error))
            self.close("its request was malformed", reset=request.response_started)

    def unread(self, at: int, data: bytes) -> Flight:
        """A new exchange, started `at`, for a request head the proxy could not read."""
        flight = Flight(new_exchange_id(), False, 0)
        head = data.split(b"\r\n\r\n", 1)[0][:4096]
        where = (self.client, self.shared.server, self.snapshot)
        self.record(PROXY_BAD_REQUEST, flight.id, at, head, *where)
        return flight

    def answer(self, flight: Flight, error: ProtocolError, kind: str) -> None:
        """The proxy answers `flight` itself (400, 405, 408, 421, 502, 504, 508) and closes
        the connection."""
        if error.status == 421:
            kind = "inspector.proxy.MisdirectedRequest"
        elif error.status == 405:
            kind = "inspector.proxy.MethodNotAllowed"
        elif error.status == 508:
            kind = "inspector.proxy.LoopDetected"
        message = str(error)
        if self.closing:
            self.fail(flight, kind, message)
            return
        at = self.clock()
        wire, headers, body = error_response(error.status, message)
        record = self.record
        record(FAILED, flight.id, at, kind, message, "")  # before the answer: not "started"
        record(PROXY_ANSWERED, flight.id, at, error.status, headers)
        record(BODY_SENT, flight.id, at, body, len(body), False)
        flight.response_started = True
        flight.finish(record, "failed", at)
        if self.flight is flight:
            self.flight = None
        self.io.to_client(wire)
        self.close(f"the proxy answered {error.status} to a request before it")

    def fail(self, flight: Flight, kind: str, message: str) -> None:
        """Ends `flight` as failed, once (the observer tells from the records before whether
        the client got part of a response). A proxy failure has no traceback."""
        if flight.finished:
            return
        at = self.clock()
        self.record(FAILED, flight.id, at, kind, message, "")
        flight.finish(self.record, "failed", at)

    def _upstream_failed(self, message: str, kind: str, reset: bool = False) -> None:
        """The upstream connection broke (closed early, was reset, or sent what is not HTTP)."""
        if self.closing:
            return
        flight = self.flight
        if flight is not None and not flight.response_started:
            self.answer(flight, ProtocolError(message, 502), kind)
            return
        if flight is not None:  # the client has part of a response: all it learns is the end
            self.flight = None
            self.fail(flight, kind, message)
        self.close("the upstream connection broke during a response before it", reset)

    def close(
        self,
        why: str = "the proxy closed the connection",
        reset: bool = False,
        reset_upstream: bool = False,
    ) -> None:
        """Close both connections (`reset`: abort the client's with a TCP RST, as a broken
        upstream would reach a direct client); the exchange still held ends as failed, saying
        `why` it got no (whole) response."""
        if self.closing or self.closed:
            return
        self.closing = True
        self.holder.lose()
        flight = self.flight
        if flight is not None:
            started = flight.response_started
            kind = "inspector.proxy.ResponseCut" if started else "inspector.proxy.NotAnswered"
            self.fail(flight, kind, why)
            self.flight = None
        if self.upstream != NONE:
            self.upstream = NONE
            self.io.close_upstream(reset_upstream)
        self.io.close_client(reset)
