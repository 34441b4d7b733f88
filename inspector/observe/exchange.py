"""Exchanges: the fold of events into what one request/response or WebSocket connection was.

Folding is pure: `Exchange.apply(event)` changes only that exchange, and `fold(events)` groups
a stream by exchange id. No I/O, no clocks, so it is tested on plain lists of events. Bodies
grow only by what capture kept; the event timeline and WebSocket messages kept per exchange
are bounded, with counts of what was left out: messages past the count, and messages that
came without their payload (past the observer's byte budget, see
`inspector.observe.websocket`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from inspector import events as ev

if TYPE_CHECKING:
    from inspector.observe.checks.core import Finding
    from inspector.observe.pairing import Pair

DEFAULT_MAX_EVENTS = 10_000
DEFAULT_MAX_MESSAGES = 10_000


def header(headers: ev.Headers, name: bytes) -> str | None:
    """The first value of header `name` (lower case), as text; None if it is absent."""
    for n, v in headers:
        if n.lower() == name:
            return v.decode("latin-1")
    return None


@dataclass(slots=True)
class Body:
    data: bytearray = field(default_factory=bytearray)
    """The captured prefix."""
    size: int = 0
    """Everything that passed, captured or not."""
    complete: bool = False

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size

    def add(self, data: bytes, size: int) -> None:
        self.data += data
        self.size += size


@dataclass(slots=True)
class Exchange:
    id: str
    max_events: int = DEFAULT_MAX_EVENTS
    max_messages: int = DEFAULT_MAX_MESSAGES
    request: ev.RequestStarted | None = None
    request_body: Body = field(default_factory=Body)
    response: ev.ResponseStarted | None = None
    restarts: list[ev.ResponseRestarted] = field(default_factory=list)
    response_body: Body = field(default_factory=Body)
    files: list[ev.ResponseFileSent] = field(default_factory=list)
    trailers: list[ev.ResponseTrailers] = field(default_factory=list)
    error: ev.AppFailed | None = None
    capture_errors: list[ev.CaptureFailed] = field(default_factory=list)
    client_disconnected: bool = False
    iterable_closed: int = 0
    finished: ev.ExchangeFinished | None = None
    accepted: ev.WebSocketAccepted | None = None
    denied: ev.WebSocketDenied | None = None
    messages: list[ev.WebSocketMessage] = field(default_factory=list)
    messages_dropped: int = 0
    """Messages past `max_messages`: counted, not listed."""
    payloads_not_kept: int = 0
    """Messages that came without any of their payload (past the byte budget, or unreadable)."""
    payload_bytes_not_kept: int = 0
    """Those messages' sizes, summed."""
    message_counts: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    closed: ev.WebSocketClosed | None = None
    holds: dict[int, ev.TrafficHeld] = field(default_factory=dict)
    """What the relay holds for the viewer now (released ones leave), by hold number."""
    events: list[ev.Event] = field(default_factory=list)
    events_dropped: int = 0
    checked: tuple[int, tuple[Finding, ...]] | None = None
    """The spec checks' findings and how many events they saw (`inspector.observe.checks`)."""
    forwarded: ev.RequestForwarded | None = None
    """The proxy's: the upstream connection it sent the request on (see `pairing`)."""
    edits: list[ev.TrafficEdited] = field(default_factory=list)
    """The proxy's: a held request or response the viewer edited, as forwarded instead of
    what the sender sent (`request`, `response_body` and the rest keep that)."""
    pair: Pair | None = None
    """The other vantage point's record of this request, once paired (`pairing`)."""
    unpaired: str = ""
    """Why no pair was found, once the pairing gave up ("" otherwise)."""

    def apply(self, event: ev.Event) -> None:
        if len(self.events) < self.max_events:
            self.events.append(event)
        else:
            self.events_dropped += 1
        match event:
            case ev.RequestStarted():
                self.request = event
                if event.forwarded is not None:  # the proxy sent it upstream as it read it
                    self.forwarded = event.forwarded
            case ev.RequestBodyChunk(data=data, size=size, more_body=more):
                self.request_body.add(data, size)
                self.request_body.complete = not more
            case ev.ResponseStarted():
                self.response = event
            case ev.ResponseRestarted():
                self.restarts.append(event)
                if self.response_body.size == 0:  # PEP 3333: unsent headers are replaced
                    self.response = ev.ResponseStarted(
                        event.exchange_id,
                        event.at_ns,
                        event.status,
                        event.headers,
                        False,
                        event.reason,
                    )
            case ev.ResponseBodyChunk(data=data, size=size, more_body=more):
                self.response_body.add(data, size)
                self.response_body.complete = not more
            case ev.ResponseBodyWritten(data=data, size=size):
                self.response_body.add(data, size)
            case ev.ResponseFileSent():
                self.files.append(event)
            case ev.ResponseTrailers():
                self.trailers.append(event)
            case ev.AppFailed():
                self.error = event
            case ev.CaptureFailed():
                self.capture_errors.append(event)
            case ev.ClientDisconnected():
                self.client_disconnected = True
            case ev.IterableClosed():
                self.iterable_closed += 1
            case ev.ExchangeFinished():
                self.finished = event
                if self.request is not None and self.request.source == "wsgi":
                    self.response_body.complete = event.outcome == "completed"
            case ev.WebSocketAccepted():
                self.accepted = event
            case ev.WebSocketDenied():
                self.denied = event
            case ev.WebSocketMessage(sender=sender, size=size):
                self.message_counts[sender] += 1
                if size and not event.text and not event.data:
                    self.payloads_not_kept += 1
                    self.payload_bytes_not_kept += size
                if len(self.messages) < self.max_messages:
                    self.messages.append(event)
                else:
                    self.messages_dropped += 1
            case ev.WebSocketClosed():
                if self.closed is None:
                    self.closed = event
            case ev.TrafficHeld():
                self.holds[event.hold] = event
            case ev.HoldReleased():
                self.holds.pop(event.hold, None)
            case ev.RequestForwarded():
                self.forwarded = event  # a retry's, on a new connection, replaces the first
            case ev.TrafficEdited():
                self.edits.append(event)

    # -- derived views ------------------------------------------------------------------------

    def edit(self, what: str) -> ev.TrafficEdited | None:
        """The viewer's edit of this exchange's request or response, if it was edited."""
        return next((e for e in reversed(self.edits) if e.what == what), None)

    @property
    def is_websocket(self) -> bool:
        return self.request is not None and self.request.kind == "websocket"

    @property
    def status(self) -> int | None:
        if self.denied is not None:
            return self.denied.status
        if self.is_websocket and self.accepted is not None:
            return 101
        if self.response is not None:
            return self.response.status
        if self.is_websocket and self.closed is not None and not self.closed.accepted:
            return 403  # ASGI: close before accept is an HTTP 403 to the client
        return None

    @property
    def host(self) -> str:
        if self.request is None:
            return ""
        host = header(self.request.headers, b"host")
        if host is not None:
            return host
        server = self.request.server
        if server is None:
            return ""
        return server[0] if server[1] is None else f"{server[0]}:{server[1]}"

    @property
    def url(self) -> str:
        request = self.request
        if request is None:
            return ""
        path = request.raw_path.decode("latin-1") if request.raw_path else quote(request.path)
        query = "?" + request.query.decode("latin-1") if request.query else ""
        return f"{request.scheme}://{self.host}{path}{query}"

    @property
    def duration_ns(self) -> int | None:
        return None if self.finished is None else self.finished.total_ns

    @property
    def state(self) -> str:
        """One word for lists: pending, streaming, open, complete, failed, cancelled, closed."""
        if self.finished is not None:
            if self.error is not None or self.finished.outcome == "failed":
                return "failed"
            if self.is_websocket:
                return "closed"
            return self.finished.outcome
        if self.is_websocket:
            return "open" if self.accepted is not None else "pending"
        return "pending" if self.response is None else "streaming"


def fold(
    events: Iterable[ev.Event],
    exchanges: dict[str, Exchange] | None = None,
) -> dict[str, Exchange]:
    """Apply events to exchanges by id, in order; events of no exchange are skipped."""
    exchanges = {} if exchanges is None else exchanges
    for event in events:
        xid = event.exchange_id
        if not xid:
            continue
        exchange = exchanges.get(xid)
        if exchange is None:
            exchange = exchanges[xid] = Exchange(xid)
        exchange.apply(event)
    return exchanges
