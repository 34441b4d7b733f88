"""The record format: what a capture point hands over, encoded in C at the moment it records.

The hot process (an app worker, the proxy's relay) never builds events. A capture point calls
`record(TAG, exchange_id, at_ns, *data)`: the fields are msgpack-encoded by msgspec right
then (so nothing the app changes later leaks in, and nothing is deep-copied in Python) and
appended to a bounded `RecordBuffer`. Data is what crossed the boundary, as it was: the ASGI
scope or message dict, the WSGI environ, the bytes of a request head the proxy read. A value
msgpack cannot carry becomes `"<TypeName>"`; its `repr` is never called.

On the observer's side each record decodes, one at a time and validated by msgspec, into one
of the array-like structs below (the tag is the first element), and `inspector.observe.build`
turns it into events. A record that does not decode costs only itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from inspector.events import Headers
from inspector.events import now_ns as _now


class Recorder(Protocol):
    """What capture points record into: a `Sink` (to a viewer) or an in-process `EventBus`."""

    def record(self, *fields: Any) -> None: ...

    def failed(self, exchange_id: str, where: str, exc: BaseException) -> None: ...


class Record(msgspec.Struct, array_like=True, frozen=True, gc=False, tag_field="record"):
    pass


class ExchangeRecord(Record, frozen=True):
    xid: str
    at: int


# -- ASGI -------------------------------------------------------------------------------------
class AsgiScope(ExchangeRecord, frozen=True, tag=1):
    scope: dict[str, Any]
    redact: list[bytes] | None = None


class AsgiReceived(ExchangeRecord, frozen=True, tag=2):
    message: dict[str, Any]
    size: int = -1
    """The whole body or message size when capture kept only a prefix of it, else -1."""


class AsgiSent(ExchangeRecord, frozen=True, tag=3):
    message: dict[str, Any]
    size: int = -1
    redact: list[bytes] | None = None
    """Header names to mask, on every record that may carry headers: the observer needs no
    memory of the exchange to keep a secret (it may have restarted since the request)."""


# -- WSGI -------------------------------------------------------------------------------------
class WsgiEnviron(ExchangeRecord, frozen=True, tag=4):
    environ: dict[str, Any]
    redact: list[bytes] | None = None


class WsgiStarted(ExchangeRecord, frozen=True, tag=5):
    """`start_response(status, headers)` as the app called it; `error` is set for a re-call
    with `exc_info`. Status and headers are whatever the app passed."""

    status: Any
    headers: Any
    error: str | None = None
    redact: list[bytes] | None = None


class BodyRead(ExchangeRecord, frozen=True, tag=6):
    data: bytes
    size: int
    more: bool


class BodySent(ExchangeRecord, frozen=True, tag=7):
    data: bytes
    size: int
    more: bool


class BodyWritten(ExchangeRecord, frozen=True, tag=8):
    data: bytes
    size: int


class IterableClosed(ExchangeRecord, frozen=True, tag=9):
    pass


class FileWrapped(ExchangeRecord, frozen=True, tag=10):
    path: str | None


# -- any capture point ------------------------------------------------------------------------
class Finished(ExchangeRecord, frozen=True, tag=11):
    """The app returned or raised (or the proxy ended the exchange). The observer derives
    the timings from the exchange's earlier records."""

    outcome: str
    cost: int = -1
    """Nanoseconds the capture point's own code took for this exchange (-1: not measured)."""
    route: Any = None
    """ASGI: the path format of the route the framework matched (Starlette and FastAPI leave
    the route in the scope the app received), read when the app returned; None if none."""
    root_path: Any = None
    """ASGI: the scope's `root_path` then (a mount adds its prefix to it), with `route`."""


class Failed(ExchangeRecord, frozen=True, tag=12):
    type: str
    message: str
    traceback: str


class CaptureFailed(ExchangeRecord, frozen=True, tag=13):
    where: str
    error: str


class ClientGone(ExchangeRecord, frozen=True, tag=14):
    pass


# -- the proxy --------------------------------------------------------------------------------
class ProxyRequest(ExchangeRecord, frozen=True, tag=15):
    head: bytes
    websocket: bool
    client: Any
    server: Any
    snapshot: dict[str, Any]
    redact: list[bytes] | None = None
    forwarded: Any = None
    """(local, peer, sequence) when the request went upstream as it was read (what
    `ProxyForwarded` says otherwise): one record less per request on a kept-alive connection."""


class ProxyBadRequest(ExchangeRecord, frozen=True, tag=16):
    head: bytes
    client: Any
    server: Any
    snapshot: dict[str, Any]


class ProxyResponse(ExchangeRecord, frozen=True, tag=17):
    head: bytes
    websocket: bool
    redact: list[bytes] | None = None


class ProxyTrailers(ExchangeRecord, frozen=True, tag=18):
    block: bytes
    redact: list[bytes] | None = None


class ProxyAnswered(ExchangeRecord, frozen=True, tag=19):
    status: int
    headers: Headers


class HandshakeReceived(ExchangeRecord, frozen=True, tag=20):
    pass


Pieces = list[tuple[bytes, bytes | None, int]]
"""A WebSocket payload as the proxy read it: (bytes, masking key or None, offset in frame)."""


class WsFrame(ExchangeRecord, frozen=True, tag=21):
    """A whole WebSocket message (or a frame with a reserved opcode) one side sent: its
    payload as read, still masked and compressed, cut to `limit`; `size` is all of it."""

    sender: str
    opcode: int
    pieces: Pieces
    size: int
    compressed: bool
    limit: int
    injected: bool = False
    """The viewer injected it: the relay wrote it (unmasked, uncompressed pieces)."""


class WsControl(ExchangeRecord, frozen=True, tag=22):
    """A close, ping or pong frame one side sent, its payload as read."""

    sender: str
    opcode: int
    pieces: Pieces


class WsClosed(ExchangeRecord, frozen=True, tag=23):
    """A WebSocket connection ended without a close frame from `sender`."""

    sender: str
    code: int
    reason: str
    accepted: bool


class ProxyForwarded(ExchangeRecord, frozen=True, tag=27):
    """The request went upstream on the connection from `local` to `peer`, the `sequence`-th
    on it: what pairs it with the app's record of it (the app's client address is `local`).
    (Tags 25 and 26 are the holds' records of issue #13.)"""

    local: Any
    peer: Any
    sequence: int


# -- the buffer itself ------------------------------------------------------------------------
class Dropped(Record, frozen=True, tag=24):
    count: int
    total: int
    where: str


# -- acting on traffic (the relay's control socket) -------------------------------------------
class Held(ExchangeRecord, frozen=True, tag=25):
    """The relay holds a request, response or message: see `events.TrafficHeld`."""

    hold: int
    what: str
    sender: str
    opcode: int
    head: bytes
    body: bytes
    size: int
    editable: str


class Released(ExchangeRecord, frozen=True, tag=26):
    hold: int
    action: str


class Edited(ExchangeRecord, frozen=True, tag=28):
    """The viewer edited a held request or response: what was forwarded instead (see
    `events.TrafficEdited`). Recorded just before its `Released`."""

    hold: int
    what: str
    head: bytes
    body: bytes


AnyRecord = (
    AsgiScope
    | AsgiReceived
    | AsgiSent
    | WsgiEnviron
    | WsgiStarted
    | BodyRead
    | BodySent
    | BodyWritten
    | IterableClosed
    | FileWrapped
    | Finished
    | Failed
    | CaptureFailed
    | ClientGone
    | ProxyRequest
    | ProxyBadRequest
    | ProxyResponse
    | ProxyTrailers
    | ProxyAnswered
    | HandshakeReceived
    | WsFrame
    | WsControl
    | WsClosed
    | Dropped
    | Held
    | Released
    | ProxyForwarded
    | Edited
)


def _tag(cls: type[Record]) -> int:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, int)
    return tag


# The tags capture points put first in `record(...)`: a tuple encodes exactly as the struct.
ASGI_SCOPE, ASGI_RECEIVED, ASGI_SENT = _tag(AsgiScope), _tag(AsgiReceived), _tag(AsgiSent)
WSGI_ENVIRON, WSGI_STARTED = _tag(WsgiEnviron), _tag(WsgiStarted)
BODY_READ, BODY_SENT, BODY_WRITTEN = _tag(BodyRead), _tag(BodySent), _tag(BodyWritten)
ITERABLE_CLOSED, FILE_WRAPPED = _tag(IterableClosed), _tag(FileWrapped)
FINISHED, FAILED, CAPTURE_FAILED = _tag(Finished), _tag(Failed), _tag(CaptureFailed)
CLIENT_GONE, HANDSHAKE_RECEIVED = _tag(ClientGone), _tag(HandshakeReceived)
PROXY_REQUEST, PROXY_BAD_REQUEST = _tag(ProxyRequest), _tag(ProxyBadRequest)
PROXY_RESPONSE, PROXY_TRAILERS = _tag(ProxyResponse), _tag(ProxyTrailers)
PROXY_ANSWERED, WS_FRAME, WS_CONTROL = _tag(ProxyAnswered), _tag(WsFrame), _tag(WsControl)
WS_CLOSED, DROPPED = _tag(WsClosed), _tag(Dropped)
HELD, RELEASED, EDITED = _tag(Held), _tag(Released), _tag(Edited)
PROXY_FORWARDED = _tag(ProxyForwarded)
TAG_NAMES = {_tag(cls): cls.__name__ for cls in AnyRecord.__args__}


def _stand_in(value: Any) -> Any:
    """What msgpack carries for a value it cannot: a subclass of a basic type as that type,
    anything else as `"<TypeName>"` (never its repr: an app's object may do anything there)."""
    kind = type(value)
    name = _NAMES.get(kind)  # a WSGI environ holds several objects on every request
    if name is not None:
        return name
    for base in _BASES:
        if isinstance(value, base):
            return base(value)
    name = f"<{kind.__qualname__}>"
    if len(_NAMES) < 1024:
        _NAMES[kind] = name
    return name


_BASES: tuple[type, ...] = (str, int, float, bytes, dict, list, tuple)
_NAMES: dict[type, str] = {}


_encode = msgspec.msgpack.Encoder(enc_hook=_stand_in).encode
decode_record = msgspec.msgpack.Decoder(AnyRecord).decode
decode_batch = msgspec.msgpack.Decoder(list[AnyRecord]).decode
split_batch = msgspec.msgpack.Decoder(list[msgspec.Raw]).decode


def encode(fields: tuple[Any, ...]) -> bytes:
    """A record's fields encoded, with a stand-in for any value that cannot be encoded as it
    is (a cyclic dict, an int past 64 bits) rather than no record at all."""
    try:
        return _encode(fields)
    except Exception:
        return _encode(tuple(_safe(field) for field in fields))


def _safe(value: Any) -> Any:
    """`value`, or for a dict (a scope, environ or message) the same keys with every value
    that fails to encode replaced by its type's name."""
    try:
        if isinstance(value, dict):  # dict.items: as msgspec reads it, whatever a subclass says
            return {_key(key): _safe_item(item) for key, item in dict.items(value)}
    except Exception:  # isinstance() raising on an app's object, a dict changing: all goes
        pass
    return _safe_item(value)


def _safe_item(value: Any) -> Any:
    try:
        _encode(value)
    except Exception:
        return f"<{type(value).__qualname__}>"
    return value


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if type(key) in _PLAIN_KEYS:  # exact types: str() runs no code of the app's
        return str(key)
    return f"<{type(key).__qualname__}>"


_PLAIN_KEYS = (int, float, bool, type(None))


_SHRUNK_ITEMS, _SHRUNK_BYTES = 100, 10_000


def _shrunk(value: Any, depth: int = 0) -> Any:
    """`value` with at most `_SHRUNK_ITEMS` items per container and `_SHRUNK_BYTES` per string
    or bytes, four levels deep: what an oversized record keeps."""
    kind = type(value)
    if kind is str or kind is bytes:
        return value[:_SHRUNK_BYTES]
    if depth >= 4:
        return value if kind in (int, float, bool, type(None)) else f"<{kind.__qualname__}>"
    if kind is dict:
        items = list(value.items())[:_SHRUNK_ITEMS]
        return {key: _shrunk(item, depth + 1) for key, item in items}
    if kind is list or kind is tuple:
        return [_shrunk(item, depth + 1) for item in value[:_SHRUNK_ITEMS]]
    return value


def array_header(count: int) -> bytes:
    """The msgpack header of an array of `count` items: a batch is this plus its records."""
    if count < 16:
        return bytes((0x90 | count,))
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


DEFAULT_BODY_LIMIT = 1 << 20
"""Body bytes a capture point (middleware or proxy) records per direction per exchange, and
per WebSocket message; the rest is counted, not kept."""
DEFAULT_CAPACITY = 50_000
DEFAULT_MAX_BYTES = 32 << 20
MAX_RECORD = 16 << 20
"""A record larger than this (a huge header list, say) is replaced by a `CaptureFailed`."""


class RecordBuffer:
    """The bounded buffer between capture and the thread that ships or builds records.

    `record()` is the whole of capture's cost per fact: one C encode, one append, two
    compares. It never blocks and never raises. Past `capacity` records or `max_bytes`
    the oldest go, counted exactly in `dropped`; `take()` hands the rest to one consumer.
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if capacity < 1 or max_bytes < 1:
            raise ValueError("a record buffer holds at least one record and one byte")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._queue: deque[bytes] = deque()
        self._used = [0]
        """Bytes queued. `record()` adds without the lock (a lost update under threads is
        possible, so the count restarts from zero whenever the buffer empties)."""
        self.reset()
        self.record = self._recorder()

    def reset(self) -> None:
        """Empty, with fresh counts and lock (also in a forked child: nothing is inherited)."""
        self._queue.clear()
        self._used[0] = 0
        self._lock = threading.Lock()
        self.dropped = 0
        self.failures = 0
        self.taken = 0
        self.last_error: str | None = None

    def _recorder(self) -> Callable[..., None]:
        """`record(*fields)`: a closure over locals, as attribute lookups would cost a third
        of it, and capture calls it for every message."""
        queue, used, append, encode = self._queue, self._used, self._queue.append, _encode
        capacity, max_bytes, max_record = self.capacity, self.max_bytes, MAX_RECORD
        unencodable, oversized, shed = self._unencodable, self._oversized, self._shed

        def record(*fields: Any) -> None:
            try:
                data = encode(fields)
            except Exception:
                data = unencodable(fields)
            size = len(data)
            if size > max_record:
                data = oversized(fields, size)
                size = len(data)
            append(data)
            used[0] += size
            if used[0] > max_bytes or len(queue) > capacity:
                shed()

        return record

    def failed(self, exchange_id: str, where: str, exc: BaseException) -> None:
        """Capture's own code raised (never the app's): counted, recorded, swallowed."""
        self.failures += 1
        self.last_error = f"{where}: {exc!r}"
        self.record(CAPTURE_FAILED, exchange_id, _now(), where, self.last_error)

    def _unencodable(self, fields: tuple[Any, ...]) -> bytes:
        self.failures += 1
        name = TAG_NAMES.get(fields[0], str(fields[0])) if fields else "?"
        error = "a value could not be encoded and became its type's name"
        self.last_error = f"{name}: {error}"
        data = encode(fields)
        xid = fields[1] if len(fields) > 1 and isinstance(fields[1], str) else ""
        failure = _encode((CAPTURE_FAILED, xid, _now(), name, error))
        self._queue.append(failure)
        self._used[0] += len(failure)
        return data

    def _oversized(self, fields: tuple[Any, ...], size: int) -> bytes:
        """A record over `MAX_RECORD` (a huge header list, a scope holding a big structure)
        is recorded cut down (at most 100 items per container and 10,000 bytes per value),
        with a `CaptureFailed` saying so; if even that is too big, only the `CaptureFailed`."""
        self.failures += 1
        name = TAG_NAMES.get(fields[0], str(fields[0])) if fields else "?"
        xid = fields[1] if len(fields) > 1 and isinstance(fields[1], str) else ""
        data = encode(tuple(_shrunk(field) for field in fields))
        if len(data) <= MAX_RECORD:
            error = f"a record of {size} bytes is over the {MAX_RECORD} limit: cut to fit"
            cut = _encode((CAPTURE_FAILED, xid, _now(), name, error))
            self._queue.append(cut)
            self._used[0] += len(cut)
        else:
            error = f"a record of {size} bytes is over the {MAX_RECORD} limit: left out"
            data = _encode((CAPTURE_FAILED, xid, _now(), name, error))
        self.last_error = f"{name}: {error}"
        return data

    def _shed(self) -> None:
        with self._lock:
            queue = self._queue
            used = self._used
            while queue and (len(queue) > self.capacity or used[0] > self.max_bytes):
                try:
                    used[0] -= len(queue.popleft())
                except IndexError:  # the consumer emptied it meanwhile
                    break
                self.dropped += 1

    def take(self, max_bytes: int = 1 << 20) -> list[bytes]:
        """The oldest records, up to about `max_bytes` (at least one), for the one consumer."""
        with self._lock:
            queue, used = self._queue, self._used
            popleft = queue.popleft
            if used[0] <= max_bytes:  # the usual case: all of it, at C speed
                taken = [popleft() for _ in range(len(queue))]
                size = sum(map(len, taken))
            else:
                taken, size = [], 0
                while queue and size < max_bytes:
                    data = popleft()
                    size += len(data)
                    taken.append(data)
            used[0] = used[0] - size if queue else 0
            self.taken += len(taken)
        return taken

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def bytes(self) -> int:
        return self._used[0]
