"""The event vocabulary: small immutable facts about what crossed the WSGI/ASGI boundary.

Every capture point (ASGI and WSGI middleware, the proxy) speaks only in these events, and
everything downstream (bus, exchange fold, codec, exports, the UI) only consumes them. Each
event names one exchange (one request/response or one WebSocket connection) by an id unique
across processes and hosts, and carries a monotonic timestamp in nanoseconds.

Bytes stay bytes: header names and values as sent, body prefixes as captured. A body chunk
keeps at most the capture limit (`data`) and the full size of what passed (`size`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from itertools import count
from typing import Any, Literal

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


# Wall-clock time of a monotonic stamp, for display: capture stamps only the monotonic clock.
_WALL_OFFSET = time.time() - time.monotonic_ns() / 1e9


def wall_time(at_ns: int) -> float:
    return _WALL_OFFSET + at_ns / 1e9


@dataclass(frozen=True, slots=True)
class Event:
    exchange_id: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class RequestStarted(Event):
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
    snapshot: Mapping[str, JSON]
    """The scope or environ, JSON-safe (a `Snapshot`: made so when first read)."""


@dataclass(frozen=True, slots=True)
class RequestBodyChunk(Event):
    data: bytes
    size: int
    more_body: bool


@dataclass(frozen=True, slots=True)
class ResponseStarted(Event):
    status: int
    headers: Headers
    trailers: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ResponseRestarted(Event):
    """WSGI `start_response` called again with `exc_info` (PEP 3333, "The start_response()
    Callable"): it replaces the status and headers if none were sent yet."""

    status: int
    headers: Headers
    reason: str
    error: str


@dataclass(frozen=True, slots=True)
class ResponseBodyChunk(Event):
    data: bytes
    size: int
    more_body: bool


@dataclass(frozen=True, slots=True)
class ResponseBodyWritten(Event):
    """WSGI's legacy `write()` callable sent body bytes."""

    data: bytes
    size: int


@dataclass(frozen=True, slots=True)
class ResponseFileSent(Event):
    """The app handed the server a file to send itself; it is recorded, never read."""

    via: Literal["zerocopysend", "pathsend", "wsgi.file_wrapper"]
    path: str | None
    offset: int | None
    count: int | None
    more_body: bool


@dataclass(frozen=True, slots=True)
class ResponseTrailers(Event):
    headers: Headers
    more_trailers: bool


@dataclass(frozen=True, slots=True)
class MessageRelayed(Event):
    """An ASGI message of a type we do not interpret, passed through untouched."""

    direction: Literal["receive", "send"]
    type: str


@dataclass(frozen=True, slots=True)
class ClientDisconnected(Event):
    pass


@dataclass(frozen=True, slots=True)
class AppFailed(Event):
    """The app raised; the exception went on unchanged to the server."""

    type: str
    message: str
    traceback: str
    response_started: bool


@dataclass(frozen=True, slots=True)
class IterableClosed(Event):
    """The server called `close()` on a WSGI app's iterable."""


Outcome = Literal["completed", "failed", "cancelled", "disconnected"]


@dataclass(frozen=True, slots=True)
class ExchangeFinished(Event):
    """The app returned (or raised). Durations are nanoseconds from `RequestStarted`."""

    outcome: Outcome
    request_ns: int | None
    """Until the whole request body had reached the app (None if it never read it all)."""
    first_byte_ns: int | None
    """Until the response started (None if it never did)."""
    total_ns: int


@dataclass(frozen=True, slots=True)
class WebSocketHandshakeReceived(Event):
    """ASGI `websocket.connect`: the app was asked to accept or deny."""


@dataclass(frozen=True, slots=True)
class WebSocketAccepted(Event):
    subprotocol: str | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class WebSocketMessage(Event):
    sender: Sender
    text: str | None
    """The text of a text message, cut to the capture limit; None for a binary message."""
    data: bytes | None
    """The bytes of a binary message, cut to the capture limit; None for a text message."""
    size: int
    """The whole message's size in bytes (UTF-8 for text)."""


@dataclass(frozen=True, slots=True)
class WebSocketClosed(Event):
    sender: Sender
    code: int
    reason: str
    accepted: bool


@dataclass(frozen=True, slots=True)
class WebSocketDenied(Event):
    """The app answered the handshake with an HTTP response (ASGI websocket denial extension)."""

    status: int
    headers: Headers


@dataclass(frozen=True, slots=True)
class CaptureFailed(Event):
    """Capture itself went wrong; the app was not affected."""

    where: str
    error: str


@dataclass(frozen=True, slots=True)
class EventsDropped(Event):
    """A bounded queue was full: `count` events were dropped since the last report."""

    count: int
    total: int
    where: str


@dataclass(frozen=True, slots=True)
class PeerConnected(Event):
    """A process began sending events to a collector: its exchanges carry ids starting with
    `prefix`. Sessions keep it, so a reopened session still knows which worker did what."""

    prefix: str
    host: str
    pid: int
    name: str


@dataclass(frozen=True, slots=True)
class PeerDisconnected(Event):
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
        WebSocketHandshakeReceived,
        WebSocketAccepted,
        WebSocketMessage,
        WebSocketClosed,
        WebSocketDenied,
        CaptureFailed,
        EventsDropped,
        PeerConnected,
        PeerDisconnected,
    )
}


_SCALARS = frozenset({type(None), bool, int, float, str})


def json_safe(value: object, depth: int = 0) -> JSON:
    """A JSON-safe copy of a scope or environ value; anything unusual becomes its repr.

    Runs on the bus thread while the app may still mutate nested dicts, so dicts and lists
    are copied first in one step (atomic under the GIL) and then walked. Exact type checks
    come first: `isinstance` with a union costs ten times more, and this runs per key.
    """
    kind: type = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
    if kind in _SCALARS:
        return value  # type: ignore[return-value]
    if kind is bytes:
        return json_safe(value.decode("latin-1"))  # type: ignore[attr-defined]
    if depth < 4:
        if kind is dict or isinstance(value, dict):
            items = list(value.items())  # type: ignore[attr-defined]
            safe = {_key(k): json_safe(v, depth + 1) for k, v in items[:_MAX_ITEMS]}
            if len(items) > _MAX_ITEMS:  # uvicorn copies lifespan state into every scope
                safe["…"] = f"{len(items) - _MAX_ITEMS} more"
            return safe
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            values = list(value)  # type: ignore[call-overload]
            kept: list[JSON] = [json_safe(v, depth + 1) for v in values[:_MAX_ITEMS]]
            if len(values) > _MAX_ITEMS:
                kept.append(f"… {len(values) - _MAX_ITEMS} more")
            return kept
    if isinstance(value, bool | int | float | str):  # subclasses, such as enums
        return value
    return _repr(value)


_MAX_ITEMS = 100
_MAX_TEXT = 10_000
"""Snapshots stay small: at most this many items per container, characters per string."""


def _repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a hostile __repr__ must not stop capture
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    return text if len(text) <= 200 else text[:199] + "…"


def _key(key: object) -> str:
    return key if isinstance(key, str) else _repr(key)


class Snapshot(Mapping[str, JSON]):
    """A scope or environ that becomes JSON-safe (and masked) the first time it is read.

    Making a scope JSON-safe costs more than everything else capture does for a request, and
    most snapshots are never looked at, so the work waits for a reader (the codec, the UI).
    Capture hands over a dict nobody else changes at the top level: the server's scope (the
    app gets a copy) or a copy of the environ.
    """

    __slots__ = ("_mask", "_omit", "_raw", "_safe")

    def __init__(
        self,
        raw: Mapping[str, object],
        mask: Callable[[dict[str, JSON]], dict[str, JSON]] | None = None,
        omit: Callable[[str], object] | None = None,
    ) -> None:
        """`omit(key)` is true for keys left out: what the event already holds (headers)."""
        self._raw: Mapping[str, object] | None = raw
        self._mask = mask
        self._omit = omit
        self._safe: dict[str, JSON] | None = None

    def _value(self) -> dict[str, JSON]:
        safe = self._safe
        if safe is None:
            raw, omit = self._raw, self._omit
            if raw is None:  # another thread finished it between our two reads
                safe = self._safe
                assert safe is not None
                return safe
            kept = dict(raw)  # one step, atomic under the GIL, before filtering
            if omit is not None:
                kept = {k: v for k, v in kept.items() if not omit(k)}
            safe = json_safe(kept)  # type: ignore[assignment]
            assert isinstance(safe, dict)
            if self._mask is not None:
                safe = self._mask(safe)
            self._safe, self._raw = safe, None
        return safe

    def as_dict(self) -> dict[str, JSON]:
        """The JSON-safe dict itself (not a copy): for encoders, which only read it."""
        return self._value()

    def __getitem__(self, key: str) -> JSON:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __repr__(self) -> str:
        return f"Snapshot({self._value()!r})"


def _fast_frozen_init(cls: type[Event]) -> None:
    """Give a frozen event class an `__init__` that sets its slots through their descriptors.

    The `__init__` that `dataclass(frozen=True)` writes calls `object.__setattr__` for each
    field: ~150 ns a field here. Setting slots directly keeps the class just as frozen (its
    `__setattr__` still raises) at about half the cost, and events are built per message.
    """
    names = [f.name for f in fields(cls)]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not f.default_factory}
    params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _set_{n}(self, {n})\n" for n in names)
    namespace: dict[str, object] = {f"_set_{n}": getattr(cls, n).__set__ for n in names}
    namespace.update({f"_default_{n}": v for n, v in defaults.items()})
    exec(f"def __init__(self, {params}):\n{body}", namespace)
    init: Any = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010


for _cls in EVENT_TYPES.values():
    _fast_frozen_init(_cls)
