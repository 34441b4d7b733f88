"""Records become events: the one place where what a capture point saw is interpreted.

`Builder.build(records)` is pure (no I/O, no clock but the one `Dropped` reports read): the
collector, the in-process `EventBus` and the tests all use it. One builder serves one peer
(one process's records, one wall-clock offset). It keeps a little state per open exchange
(when it started, when its request body ended and its response began, whether a WebSocket
was accepted, its compression contexts and the message bytes it kept), bounded and dropped
when the exchange finishes. WebSocket messages, the middleware's and the proxy's alike, keep
their payload only within a `MessageBudget` (see `inspector.observe.websocket`).
Which headers to mask is said by each record that carries headers, so a secret stays masked
even for an exchange whose start this builder never saw.

What servers really send is normalised here, never in the app's process: ports as strings,
lists for tuples, missing optional keys, str where bytes belong. A record that cannot be
understood becomes a `CaptureFailed` naming it; the records around it are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec

from inspector import events as ev
from inspector import records as rec
from inspector.events import Headers, now_ns
from inspector.heads import REQUEST_LINE, STATUS_LINE, parse_fields
from inspector.observe.websocket import (
    BINARY,
    TEXT,
    Inflater,
    MessageBudget,
    control_event,
    decode,
    deflate_params,
    message,
    message_payload,
    relayed_event,
    unmask,
)
from inspector.redact import REDACTED

MAX_OPEN = 100_000
"""Exchanges whose finish has not arrived yet that a builder remembers; past this the oldest
is forgotten (its `ExchangeFinished` then lacks the request and first-byte timings)."""

_MASK = REDACTED.encode()
_OUTCOMES = frozenset({"completed", "failed", "cancelled", "disconnected"})
_RELEASES = frozenset({"forwarded", "edited", "dropped", "timed out", "lost"})


class _Open:
    """What a builder remembers of an exchange until it finishes."""

    __slots__ = (
        "accepted",
        "inflaters",
        "kept",
        "request_done",
        "response_at",
        "root_path",
        "started",
    )

    def __init__(self, started: int | None) -> None:
        self.started = started
        """None for a connection whose start this builder never saw (only its messages)."""
        self.request_done: int | None = None
        self.response_at: int | None = None
        self.accepted = False
        self.inflaters: dict[str, Inflater] | None = None
        """permessage-deflate contexts by sender, when the proxy saw it agreed."""
        self.kept = 0
        """WebSocket message payload bytes kept, drawn from the builder's budget."""
        self.root_path = ""
        """ASGI: the scope's `root_path` as the app got it (a route's mount prefix follows)."""


class Builder:
    def __init__(self, wall_offset_ns: int = 0, budget: MessageBudget | None = None) -> None:
        """`wall_offset_ns`: the recording process's wall-clock minus monotonic time;
        `budget`: the WebSocket message bytes kept (by default one of its own, with the
        default bounds)."""
        self.wall_offset_ns = wall_offset_ns
        self.budget = MessageBudget() if budget is None else budget
        self.open: dict[str, _Open] = {}
        self.failures = 0
        self._handlers: dict[type[rec.Record], Callable[[Any], ev.Event]] = {
            rec.AsgiScope: self._asgi_scope,
            rec.AsgiReceived: self._asgi_received,
            rec.AsgiSent: self._asgi_sent,
            rec.WsgiEnviron: self._wsgi_environ,
            rec.WsgiStarted: self._wsgi_started,
            rec.BodyRead: self._body_read,
            rec.BodySent: self._body_sent,
            rec.BodyWritten: self._body_written,
            rec.IterableClosed: lambda r: ev.IterableClosed(r.xid, r.at),
            rec.FileWrapped: self._file_wrapped,
            rec.Finished: self._finished,
            rec.Failed: self._failed,
            rec.CaptureFailed: lambda r: ev.CaptureFailed(r.xid, r.at, r.where, r.error),
            rec.ClientGone: lambda r: ev.ClientDisconnected(r.xid, r.at),
            rec.ProxyRequest: self._proxy_request,
            rec.ProxyBadRequest: self._proxy_bad_request,
            rec.ProxyResponse: self._proxy_response,
            rec.ProxyTrailers: self._proxy_trailers,
            rec.ProxyAnswered: self._proxy_answered,
            rec.HandshakeReceived: lambda r: ev.WebSocketHandshakeReceived(r.xid, r.at),
            rec.WsFrame: self._ws_frame,
            rec.WsControl: self._ws_control,
            rec.WsClosed: self._ws_closed,
            rec.ProxyForwarded: lambda r: ev.RequestForwarded(
                r.xid, r.at, address(r.local), address(r.peer), r.sequence
            ),
            rec.Dropped: lambda r: ev.EventsDropped("", now_ns(), r.count, r.total, r.where),
            rec.Held: self._held,
            rec.Released: self._released,
            rec.Edited: self._edited,
        }

    def build(self, records: Iterable[rec.Record]) -> list[ev.Event]:
        handlers, events = self._handlers, []
        for record in records:
            try:
                events.append(handlers[type(record)](record))
            except Exception as exc:
                events.append(self.unreadable(record, exc))
        return events

    def unreadable(self, record: object, exc: BaseException) -> ev.CaptureFailed:
        """The event for a record that could not be decoded (its bytes) or understood: it
        names the record's kind and exchange as far as they can be read."""
        self.failures += 1
        if isinstance(record, bytes | msgspec.Raw):
            name, xid, at = _peek(record)
        else:
            name = type(record).__name__
            xid, at = getattr(record, "xid", ""), getattr(record, "at", None)
        return ev.CaptureFailed(
            xid, at if type(at) is int else now_ns(), "observer", f"{name}: {exc}"
        )

    # -- exchange state ----------------------------------------------------------------------

    def _start(self, xid: str, at: int) -> _Open:
        if xid in self.open:
            self._end(xid)
        return self._remember(xid, _Open(at))

    def _remember(self, xid: str, state: _Open) -> _Open:
        self.open[xid] = state
        if len(self.open) > MAX_OPEN:
            self._end(next(iter(self.open)))
        return state

    def _end(self, xid: str) -> _Open | None:
        """Forget an exchange; its WebSocket messages give their bytes back to the budget."""
        state = self.open.pop(xid, None)
        if state is not None and state.kept:
            self.budget.used -= state.kept
        return state

    def _room(self, xid: str) -> tuple[_Open, int]:
        """A WebSocket connection's state, and the payload bytes its next message may keep
        (see `MessageBudget`); the caller adds what it kept to both `kept` and `used`. Also
        for a connection whose start this builder never saw (forgotten, or sent before this
        observer started): its messages count all the same."""
        state = self.open.get(xid) or self._remember(xid, _Open(None))
        budget = self.budget
        room = budget.per_connection - state.kept
        left = budget.total - budget.used
        if left < room:
            room = left
        return state, room if room > 0 else 0

    def _responded(self, xid: str, at: int) -> None:
        state = self.open.get(xid)
        if state is not None and state.response_at is None:
            state.response_at = at

    def _request_done(self, xid: str, at: int) -> None:
        state = self.open.get(xid)
        if state is not None and state.request_done is None:
            state.request_done = at

    def _wall(self, at: int) -> float:
        return (at + self.wall_offset_ns) / 1e9

    # -- ASGI --------------------------------------------------------------------------------

    def _asgi_scope(self, r: rec.AsgiScope) -> ev.RequestStarted:
        scope = r.scope
        root_path = scope.get("root_path")
        self._start(r.xid, r.at).root_path = root_path if isinstance(root_path, str) else ""
        kind: Any = "websocket" if scope.get("type") == "websocket" else "http"
        # The snapshot is the decoded scope itself (nobody else holds it): only its own
        # bytes values (raw_path, query_string) become text; nested bytes stay bytes.
        headers = scope.pop("headers", None)
        for key, value in scope.items():
            if type(value) is bytes:
                scope[key] = value.decode("latin-1")
        raw_path, query = scope.get("raw_path"), scope.get("query_string")
        return ev.RequestStarted(
            r.xid,
            r.at,
            "asgi",
            kind,
            _text(scope.get("method"), "GET"),
            _text(scope.get("scheme"), "ws" if kind == "websocket" else "http"),
            _text(scope.get("http_version"), "1.1"),
            _text(scope.get("path"), ""),
            None if raw_path is None else _latin1(raw_path),
            b"" if query is None else _latin1(query),
            _headers(headers, r.redact),
            address(scope.get("client")),
            address(scope.get("server")),
            self._wall(r.at),
            scope,
        )

    def _asgi_received(self, r: rec.AsgiReceived) -> ev.Event:
        m, xid, at = r.message, r.xid, r.at
        kind = m.get("type")
        if kind == "http.request":
            body, more = _body(m.get("body")), bool(m.get("more_body", False))
            if not more:
                self._request_done(xid, at)
            return ev.RequestBodyChunk(xid, at, body, len(body) if r.size < 0 else r.size, more)
        if kind == "websocket.receive":
            return self._ws_message(xid, at, "client", m, r.size)
        if kind == "http.disconnect":
            return ev.ClientDisconnected(xid, at)
        if kind == "websocket.connect":
            return ev.WebSocketHandshakeReceived(xid, at)
        if kind == "websocket.disconnect":
            return ev.WebSocketClosed(
                xid, at, "client", _code(m, 1005), _reason(m), self._accepted(xid)
            )
        return ev.MessageRelayed(xid, at, "receive", str(kind))

    def _asgi_sent(self, r: rec.AsgiSent) -> ev.Event:
        m, xid, at = r.message, r.xid, r.at
        kind = m.get("type")
        if kind == "http.response.body" or kind == "websocket.http.response.body":
            body, more = _body(m.get("body")), bool(m.get("more_body", False))
            return ev.ResponseBodyChunk(xid, at, body, len(body) if r.size < 0 else r.size, more)
        if kind == "http.response.start":
            self._responded(xid, at)
            headers = _headers(m.get("headers"), r.redact)
            return ev.ResponseStarted(xid, at, _status(m), headers, bool(m.get("trailers")))
        if kind == "websocket.send":
            return self._ws_message(xid, at, "server", m, r.size)
        if kind == "websocket.accept":
            self._responded(xid, at)
            state = self.open.get(xid)
            if state is not None:
                state.accepted = True
            subprotocol = m.get("subprotocol")
            headers = _headers(m.get("headers"), r.redact)
            return ev.WebSocketAccepted(xid, at, _text(subprotocol, "") or None, headers)
        if kind == "websocket.close":
            return ev.WebSocketClosed(
                xid, at, "server", _code(m, 1000), _reason(m), self._accepted(xid)
            )
        if kind == "http.response.trailers":
            headers = _headers(m.get("headers"), r.redact)
            return ev.ResponseTrailers(xid, at, headers, bool(m.get("more_trailers", False)))
        if kind == "websocket.http.response.start":  # ASGI "WebSocket Denial Response"
            self._responded(xid, at)
            return ev.WebSocketDenied(xid, at, _status(m), _headers(m.get("headers"), r.redact))
        if kind == "http.response.zerocopysend":  # the file descriptor is never read
            offset, count = _optional_int(m.get("offset")), _optional_int(m.get("count"))
            more = bool(m.get("more_body", False))
            return ev.ResponseFileSent(xid, at, "zerocopysend", None, offset, count, more)
        if kind == "http.response.pathsend":
            path = str(m["path"])
            return ev.ResponseFileSent(xid, at, "pathsend", path, None, None, False)
        return ev.MessageRelayed(xid, at, "send", str(kind))

    def _accepted(self, xid: str) -> bool:
        state = self.open.get(xid)
        return state is not None and state.accepted

    def _ws_message(
        self, xid: str, at: int, sender: Any, m: Mapping[str, Any], size: int
    ) -> ev.WebSocketMessage:
        """An ASGI message: already cut to the capture limit (`size` is then the whole one's),
        cut again here to what the budget allows."""
        state, room = self._room(xid)
        # One of "text" and "bytes" is set; an empty text "" is a message of its own.
        text = m.get("text")
        if text is not None:
            text = str(text)
            data = text.encode("utf-8", "surrogatepass")
            kept = len(data)
            if size < 0:
                size = kept
            if kept > room:
                kept, text = room, decode(data[:room], True)
            state.kept += kept
            self.budget.used += kept
            return ev.WebSocketMessage(xid, at, sender, text, None, size)
        data = _body(m.get("bytes"))
        if size < 0:
            size = len(data)
        if len(data) > room:
            data = data[:room]
        state.kept += len(data)
        self.budget.used += len(data)
        return ev.WebSocketMessage(xid, at, sender, None, data, size)

    # -- WSGI --------------------------------------------------------------------------------

    def _wsgi_environ(self, r: rec.WsgiEnviron) -> ev.RequestStarted:
        environ, state = r.environ, self._start(r.xid, r.at)
        if environ.get("wsgi.input") is None or body_length(environ) == 0:
            state.request_done = r.at  # nothing to read: the request is all there

        # PEP 3333 "Unicode Issues": environ strings are bytes decoded as latin-1.
        def raw(key: str, default: str = "") -> bytes:
            return str(environ.get(key, default)).encode("latin-1", "replace")

        request_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.0"))
        headers, snapshot = _split_environ(environ)
        if r.redact:
            names = frozenset(r.redact)
            headers = mask(headers, names)
            snapshot = _mask_environ(snapshot, names)
        return ev.RequestStarted(
            r.xid,
            r.at,
            source="wsgi",
            kind="http",
            method=str(environ.get("REQUEST_METHOD", "GET")),
            scheme=str(environ.get("wsgi.url_scheme", "http")),
            http_version=protocol.removeprefix("HTTP/"),
            path=(raw("SCRIPT_NAME") + raw("PATH_INFO")).decode("utf-8", "replace"),
            raw_path=None if request_uri is None else raw("", request_uri).split(b"?", 1)[0],
            query=raw("QUERY_STRING"),
            headers=headers,
            client=address((environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))),
            server=address((environ.get("SERVER_NAME"), environ.get("SERVER_PORT"))),
            wall_time=self._wall(r.at),
            snapshot=snapshot,
        )

    def _wsgi_started(self, r: rec.WsgiStarted) -> ev.Event:
        code, reason = _status_line(r.status)
        headers = _headers(_wsgi_headers(r.headers), r.redact)
        state = self.open.get(r.xid)
        if state is not None and state.response_at is not None:
            return ev.ResponseRestarted(r.xid, r.at, code, headers, reason, r.error or "")
        self._responded(r.xid, r.at)
        return ev.ResponseStarted(r.xid, r.at, code, headers, False, reason)

    def _body_read(self, r: rec.BodyRead) -> ev.RequestBodyChunk:
        if not r.more:
            self._request_done(r.xid, r.at)
        return ev.RequestBodyChunk(r.xid, r.at, r.data, r.size, r.more)

    def _body_sent(self, r: rec.BodySent) -> ev.ResponseBodyChunk:
        return ev.ResponseBodyChunk(r.xid, r.at, r.data, r.size, r.more)

    def _body_written(self, r: rec.BodyWritten) -> ev.ResponseBodyWritten:
        return ev.ResponseBodyWritten(r.xid, r.at, r.data, r.size)

    def _file_wrapped(self, r: rec.FileWrapped) -> ev.ResponseFileSent:
        return ev.ResponseFileSent(r.xid, r.at, "wsgi.file_wrapper", r.path, None, None, False)

    # -- any source --------------------------------------------------------------------------

    def _finished(self, r: rec.Finished) -> ev.ExchangeFinished:
        state = self._end(r.xid)
        outcome: Any = r.outcome if r.outcome in _OUTCOMES else "failed"
        cost = r.cost if r.cost >= 0 else None
        route = _route(r.route, r.root_path, "" if state is None else state.root_path)
        if state is None or state.started is None:
            return ev.ExchangeFinished(r.xid, r.at, outcome, None, None, 0, cost, route)
        started, done, first = state.started, state.request_done, state.response_at
        return ev.ExchangeFinished(
            r.xid,
            r.at,
            outcome,
            None if done is None else done - started,
            None if first is None else first - started,
            r.at - started,
            cost,
            route,
        )

    def _failed(self, r: rec.Failed) -> ev.AppFailed:
        state = self.open.get(r.xid)
        started = state is not None and state.response_at is not None
        return ev.AppFailed(r.xid, r.at, r.type, r.message, r.traceback, started)

    # -- the proxy ---------------------------------------------------------------------------

    def _proxy_request(self, r: rec.ProxyRequest) -> ev.RequestStarted:
        state = self._start(r.xid, r.at)
        line = REQUEST_LINE.match(r.head)
        if line is None:
            raise ValueError(f"not a request head: {r.head[:60]!r}")
        fields = parse_fields(r.head[line.end() :])
        if r.websocket or _no_body(fields):
            state.request_done = r.at
        method, target, minor = line.group(1), line.group(2), line.group(3)
        return self._proxy_started(r, method, target, minor, fields, r.websocket)

    def _proxy_bad_request(self, r: rec.ProxyBadRequest) -> ev.RequestStarted:
        """A request the proxy could not read: what its first line seems to say, no headers."""
        self._start(r.xid, r.at)
        parts = r.head.split(b"\r\n", 1)[0].split(b" ")
        method = parts[0][:32] if parts[0].isascii() else b""
        target = parts[1] if len(parts) > 1 else b""
        return self._proxy_started(r, method, target, b"1", (), False)

    def _proxy_started(
        self,
        r: rec.ProxyRequest | rec.ProxyBadRequest,
        method: bytes,
        target: bytes,
        minor: bytes,
        fields: Headers,
        websocket: bool,
    ) -> ev.RequestStarted:
        # RFC 9112 §3.2: origin-form, absolute-form (the path starts after the authority) or "*".
        if b"://" in target[:10]:
            rest = target.partition(b"://")[2]
            cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=-1)
            target = b"/" if cut < 0 else rest[cut:]
        raw_path, _, query = target.partition(b"?")
        return ev.RequestStarted(
            r.xid,
            r.at,
            source="proxy",
            kind="websocket" if websocket else "http",
            method=method.decode("latin-1"),
            scheme="ws" if websocket else "http",
            http_version="1." + minor.decode("latin-1"),
            path=unquote_to_bytes(raw_path).decode("utf-8", "replace"),
            raw_path=raw_path,
            query=query,
            headers=_headers(fields, getattr(r, "redact", None)),
            client=address(r.client),
            server=address(r.server),
            wall_time=self._wall(r.at),
            snapshot=r.snapshot,
            forwarded=_forwarded(r),
        )

    def _proxy_response(self, r: rec.ProxyResponse) -> ev.Event:
        line = STATUS_LINE.match(r.head)
        if line is None:
            raise ValueError(f"not a status line: {r.head[:60]!r}")
        status = int(line.group(2))
        headers = _headers(parse_fields(r.head[line.end() :]), r.redact)
        self._responded(r.xid, r.at)
        if r.websocket:
            if status != 101:
                return ev.WebSocketDenied(r.xid, r.at, status, headers)
            state = self.open.get(r.xid)
            if state is not None:
                state.accepted = True
                # RFC 7692 §7.1: each direction's compression context, as the 101 agreed.
                extensions = [v for n, v in headers if n.lower() == b"sec-websocket-extensions"]
                deflate = deflate_params(extensions)
                if deflate is not None:
                    client, server = deflate
                    state.inflaters = {"client": Inflater(client), "server": Inflater(server)}
            protocol = next((v for n, v in headers if n.lower() == b"sec-websocket-protocol"), None)
            subprotocol = None if protocol is None else protocol.decode("latin-1")
            return ev.WebSocketAccepted(r.xid, r.at, subprotocol, headers)
        # RFC 9110 §6.6.2: a Trailer field announces trailer fields after the content.
        trailers = any(name.lower() == b"trailer" for name, _ in headers)
        reason = (line.group(3) or b"").decode("latin-1")
        return ev.ResponseStarted(r.xid, r.at, status, headers, trailers, reason)

    def _proxy_trailers(self, r: rec.ProxyTrailers) -> ev.ResponseTrailers:
        return ev.ResponseTrailers(r.xid, r.at, _headers(parse_fields(r.block), r.redact), False)

    def _proxy_answered(self, r: rec.ProxyAnswered) -> ev.ResponseStarted:
        self._responded(r.xid, r.at)
        reason = HTTPStatus(r.status).phrase
        return ev.ResponseStarted(r.xid, r.at, r.status, r.headers, False, reason)

    def _ws_frame(self, r: rec.WsFrame) -> ev.Event:
        sender: Any = "client" if r.sender == "client" else "server"
        if r.opcode != TEXT and r.opcode != BINARY:  # RFC 6455 §5.2: reserved opcodes
            return relayed_event(r.xid, r.at, sender, r.opcode)
        state, room = self._room(r.xid)
        keep = r.limit if r.limit < room else room
        if not r.compressed:
            kept, size = unmask(r.pieces, keep), r.size
        elif state.inflaters is None:  # compressed as agreed in a 101 this builder never saw
            kept, size = b"", r.size
        else:
            inflater = state.inflaters[sender]
            kept, size = message_payload(r.pieces, r.size, inflater, keep, keep + r.limit)
        state.kept += len(kept)
        self.budget.used += len(kept)
        event = message(r.xid, r.at, sender, r.opcode == TEXT, kept, size)
        if r.injected:  # written by the relay itself: never compressed, never in a context
            event = msgspec.structs.replace(event, injected=True)
        return event

    def _held(self, r: rec.Held) -> ev.TrafficHeld:
        what: Any = r.what if r.what in ("request", "response") else "message"
        sender: Any = "client" if r.sender == "client" else "server"
        return ev.TrafficHeld(
            r.xid, r.at, r.hold, what, sender, r.opcode, r.head, r.body, r.size, r.editable
        )

    def _released(self, r: rec.Released) -> ev.HoldReleased:
        action: Any = r.action if r.action in _RELEASES else "lost"
        return ev.HoldReleased(r.xid, r.at, r.hold, action)

    def _edited(self, r: rec.Edited) -> ev.TrafficEdited:
        what: Any = "response" if r.what == "response" else "request"
        return ev.TrafficEdited(r.xid, r.at, r.hold, what, r.head, r.body)

    def _ws_control(self, r: rec.WsControl) -> ev.Event:
        sender: Any = "client" if r.sender == "client" else "server"
        return control_event(r.xid, r.at, sender, r.opcode, r.pieces)

    def _ws_closed(self, r: rec.WsClosed) -> ev.WebSocketClosed:
        sender: Any = "client" if r.sender == "client" else "server"
        return ev.WebSocketClosed(r.xid, r.at, sender, r.code, r.reason, r.accepted)


# -- normalising what servers send -------------------------------------------------------------


def _route(path: Any, root_path: Any, first_root_path: str) -> str | None:
    """The matched route's template from the app's root: a route inside a mount has the
    mount's prefix in `root_path` (what was added to it since the request came in), while a
    mount that is itself the route (`/static/{path}`) already starts with it."""
    if not isinstance(path, str) or not path:
        return None
    prefix = ""
    if isinstance(root_path, str) and root_path.startswith(first_root_path):
        prefix = root_path[len(first_root_path) :]
    return path if path.startswith(prefix) else prefix + path


def _headers(raw: Any, redact: list[bytes] | None) -> Headers:
    headers = header_pairs(raw)
    return mask(headers, frozenset(redact)) if redact else headers


def header_pairs(raw: Any) -> Headers:
    """ASGI headers (2-item pairs of bytes) as a tuple of tuples; str names or values (which
    some servers and apps send) become latin-1 bytes, anything else is a mistake."""
    if not raw:
        return ()
    for name, value in raw:
        if type(name) is not bytes or type(value) is not bytes:
            return tuple((_latin1(name), _latin1(value)) for name, value in raw)
    return tuple(map(tuple, raw))


def _latin1(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("latin-1", "replace")
    raise TypeError(f"a header name or value must be bytes, not {type(value).__name__}")


def _peek(data: bytes | msgspec.Raw) -> tuple[str, str, Any]:
    """What a record that does not decode still says of itself: kind, exchange id, time."""
    try:
        fields = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        fields = None
    if type(fields) is not list or not fields:
        return "a record", "", None
    tag, xid, at = (*fields, None, None)[:3]
    name = rec.TAG_NAMES.get(tag, f"record {tag}") if type(tag) is int else "a record"
    return (name, xid, at) if type(xid) is str else (name, "", None)


def mask(headers: Headers, names: frozenset[bytes]) -> Headers:
    return tuple((n, _MASK if n.lower() in names else v) for n, v in headers)


def _mask_environ(snapshot: dict[str, Any], names: frozenset[bytes]) -> dict[str, Any]:
    """A scope or environ snapshot with the WSGI `HTTP_*` keys of those headers masked."""
    keys = {"HTTP_" + name.decode("latin-1").upper().replace("-", "_") for name in names}
    return {k: REDACTED if k in keys else v for k, v in snapshot.items()}


def address(value: Any) -> ev.Address | None:
    """A `(host, port)` from a 2-item list or tuple whose port may be an int, a numeric string
    (granian sends those) or missing; None when there is no host."""
    if not isinstance(value, list | tuple) or len(value) != 2 or value[0] is None:
        return None
    host, port = value
    if type(port) is not int:
        port = int(port) if isinstance(port, str) and port.isdigit() else None
    return str(host), port if port is None or 0 <= port < 65536 else None


def json_safe(value: Any) -> Any:
    """A decoded scope value as JSON can hold it: bytes become latin-1 text (lossless)."""
    kind = type(value)
    if kind is bytes:
        return value.decode("latin-1")
    if kind is dict:
        return {str(k): json_safe(v) for k, v in value.items()}
    if kind is list:
        return [json_safe(v) for v in value]
    return value


def body_length(environ: Mapping[str, Any]) -> int | None:
    """0 when no body can follow, None when its length is unknown (chunked): as in RFC 9112
    §6.3, a request without Content-Length or chunked Transfer-Encoding has no body."""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return None
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return None


def _no_body(fields: Headers) -> bool:
    for name, value in fields:
        lower = name.lower()
        if lower == b"transfer-encoding" or (lower == b"content-length" and value.strip(b" 0")):
            return False
    return True


def _split_environ(environ: dict[str, Any]) -> tuple[Headers, dict[str, Any]]:
    """PEP 3333 keeps request headers as HTTP_* keys, CONTENT_TYPE and CONTENT_LENGTH: they
    become the event's headers, in order; the rest is the snapshot."""
    headers, snapshot = [], {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:  # empty means "not sent"
            name = key
        else:
            snapshot[key] = json_safe(value)
            continue
        # PEP 3333 says latin-1; an outer middleware may have put other text in.
        text = str(value).encode("latin-1", "replace")
        headers.append((name.replace("_", "-").lower().encode("latin-1", "replace"), text))
    return tuple(headers), snapshot


def _wsgi_headers(headers: Any) -> list[tuple[Any, Any]]:
    return [(name, value) for name, value in headers]


def _status_line(status: Any) -> tuple[int, str]:
    code, _, reason = str(status).partition(" ")
    return int(code), reason


def _status(message: Mapping[str, Any]) -> int:
    status = message["status"]
    return status if type(status) is int else int(status)


def _text(value: Any, default: str) -> str:
    if type(value) is str:
        return value
    if type(value) is bytes:
        return value.decode("latin-1")
    return default if value is None else str(value)


def _optional_bytes(value: Any) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _optional_int(value: Any) -> int | None:
    return value if type(value) is int else None


def _body(value: Any) -> bytes:
    if value is None:
        return b""
    if type(value) is not bytes:
        raise TypeError(f"a body must be bytes, not {type(value).__name__}")
    return value


def _code(message: Mapping[str, Any], default: int) -> int:
    code = message.get("code")
    return code if type(code) is int else default


def _reason(message: Mapping[str, Any]) -> str:
    reason = message.get("reason")
    return reason if type(reason) is str else ""


def _forwarded(r: rec.ProxyRequest | rec.ProxyBadRequest) -> ev.RequestForwarded | None:
    """Where the proxy wrote the request as it read it, if its record says (see `records`)."""
    sent = getattr(r, "forwarded", None)
    if not sent:
        return None
    local, peer, sequence = sent
    return ev.RequestForwarded(r.xid, r.at, address(local), address(peer), sequence)
