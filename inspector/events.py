"""The event vocabulary: small immutable facts about what crossed the WSGI/ASGI boundary.

Every capture point records what it sees (see `inspector.records`); the observer turns those
records into these events, and everything downstream (exchange fold, store, sessions, exports,
the UI) only consumes them. Each event names one exchange (one request/response or one
WebSocket connection) by an id unique across processes and hosts, and carries a monotonic
timestamp in nanoseconds.

Events are frozen `msgspec.Struct`s forming one tagged union (`Event`, tag field `"event"`),
so `msgspec` encodes and validates them in C (see `inspector.codec`). Bytes stay bytes: header
names and values as sent, body prefixes as captured. A body chunk keeps at most the capture
limit (`data`) and the full size of what passed (`size`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from itertools import count
from typing import Any, Literal

import msgspec

Headers = tuple[tuple[bytes, bytes], ...]
Source = Literal["asgi", "wsgi", "proxy"]
Sender = Literal["client", "server"]
Address = tuple[str, int | None]
JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]

now_ns = time.monotonic_ns


class _ExchangeIds:
    """Ids unique across processes and hosts: a random per-process prefix and a counter.

    A forked child (gunicorn workers, for one) draws a new prefix so ids never clash.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        # All in C: `next()` on this costs about as much as one attribute lookup.
        self.prefix = secrets.token_hex(6)
        self.ids = map((self.prefix + "-").__add__, map(str, count(1)))


_ids = _ExchangeIds()


def new_exchange_id() -> str:
    return next(_ids.ids)


def exchange_id_prefix() -> str:
    """This process's part of the exchange ids it draws (it changes in a forked child)."""
    return _ids.prefix


def wall_offset_ns() -> int:
    """Wall-clock minus monotonic time, now: capture stamps only the monotonic clock, and a
    sink tells its collector this offset so the observer can date what it records."""
    return time.time_ns() - time.monotonic_ns()


class Event(msgspec.Struct, frozen=True, tag=True, tag_field="event", gc=False):
    exchange_id: str
    at_ns: int


class RequestStarted(Event, frozen=True):
    """An HTTP request or WebSocket handshake arrived (ASGI scope, WSGI environ, or the wire)."""

    source: Source
    kind: Literal["http", "websocket"]
    method: str
    scheme: str
    http_version: str
    path: str
    raw_path: bytes | None
    query: bytes
    headers: Headers
    client: Address | None
    server: Address | None
    wall_time: float
    snapshot: dict[str, Any]
    """The scope or environ as the app received it, JSON-safe, without its headers (they are
    above); values capture could not encode are `<TypeName>`."""
    forwarded: RequestForwarded | None = None
    """The proxy's: the upstream connection it wrote the request on as it read it (the common
    case, one event less); else a `RequestForwarded` follows once the request goes."""


class RequestBodyChunk(Event, frozen=True):
    data: bytes
    size: int
    more_body: bool


class ResponseStarted(Event, frozen=True):
    status: int
    headers: Headers
    trailers: bool
    reason: str = ""


class ResponseRestarted(Event, frozen=True):
    """WSGI `start_response` called again with `exc_info` (PEP 3333, "The start_response()
    Callable"): it replaces the status and headers if none were sent yet."""

    status: int
    headers: Headers
    reason: str
    error: str


class ResponseBodyChunk(Event, frozen=True):
    data: bytes
    size: int
    more_body: bool


class ResponseBodyWritten(Event, frozen=True):
    """WSGI's legacy `write()` callable sent body bytes."""

    data: bytes
    size: int


class ResponseFileSent(Event, frozen=True):
    """The app handed the server a file to send itself; it is recorded, never read."""

    via: Literal["zerocopysend", "pathsend", "wsgi.file_wrapper"]
    path: str | None
    offset: int | None
    count: int | None
    more_body: bool


class ResponseTrailers(Event, frozen=True):
    headers: Headers
    more_trailers: bool


class MessageRelayed(Event, frozen=True):
    """A message we do not interpret (an unknown ASGI message type, a WebSocket ping or pong
    at the proxy), passed through untouched."""

    direction: Literal["receive", "send"]
    type: str


class ClientDisconnected(Event, frozen=True):
    pass


class AppFailed(Event, frozen=True):
    """The app raised; the exception went on unchanged to the server."""

    type: str
    message: str
    traceback: str
    response_started: bool


class IterableClosed(Event, frozen=True):
    """The server called `close()` on a WSGI app's iterable."""


Outcome = Literal["completed", "failed", "cancelled", "disconnected"]


class ExchangeFinished(Event, frozen=True):
    """The app returned (or raised). Durations are nanoseconds from `RequestStarted`."""

    outcome: Outcome
    request_ns: int | None
    """Until the whole request body had reached the app (None if it never read it all)."""
    first_byte_ns: int | None
    """Until the response started (None if it never did)."""
    total_ns: int
    capture_ns: int | None = None
    """What capture's own code took in the app's process for this exchange (None: the proxy,
    or a capture point that does not measure it)."""
    route: str | None = None
    """The route's path format as the framework matched it (`/items/{id}`), when it said."""


class RequestForwarded(Event, frozen=True):
    """The proxy wrote the request on its upstream connection from `local` to `peer`, the
    `sequence`-th request on that connection: the app sees `local` as its client."""

    local: Address | None
    peer: Address | None
    sequence: int


class WebSocketHandshakeReceived(Event, frozen=True):
    """ASGI `websocket.connect`: the app was asked to accept or deny."""


class WebSocketAccepted(Event, frozen=True):
    subprotocol: str | None
    headers: Headers


class WebSocketMessage(Event, frozen=True):
    sender: Sender
    text: str | None
    """The text of a text message, cut to the capture limit; None for a binary message."""
    data: bytes | None
    """The bytes of a binary message, cut to the capture limit; None for a text message."""
    size: int
    """The whole message's size in bytes (UTF-8 for text)."""
    injected: bool = False
    """A message the viewer injected through the relay (recorded as the relay wrote it)."""


class WebSocketClosed(Event, frozen=True):
    sender: Sender
    code: int
    reason: str
    accepted: bool


class WebSocketDenied(Event, frozen=True):
    """The app answered the handshake with an HTTP response (ASGI websocket denial extension)."""

    status: int
    headers: Headers


class CaptureFailed(Event, frozen=True):
    """Capture itself went wrong (or one record could not be read); the app was not affected."""

    where: str
    error: str


class TrafficHeld(Event, frozen=True):
    """The relay holds a request, a response or a WebSocket message until the viewer releases
    it (or the hold times out, or its connection dies). `head`: a request's or response's
    head as read (empty for a message); `body`: the body or payload as held (unmasked and
    inflated for a message, cut to the body limit), `size` all of it; `editable` is "" when
    the viewer may edit or drop it, else the sentence saying why not."""

    hold: int
    what: Literal["request", "response", "message"]
    sender: Sender
    opcode: int
    head: bytes
    body: bytes
    size: int
    editable: str


class HoldReleased(Event, frozen=True):
    hold: int
    action: Literal["forwarded", "edited", "dropped", "timed out", "lost"]


class TrafficEdited(Event, frozen=True):
    """The viewer edited a held request or response, and this went on instead of what the
    sender sent (`TrafficHeld` keeps that): `head` through the CRLF ending its last field
    line and `body`, as forwarded (CRLF line ends, Content-Length recomputed). Comes just
    before the `HoldReleased` saying "edited"."""

    hold: int
    what: Literal["request", "response"]
    head: bytes = b""
    body: bytes = b""


class EventsDropped(Event, frozen=True):
    """A bounded buffer was full, or a connection was lost with records in flight: `count`
    records were lost since the last report, `total` since the process started."""

    count: int
    total: int
    where: str


class PeerConnected(Event, frozen=True):
    """A process began sending events to a collector: its exchanges carry ids starting with
    `prefix`. Sessions keep it, so a reopened session still knows which worker did what."""

    prefix: str
    host: str
    pid: int
    name: str


class PeerDisconnected(Event, frozen=True):
    prefix: str
    reason: str


EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        RequestStarted,
        RequestBodyChunk,
        ResponseStarted,
        ResponseRestarted,
        ResponseBodyChunk,
        ResponseBodyWritten,
        ResponseFileSent,
        ResponseTrailers,
        MessageRelayed,
        ClientDisconnected,
        AppFailed,
        IterableClosed,
        ExchangeFinished,
        RequestForwarded,
        WebSocketHandshakeReceived,
        WebSocketAccepted,
        WebSocketMessage,
        WebSocketClosed,
        WebSocketDenied,
        CaptureFailed,
        EventsDropped,
        PeerConnected,
        PeerDisconnected,
        TrafficHeld,
        HoldReleased,
        TrafficEdited,
    )
}

AnyEvent = (
    RequestStarted
    | RequestBodyChunk
    | ResponseStarted
    | ResponseRestarted
    | ResponseBodyChunk
    | ResponseBodyWritten
    | ResponseFileSent
    | ResponseTrailers
    | MessageRelayed
    | ClientDisconnected
    | AppFailed
    | IterableClosed
    | ExchangeFinished
    | RequestForwarded
    | WebSocketHandshakeReceived
    | WebSocketAccepted
    | WebSocketMessage
    | WebSocketClosed
    | WebSocketDenied
    | CaptureFailed
    | EventsDropped
    | PeerConnected
    | PeerDisconnected
    | TrafficHeld
    | HoldReleased
    | TrafficEdited
)
"""The tagged union, for typed decoding."""
