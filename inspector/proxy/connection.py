"""`Connection`: every rule of one client connection and its upstream connection, without I/O.

The h11 way: a `Connection` is told what happened (bytes from either side, a side's send
buffer filling or draining, the upstream connection opening, failing or closing, a clock
reading at `tick`) and asks its `Io` for what must be done (write to a side, pause or resume
reading one, open or close the upstream connection, close or reset the client, wake it at a
deadline). It holds no socket, no task and no event loop: the asyncio adapters in
`protocols` feed it and perform what it asks, and tests drive it with a fake `Io` and a fake
clock. What it observes it records (`inspector.records`), raw, as the relay's only output.

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
- Clocks (nginx's names): keepalive_timeout (`idle_timeout`: nothing in flight, no bytes),
  client_header_timeout (`header_timeout`: from a head's first byte, 408),
  client_body_timeout (`body_timeout`: between two reads of a request body, 408 or close),
  proxy_read_timeout for the head (`response_timeout`: 504), and send_timeout
  (`send_timeout`: a side whose send buffer stays full, reading nothing; both close).
- Whatever closes the connection ends the exchange it holds, recorded as failed with why.
- Intercept (see `intercept`): while the viewer armed a `requests` rule, a request it matches
  (on its head, or on its body where the rule needs it) is kept back, nothing of it reaching
  the upstream: its head and body up to the body limit, then the client's reads pause (HELD).
  A `responses` rule keeps a response from the client the same way, pausing the upstream's
  reads. A WebSocket handshake may be held; its 101 never is (the protocol changes there). The
  viewer forwards it (the bytes as read; the rest streams on), edits it (only one read whole
  within the limit), or drops it (a request gets the proxy's 502, a response closes the
  client's connection); `hold_timeout` forwards it. The response, body and send clocks stand
  still while the viewer holds something, and run from the release on. What is recorded is
  what the sender sent; the release says whether the peer got it, edited, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from inspector.events import JSON, Sender, new_exchange_id, now_ns
from inspector.matching import Rule, Subject, matches
from inspector.proxy.failures import connect_error, error_response
from inspector.proxy.holds import ActionError
from inspector.proxy.http1 import (
    CHUNKED,
    FIELD_LINES,
    INTERIM,
    LENGTH,
    MAX_HEAD,
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
from inspector.proxy.intercept import (
    Caught,
    edited_request,
    edited_response,
    needs_body,
    request_subject,
    response_subject,
)
from inspector.proxy.request import IDEMPOTENT, RequestHead, read_request
from inspector.proxy.state import Address, Flight, Link, Shared, record_body
from inspector.proxy.tunnel import Tunnel
from inspector.records import (
    BODY_READ,
    BODY_SENT,
    CLIENT_GONE,
    FAILED,
    HANDSHAKE_RECEIVED,
    PROXY_ANSWERED,
    PROXY_BAD_REQUEST,
    PROXY_FORWARDED,
    PROXY_REQUEST,
    PROXY_RESPONSE,
    PROXY_TRAILERS,
)

REPLAY_LIMIT = 64 * 1024  # a request kept for one retry, only while it is this small
HOLD_LIMIT = MAX_HEAD  # client bytes held while a response is due, before reading pauses

# Why the client's reads are paused (a bit each): reading resumes when none is left.
FULL, CONNECTING, HOLDING, STOPPED, HELD = 1, 2, 4, 8, 16
# Why the upstream's reads are paused: the client reads nothing, or the viewer holds what the
# upstream sent (a response, or WebSocket messages past the queue's bound).
CLIENT_FULL, KEPT = 1, 2
# What is done once the upstream bytes just read were written to the client.
CLOSE, RESUME, IDLE = 1, 2, 4
# The upstream connection.
NONE, OPENING, OPEN = 0, 1, 2

TIMEOUT = "inspector.proxy.RequestTimeout"
SEND_TIMEOUT = "inspector.proxy.SendTimeout"
BAD_REQUEST = "inspector.proxy.BadRequest"


class Io(Protocol):
    """What a `Connection` asks of the world (the asyncio adapters, or a test)."""

    def to_client(self, data: bytes) -> None: ...

    def to_upstream(self, data: bytes) -> None: ...

    def pause_client(self) -> None: ...

    def resume_client(self) -> None: ...

    def pause_upstream(self) -> None: ...

    def resume_upstream(self) -> None: ...

    def connect(self) -> None:
        """Open a new upstream connection: `upstream_connected` or `upstream_unreachable`
        follows."""

    def close_upstream(self, reset: bool) -> None:
        """Close the upstream connection (opening or open; `reset`: abort it, dropping what
        it has not sent): nothing more is heard from it."""

    def close_client(self, reset: bool) -> None:
        """Close the client's connection once what was written is sent (`reset`: now, with a
        TCP RST); `client_lost` follows."""

    def wake_at(self, deadline: int) -> None:
        """Call `tick` once at `deadline` (nanoseconds on `now_ns`'s clock), instead of any
        wake asked before."""


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
        config = shared.config
        self._idle_ns = int(config.idle_timeout * 1e9)
        self._head_ns = int(config.header_timeout * 1e9)
        self._body_ns = int(config.body_timeout * 1e9)
        self._response_ns = int(config.response_timeout * 1e9)
        self._send_ns = int(config.send_timeout * 1e9)
        shared.count += 1
        self.client = client
        self.link = (client, local) if client is not None and local is not None else None
        self.snapshot: dict[str, JSON] = {"upstream": shared.upstream, "connection": shared.count}
        self.reader = MessageReader(self)
        self.request: Flight | None = None  # the request being read
        self.flight: Flight | None = None  # the exchange whose response is due
        self.held = b""  # read after a request, before its response ended
        self.paused = 0
        self.after = 0
        self.upstream = NONE
        self.responses = MessageReader(_Responses(self))
        self.outbox: list[bytes] = []
        self.reused = False  # a response ended on the upstream connection: kept alive
        self.switch: tuple[Flight, bytes] | None = None  # a 101 and its head
        self.tunnel: Tunnel | None = None
        self.upstream_link: Link | None = None  # (our end, the upstream's) of the open one
        self.sent_upstream = 0  # requests written on it: their order pairs them with the app's
        self.closing = False
        self.closed = False
        # Intercept (see `intercept`): what is kept back from the upstream, or from the client.
        self.caught_request: Caught | None = None
        self.caught_response: Caught | None = None
        self.stash = b""  # upstream bytes after a held response's end
        self.upstream_paused = 0
        # The clocks: a deadline each (0: not running), and the one wake asked of `io`.
        self.idle_at = 0
        self.head_at = 0
        self.read_at = 0  # the last read of a request body (its clock runs from there)
        self.client_full_at = 0  # since when the client's send buffer is full
        self.upstream_full_at = 0
        self.wake = 0
        self._idle(clock())

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
        self.idle_at = 0
        out = reader.feed(data)
        caught = self.caught_request
        if caught is not None:  # kept back: nothing of it reaches the upstream yet
            if out:
                caught.raw.append(out)
        elif out:
            self._to_upstream(out)
        if reader.error is not None:
            self._malformed(reader.error)
            return
        if reader.stopped:
            self.held = reader.rest
            if len(self.held) > HOLD_LIMIT:
                self.pause(HOLDING)
        elif reader.holding:
            if not self.head_at:  # the clock runs from the head's first byte
                self.head_at = self._arm(self.clock() + self._head_ns)
        elif self.read_at:
            self.read_at = self.clock()
        if caught is not None and caught.hold is None and caught.full:
            self._decide(caught)

    def _to_upstream(self, data: bytes) -> None:
        if self.upstream == OPEN:
            self.io.to_upstream(data)
        else:
            self.outbox.append(data)
            if self.upstream == NONE:
                self._connect()

    def client_full(self) -> None:
        """The client's send buffer is full: it reads nothing for now."""
        self._pause_upstream(CLIENT_FULL)
        self.client_full_at = now = self.clock()
        self._arm(now + self._send_ns)

    def client_drained(self) -> None:
        self.client_full_at = 0
        self._resume_upstream(CLIENT_FULL)

    def client_lost(self) -> None:
        """The client's connection closed (its end, a reset, or `close_client`)."""
        self.closed = True
        self._lose_holds()
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

    # -- reading requests (the client's MessageReader's sink) ------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        self.head_at = 0
        shared = self.shared
        if self.came_back():
            message = f"this request came back to this proxy: upstream {shared.upstream} leads here"
            raise ProtocolError(f"{message} (a forwarding loop)", 508)
        request = read_request(data, start, end, shared.authorities, shared.upstream)
        method = request.method
        flight = Flight(new_exchange_id(), method == b"HEAD", shared.body_limit)
        flight.close = request.close
        flight.asked = head = data[start:end]  # through the CRLF ending its last field line
        at = self.clock()
        self.record(
            PROXY_REQUEST,
            flight.id,
            at,
            head,
            request.websocket,
            self.client,
            shared.server,
            self.snapshot,
            shared.redact,
        )
        reusing = self.upstream == OPEN and self.reused
        if reusing and method in IDEMPOTENT and request.framing != CHUNKED:
            flight.replay = data[start : end + 2]  # the head as forwarded; the body follows
        self.request = self.flight = flight
        steering = shared.steering
        if steering.requests is not None or steering.responses is not None:
            self._watch(flight, head, request)
        if self.upstream == OPEN and self.caught_request is None:  # held: not forwarded yet
            self._forwarded(flight, at)
        if request.upgrade:
            flight.upgrade = True
            flight.websocket = request.websocket
            if request.websocket:
                self.record(HANDSHAKE_RECEIVED, flight.id, at)
            flight.request_done = True  # it has no body (see `read_request`)
            caught = self.caught_request
            if caught is None:
                self._waiting(flight, at)
            else:
                caught.ended = True
                caught.total = 0
            return STOP, 0
        if request.framing == CHUNKED or request.length:
            self.read_at = at
            self._arm(at + self._body_ns)
        return request.framing, request.length

    def came_back(self) -> bool:
        """This connection is an upstream connection of a proxy of this process, which relays
        for a chain of connections that starts at this proxy: what it brings went through
        here already, and forwarding it again would go round for ever, each turn on a new
        connection. Proxies chained on purpose (A to B to the app) are no loop: the chain
        from B's client connection does not lead back to B."""
        upstreams, link = self.shared.upstreams, self.link
        for _ in range(len(upstreams)):  # a chain passes each connection once at most
            hop = upstreams.get(link) if link is not None else None
            if hop is None:
                return False
            if hop[0] is self.shared:
                return True
            link = hop[1]
        return False

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.request
        assert flight is not None
        flight.request_left = record_body(
            self.record, BODY_READ, flight.id, flight.request_left, data, start, end, last
        )
        replay = flight.replay
        if replay is not None and end > start:
            small = len(replay) + end - start <= REPLAY_LIMIT
            flight.replay = replay + data[start:end] if small else None
        kept = flight.asked_body
        if kept is not None and len(kept) < self.shared.body_limit:
            kept += data[start : start + min(end - start, self.shared.body_limit - len(kept))]
        caught = self.caught_request
        if caught is not None:
            caught.body(data, start, end, last)
        if last:
            flight.request_done = True
            self.read_at = 0
            if flight is self.flight and caught is None:
                self._waiting(flight, self.clock())

    def trailers(self, block: bytes) -> None:
        pass  # the vocabulary has no request trailers; they are forwarded all the same

    def end(self) -> None:
        self.request = None
        if self.caught_request is not None:
            self.caught_request.ended = True
        self.reader.stop()  # one request at a time: the next waits for this response

    # -- the upstream's side ---------------------------------------------------------------------

    def upstream_connected(self, link: Link | None = None) -> None:
        """`link`: the new connection's (local, peer) addresses, when known."""
        if self.closing or self.closed:
            self.io.close_upstream(False)
            return
        self.upstream = OPEN
        self.upstream_link, self.sent_upstream = link, 0
        if self.flight is not None and self.outbox:
            self._forwarded(self.flight, self.clock())
        self.io.to_upstream(b"".join(self.outbox))
        self.outbox.clear()
        self._body_clock_restarts()
        self.resume(CONNECTING)

    def _forwarded(self, flight: Flight, at: int) -> None:
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
        caught = self.caught_response
        if caught is not None:  # kept back: nothing of it reaches the client yet
            if out:
                caught.raw.append(out)
            if responses.rest and self.switch is None:
                self.stash += responses.rest
        elif out:
            self.io.to_client(out)
        if self.after:
            self._after_write()
        if responses.error is not None:
            self.upstream = NONE
            self.io.close_upstream(True)
            self._upstream_failed(
                f"upstream {self.shared.upstream} sent a malformed response ({responses.error})",
                "inspector.proxy.MalformedResponse",
                reset=True,  # what a direct client would see is cut short: so is what it gets
            )
        elif responses.stopped and self.switch is not None:
            self._start_tunnel(*self.switch)
        elif caught is not None and caught.hold is None and caught.full:
            self._decide(caught)

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
            if self.after:
                self._after_write()
            if self.closing:
                return
        else:  # a reset: nothing it sent last can be trusted to be whole
            cut_short = not self.responses.idle
        caught = self.caught_response
        if caught is not None and caught.ended:  # whole: it waits for the viewer still
            if caught.hold is None:
                self._decide(caught)
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
        self.upstream_full_at = now = self.clock()
        self._arm(now + self._send_ns)

    def upstream_drained(self) -> None:
        self.upstream_full_at = 0
        self._body_clock_restarts()
        self.resume(FULL)

    def _body_clock_restarts(self) -> None:
        """After a pause that was not the client's, its body clock runs from now."""
        if self.read_at:
            self.read_at = now = self.clock()
            self._arm(now + self._body_ns)

    def _connect(self) -> None:
        self.upstream = OPENING
        self.responses = MessageReader(_Responses(self))
        self.reused = False
        self.pause(CONNECTING)
        self.io.connect()

    def _may_retry(self) -> bool:
        """A kept-alive connection closed before any byte of the answer to the request
        waiting, which was sent whole: the request most likely met the upstream's idle close.
        If its method is idempotent (RFC 9110 §9.2.2) it may be sent again, once, on a new
        connection (as nginx's `proxy_next_upstream error` does); the new one is not reused."""
        flight = self.flight
        return (
            self.reused
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
        self.switch = None
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

    # -- reading responses (the upstream's MessageReader's sink, through `_Responses`) -----------

    def response_head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        line = STATUS_LINE.match(data, start, end)
        if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
            raise ProtocolError("malformed status line or field", 502)
        flight = self.flight
        if flight is None or self.after & CLOSE:
            raise ProtocolError("a response to no request", 502)
        flight.replay = None  # the client gets bytes of its answer: never sent again
        status = int(line.group(2))
        if status < 200:
            if status == 101:  # RFC 9110 §15.2.2: the connection changes protocol
                self.switch = (flight, data[start:end])
                return STOP, 0
            return INTERIM, 0  # RFC 9110 §15.2: 100, 102, 103 precede the final response
        flight.response_started = True
        # For a WebSocket handshake, any final status but 101 is a denial (RFC 6455 §4.1).
        head, redact = data[start:end], self.shared.redact
        self.record(PROXY_RESPONSE, flight.id, self.clock(), head, flight.websocket, redact)
        low = data[line.end() - 2 : end].lower()
        framing = self._response_framing(flight, low, line.group(1) == b"0", status)
        rule = self.shared.steering.responses
        if rule is not None:
            self._watch_response(flight, head, rule, framing)
        return framing

    def _response_framing(
        self, flight: Flight, low: bytes, http10: bool, status: int
    ) -> tuple[int, int]:
        """A response's framing (RFC 9112 §6.3; `low`: its field lines, lowercased, from the
        CRLF before them), and whether the connection closes after it (`flight.close`)."""
        if http10:  # RFC 9112 §9.3: HTTP/1.0 closes unless kept alive
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

    def response_body(self, data: bytes, start: int, end: int, last: bool) -> None:
        flight = self.flight
        assert flight is not None
        flight.response_left = record_body(
            self.record, BODY_SENT, flight.id, flight.response_left, data, start, end, last
        )
        caught = self.caught_response
        if caught is not None:
            caught.body(data, start, end, last)

    def response_trailers(self, block: bytes) -> None:
        flight = self.flight
        assert flight is not None
        self.record(PROXY_TRAILERS, flight.id, self.clock(), block, self.shared.redact)

    def response_end(self) -> None:
        caught = self.caught_response
        if caught is not None:
            # It ends once the viewer lets it go: until then, whatever the upstream sends
            # after it waits (`stash`).
            caught.ended = True
            self.responses.stop()
            return
        self._response_done()

    def _response_done(self) -> None:
        flight = self.flight
        assert flight is not None
        self.flight = None
        self.reused = True
        flight.finish(self.record, "completed", self.clock())
        if self.reader.inside:
            # The response ended before its request did (an early answer, such as 413): the
            # rest of the request must not be read as the next one, so the connection closes
            # after it (RFC 9112 §9.3).
            flight.close = True
        self.after |= CLOSE if flight.close else RESUME | IDLE

    def _after_write(self) -> None:
        """Runs once the upstream bytes that ended a response were written to the client."""
        after, self.after = self.after, 0
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
            self._idle(self.clock())

    # -- intercept: holding a request or response for the viewer (see `intercept`) -------------

    def _watch(self, flight: Flight, head: bytes, request: RequestHead) -> None:
        """An HTTP rule is armed: this request is kept back if the `requests` rule matches its
        head, or needs its body to tell; its body is kept for a `responses` rule's `~bq`."""
        steering, limit = self.shared.steering, self.shared.body_limit
        if steering.responses is not None:
            flight.asked_body = bytearray()
        rule = steering.requests
        if rule is None:
            return
        total = -1 if request.framing == CHUNKED else request.length
        if needs_body(rule):
            self.caught_request = Caught("request", flight, head, rule, limit, total)
        elif matches(rule, request_subject(head, b"", total)):
            self.caught_request = Caught("request", flight, head, None, limit, total)

    def _watch_response(
        self, flight: Flight, head: bytes, rule: Rule, framing: tuple[int, int]
    ) -> None:
        kind, length = framing
        total = length if kind == LENGTH else 0 if kind == NO_BODY else -1
        if needs_body(rule):
            caught = Caught("response", flight, head, rule, self.shared.body_limit, total)
        elif matches(rule, response_subject(self._asked(flight), head, b"", total)):
            caught = Caught("response", flight, head, None, self.shared.body_limit, total)
        else:
            return
        self.caught_response = caught

    def _asked(self, flight: Flight) -> Subject:
        return request_subject(flight.asked, bytes(flight.asked_body or b""), -1)

    def _decide(self, caught: Caught) -> None:
        """`caught` is in as far as the viewer will see it: held, or let go if its rule
        needed the body and does not match it."""
        rule, body = caught.rule, bytes(caught.kept)
        if rule is not None:
            if caught.what == "request":
                subject = request_subject(caught.head, body, caught.total)
            else:
                asked = self._asked(caught.flight)
                subject = response_subject(asked, caught.head, body, caught.total)
            if not matches(rule, subject):
                self._send_caught(caught, b"".join(caught.raw))
                return
        sender: Sender = "client" if caught.what == "request" else "server"
        caught.hold = self.shared.steering.hold(
            self,
            caught.flight.id,
            caught.what,
            sender,
            0,
            caught.head,
            body,
            caught.total,
            caught.editable,
        )
        # The rest waits where it is (in the sender's socket buffer, then the sender).
        if caught.what == "response":
            self._pause_upstream(KEPT)
        elif not caught.ended:
            self.pause(HELD)

    def release(self, hold: int, action: str, change: dict[str, Any]) -> str:
        """The viewer's action on a hold of this connection (`holds.Holder`)."""
        caught = next(
            (c for c in (self.caught_request, self.caught_response) if c and c.hold == hold),
            None,
        )
        if caught is None or self.closing or self.closed:
            raise ActionError(f"hold {hold} is not held any more")
        if action == "forward" or action == "timeout":
            self._send_caught(caught, b"".join(caught.raw))
            return "forwarded" if action == "forward" else "timed out"
        if action == "edit":
            if caught.editable:
                raise ActionError(caught.editable)
            head, body = change.get("head"), change.get("body") or b""
            if not isinstance(head, bytes) or not isinstance(body, bytes):
                raise ActionError(f"an edited {caught.what} needs a head and a body (bytes)")
            if caught.what == "request":
                wire = self._edited_request(caught.flight, head, body)
            else:
                wire, close = edited_response(head, body, caught.flight.head)
                caught.flight.close = caught.flight.close or close
            self._send_caught(caught, wire)
            return "edited"
        if action == "drop":
            self._drop(caught)
            return "dropped"
        raise ActionError(f"unknown action {action!r}: forward, drop or edit")

    def _edited_request(self, flight: Flight, head: bytes, body: bytes) -> bytes:
        shared = self.shared
        wire, request = edited_request(head, body, shared.authorities, shared.upstream)
        if request.upgrade != flight.upgrade:
            raise ActionError(
                "an edited request cannot start or stop a protocol upgrade (Connection:"
                " upgrade, with no body)"
            )
        flight.head = request.method == b"HEAD"  # its response then has no content
        flight.close = flight.close or request.close
        flight.websocket = request.websocket
        flight.replay = None
        return wire

    def _send_caught(self, caught: Caught, data: bytes) -> None:
        """`data` (`caught` as read, or the viewer's edit) goes on its way; what follows
        it streams again, and the clocks the hold stopped run again from now."""
        flight = caught.flight
        if caught.what == "request":
            self.caught_request = None
            if self.upstream == OPEN:  # else once connected (`upstream_connected`)
                self._forwarded(flight, self.clock())
            self._to_upstream(data)
            if flight.request_done and flight is self.flight:
                self._waiting(flight, self.clock())
            self._clocks_restart()
            self.resume(HELD)
            return
        self.caught_response = None
        self.io.to_client(data)
        self._clocks_restart()
        if caught.ended:
            self.responses.resume()
            self._response_done()
            stash, self.stash = self.stash, b""
            self.upstream_data(stash)  # writes nothing, or a stray response's error
        if not self.closing:
            self._resume_upstream(KEPT)

    def _drop(self, caught: Caught) -> None:
        flight = caught.flight
        upstream = self.shared.upstream
        if caught.what == "request":  # the client gets the proxy's answer instead
            self.caught_request = None
            message = f"the viewer dropped this request (intercept): it never reached {upstream}"
            self.answer(flight, ProtocolError(message, 502), "inspector.proxy.Dropped")
            return
        self.caught_response = None
        message = "the viewer dropped this response (intercept): the client's connection closed"
        self._fail(flight, "inspector.proxy.Dropped", message)
        if self.flight is flight:
            self.flight = None
        self.close(message)

    def _pause_side(self, sender: Sender, paused: bool) -> None:
        """A tunnel's messages queued behind a held one passed their bound (or went)."""
        if sender == "client":
            if paused:
                self.pause(HELD)
            else:
                self.resume(HELD)
        elif paused:
            self._pause_upstream(KEPT)
        else:
            self._resume_upstream(KEPT)

    def _holding(self) -> bool:
        request, response = self.caught_request, self.caught_response
        return (request is not None and request.hold is not None) or (
            response is not None and response.hold is not None
        )

    def _lose_holds(self) -> None:
        """The connection is ending: what it holds is lost, unsent."""
        steering = self.shared.steering
        for caught in (self.caught_request, self.caught_response):
            if caught is not None and caught.hold is not None:
                steering.lost(caught.hold)
        self.caught_request = self.caught_response = None

    def _pause_upstream(self, reason: int) -> None:
        if not self.upstream_paused:
            self.io.pause_upstream()
        self.upstream_paused |= reason

    def _resume_upstream(self, reason: int) -> None:
        if self.upstream_paused & reason:
            self.upstream_paused &= ~reason
            if not self.upstream_paused:
                self.io.resume_upstream()

    def _clocks_restart(self) -> None:
        """A hold ended: the clocks it stopped (response, body, send) run from now, as if
        the viewer's time had not passed."""
        if self._holding():
            return
        now = self.clock()
        flight = self.flight
        if flight is not None and flight.waiting is not None and not flight.response_started:
            flight.waiting = now
        if self.read_at:
            self.read_at = now
        if self.client_full_at:
            self.client_full_at = now
        if self.upstream_full_at:
            self.upstream_full_at = now
        self._rearm()

    # -- the clocks ------------------------------------------------------------------------------

    def _arm(self, deadline: int) -> int:
        """Makes sure `tick` runs by `deadline`; returns it. A clock whose deadline moves
        later asks for nothing: `tick` finds it not due yet and waits again."""
        if not self.wake or deadline < self.wake:
            self.wake = deadline
            self.io.wake_at(deadline)
        return deadline

    def _waiting(self, flight: Flight, at: int) -> None:
        """`flight`'s request was sent: the clock for its response head starts."""
        flight.waiting = at
        self._arm(at + self._response_ns)

    def _idle(self, now: int) -> None:
        if self._is_idle():
            self.idle_at = self._arm(now + self._idle_ns)

    def _is_idle(self) -> bool:
        return not (
            self.closing
            or self.closed
            or self.flight is not None
            or self.tunnel is not None
            or self.paused & STOPPED
            or not self.reader.idle
        )

    def tick(self) -> None:
        """The wake asked for is due: each clock that ran out acts, the others wait again."""
        self.wake = 0
        if self.closing or self.closed:
            return
        now = self.clock()
        if 0 < self.idle_at <= now:
            self.idle_at = 0
            if self._is_idle():
                self.close("the connection was idle")  # holds no exchange: records nothing
                return
        if 0 < self.head_at <= now:
            since, self.head_at = self.head_at - self._head_ns, 0
            if self.reader.holding:
                self._head_expired(since)
                return
        if 0 < self._response_deadline() <= now:
            seconds = f"{self.shared.config.response_timeout:g}"
            message = f"upstream {self.shared.upstream} sent no response within {seconds} s"
            assert self.flight is not None
            self.answer(self.flight, ProtocolError(message, 504), "TimeoutError")
            return
        if 0 < self._body_deadline() <= now:
            self._body_expired()
            return
        if 0 < self._send_deadline(self.client_full_at) <= now:
            self._send_expired("client")
            return
        if 0 < self._send_deadline(self.upstream_full_at) <= now:
            self._send_expired("server")
            return
        self._rearm()

    def _rearm(self) -> None:
        deadlines = (
            self.idle_at,
            self.head_at,
            self._response_deadline(),
            self._body_deadline(),
            self._send_deadline(self.client_full_at),
            self._send_deadline(self.upstream_full_at),
        )
        running = [deadline for deadline in deadlines if deadline]
        if running:
            self._arm(min(running))

    def _send_deadline(self, full_at: int) -> int:
        """A side's send clock, unless the viewer holds something (then nothing moves on
        purpose: not the side's fault)."""
        if not full_at or self._holding():
            return 0
        return full_at + self._send_ns

    def _response_deadline(self) -> int:
        flight = self.flight
        if flight is None or flight.waiting is None or flight.response_started:
            return 0
        if self._holding():
            return 0
        return flight.waiting + self._response_ns

    def _body_deadline(self) -> int:
        """The body clock runs while a request body is read, unless the proxy itself paused
        reading (the upstream is slow to connect or to read: not the client's fault)."""
        if not self.read_at or self.paused & (FULL | CONNECTING | HELD) or self._holding():
            return 0
        return self.read_at + self._body_ns

    def _head_expired(self, since: int) -> None:
        self.pause(STOPPED)  # whatever follows is never read as this head's end
        flight = self._unread(since, self.reader.partial)
        seconds = f"{self.shared.config.header_timeout:g}"
        message = f"the request head was not complete within {seconds} s"
        self.answer(flight, ProtocolError(message, 408), TIMEOUT)

    def _body_expired(self) -> None:
        """No byte of a request body for `body_timeout`: 408 if nothing was answered yet,
        else the connection closes; the upstream connection, holding a partial request that
        can never end, closes either way."""
        request = self.request
        assert request is not None
        self.read_at = 0
        self.pause(STOPPED)
        seconds = f"{self.shared.config.body_timeout:g}"
        message = f"the request body stalled: no bytes for {seconds} s"
        if request is self.flight and not request.response_started:
            self.answer(request, ProtocolError(message, 408), TIMEOUT)
        else:
            self._fail(request, TIMEOUT, message)
            self.close(message, reset=request.response_started)

    def _send_expired(self, side: Sender) -> None:
        """A side read nothing of what was sent to it for `send_timeout`: both connections
        are reset (a plain close would wait for ever to send what it will not read)."""
        seconds = f"{self.shared.config.send_timeout:g}"
        who = "the client" if side == "client" else f"upstream {self.shared.upstream}"
        message = f"{who} read nothing of what was sent to it for {seconds} s"
        flight = self.flight or self.request
        if self.tunnel is not None:
            self.tunnel.finished = True
            flight = self.tunnel.flight
        if flight is not None:
            self._fail(flight, SEND_TIMEOUT, message)
        self.close(message, reset=True, reset_upstream=True)

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

    def _malformed(self, error: ProtocolError) -> None:
        self.pause(STOPPED)
        request = self.request
        if error.in_head or request is None:
            # A head that could not be read (or was refused): an exchange of its own.
            self.answer(self._unread(self.clock(), self.reader.rest), error, BAD_REQUEST)
        elif request is self.flight and not request.response_started:
            # Its head went upstream but its body is broken, and nothing was answered yet:
            # the proxy answers it instead of the upstream.
            self.answer(request, error, BAD_REQUEST)
        else:
            # Its response is on the wire (or over): a 400 now would land inside it. Like
            # nginx, no answer then: the connection closes, and the upstream connection with
            # it, since the rest of this request can never follow (RFC 9112 §11.2: a request
            # cut short must not leave bytes that could be read as another).
            self._fail(request, BAD_REQUEST, str(error))
            self.close("its request was malformed", reset=request.response_started)

    def _unread(self, at: int, data: bytes) -> Flight:
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
            self._fail(flight, kind, message)
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

    def _fail(self, flight: Flight, kind: str, message: str) -> None:
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
            self._fail(flight, kind, message)
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
        self._lose_holds()
        flight = self.flight
        if flight is not None:
            started = flight.response_started
            kind = "inspector.proxy.ResponseCut" if started else "inspector.proxy.NotAnswered"
            self._fail(flight, kind, why)
            self.flight = None
        if self.upstream != NONE:
            self.upstream = NONE
            self.io.close_upstream(reset_upstream)
        self.io.close_client(reset)


class _Responses:
    """The upstream's MessageReader's sink: the `Connection`'s response side."""

    __slots__ = ("body", "end", "head", "trailers")

    def __init__(self, connection: Connection) -> None:
        self.head = connection.response_head
        self.body = connection.response_body
        self.trailers = connection.response_trailers
        self.end = connection.response_end
