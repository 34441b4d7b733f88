"""A `Connection`'s request side: the sink of the client's `MessageReader`, without I/O.

It checks each request head before any of it is forwarded (`read_request`; and `came_back`:
508 for a request that went round to this proxy again), starts its exchange (`Flight`) and
records the head and body as the client sent them. It keeps what a retry needs (`replay`,
while the request is small and its method idempotent, RFC 9110 §9.2.2) and the body a
`responses` rule may ask about, hands a request an armed rule matches to the holder
(`Connection.caught_request`, see `holder`), and starts the body and response clocks. Once a
request ends, the client's reader stops: one request at a time (pipeline depth 1).

One per `Connection`. What the other parts read stays on the `Connection` (`request`,
`flight`, `caught_request`): the clocks and the holder see them there, and the per-read path
finds the hold slot without one more hop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from inspector.events import JSON, new_exchange_id
from inspector.proxy.actions import OPEN
from inspector.proxy.clocks import Clocks
from inspector.proxy.http1 import CHUNKED, STOP, MessageReader, ProtocolError
from inspector.proxy.intercept import Caught
from inspector.proxy.request import IDEMPOTENT, RequestHead, read_request
from inspector.proxy.responses import Responses
from inspector.proxy.state import Address, Flight, Link, Shared, came_back, record_body
from inspector.records import BODY_READ, HANDSHAKE_RECEIVED, PROXY_REQUEST

REPLAY_LIMIT = 64 * 1024  # a request kept for one retry, only while it is this small

Watch = Callable[[Flight, bytes, RequestHead], "Caught | None"]


class Owner(Protocol):
    """What the request side reads and changes of its `Connection` (a Protocol:
    `connection` imports this module, never the reverse)."""

    shared: Shared
    clocks: Clocks
    client: Address | None
    link: Link | None
    snapshot: dict[str, JSON]
    reader: MessageReader  # the client's, whose sink this is
    response_side: Responses
    request: Flight | None
    flight: Flight | None
    caught_request: Caught | None
    upstream: int
    upstream_link: Link | None
    sent_upstream: int

    def forwarded(self, flight: Flight, at: int) -> None: ...


class Requests:
    __slots__ = ("clock", "clocks", "connection", "record", "shared", "watch")

    def __init__(self, connection: Owner, clock: Callable[[], int], watch: Watch) -> None:
        """`watch`: asked about each request head while an HTTP rule is armed; returns what
        to keep back, if anything (`holder.HttpHolder.watch`)."""
        self.connection = connection
        self.clock = clock
        self.watch = watch
        self.shared = connection.shared
        self.clocks = connection.clocks
        self.record = connection.shared.recorder.record

    # -- the client's MessageReader's sink -------------------------------------------------------

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        connection, shared, clocks = self.connection, self.shared, self.clocks
        clocks.head_at = 0
        if came_back(shared, connection.link):
            message = f"this request came back to this proxy: upstream {shared.upstream} leads here"
            raise ProtocolError(f"{message} (a forwarding loop)", 508)
        request = read_request(data, start, end, shared.authorities, shared.upstream)
        method = request.method
        flight = Flight(new_exchange_id(), method == b"HEAD", shared.body_limit)
        flight.close = request.close
        flight.asked = head = data[start:end]  # through the CRLF ending its last field line
        at = self.clock()
        steering = shared.steering
        armed = steering.requests is not None or steering.responses is not None
        # The common case: the upstream connection is open and nothing may hold the request,
        # so it goes now, and where it goes rides in its own record (no `ProxyForwarded`).
        forwarded = None
        if connection.upstream == OPEN and not armed and connection.caught_request is None:
            connection.sent_upstream += 1
            local, peer = connection.upstream_link or (None, None)
            forwarded = (local, peer, connection.sent_upstream)
        self.record(
            PROXY_REQUEST,
            flight.id,
            at,
            head,
            request.websocket,
            connection.client,
            shared.server,
            connection.snapshot,
            shared.redact,
            forwarded,
        )
        reusing = connection.upstream == OPEN and connection.response_side.reused
        if reusing and method in IDEMPOTENT and request.framing != CHUNKED:
            flight.replay = data[start : end + 2]  # the head as forwarded; the body follows
        connection.request = connection.flight = flight
        if armed:
            connection.caught_request = self.watch(flight, head, request)
        caught = connection.caught_request
        if connection.upstream == OPEN and caught is None and forwarded is None:
            connection.forwarded(flight, at)  # armed, not held: it goes now all the same
        if request.upgrade:
            flight.upgrade = True
            flight.websocket = request.websocket
            if request.websocket:
                self.record(HANDSHAKE_RECEIVED, flight.id, at)
            flight.request_done = True  # it has no body (see `read_request`)
            if caught is None:
                clocks.waiting(flight, at)
            else:
                caught.ended = True
                caught.total = 0
            return STOP, 0
        if request.framing == CHUNKED or request.length:
            clocks.body_started(at)
        return request.framing, request.length

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        connection = self.connection
        flight = connection.request
        assert flight is not None
        flight.request_left = record_body(
            self.record, BODY_READ, flight.id, flight.request_left, data, start, end, last
        )
        replay = flight.replay
        if replay is not None and end > start:
            small = len(replay) + end - start <= REPLAY_LIMIT
            flight.replay = replay + data[start:end] if small else None
        kept = flight.asked_body
        if kept is not None:
            limit = self.shared.body_limit
            if len(kept) < limit:
                kept += data[start : start + min(end - start, limit - len(kept))]
        caught = connection.caught_request
        if caught is not None:
            caught.body(data, start, end, last)
        if last:
            flight.request_done = True
            self.clocks.read_at = 0
            if flight is connection.flight and caught is None:
                self.clocks.waiting(flight, self.clock())

    def trailers(self, block: bytes) -> None:
        pass  # the vocabulary has no request trailers; they are forwarded all the same

    def end(self) -> None:
        connection = self.connection
        connection.request = None
        if connection.caught_request is not None:
            connection.caught_request.ended = True
        connection.reader.stop()  # one request at a time: the next waits for this response
