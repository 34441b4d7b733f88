"""`ASGIInspectorMiddleware`: records every ASGI message of HTTP and WebSocket exchanges.

Pure ASGI: `receive` and `send` are wrapped by closures that record what passes and hand the
very same message on, so streaming, `more_body`, trailers, extensions and unknown message
types reach the server and the app untouched. Lifespan and unknown scope types are passed
through without a look. Per-request state lives in `__call__`; the object holds options only.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from inspector.bus import EventBus, RecordFailed
from inspector.capture.options import (
    DEFAULT_BODY_LIMIT,
    CaptureOptions,
    app_failed,
    cut,
    headers_from,
    snapshot,
)
from inspector.events import (
    ClientDisconnected,
    Event,
    ExchangeFinished,
    MessageRelayed,
    Outcome,
    RequestBodyChunk,
    RequestStarted,
    ResponseBodyChunk,
    ResponseFileSent,
    ResponseStarted,
    ResponseTrailers,
    WebSocketAccepted,
    WebSocketClosed,
    WebSocketDenied,
    WebSocketHandshakeReceived,
    WebSocketMessage,
    new_exchange_id,
    now_ns,
    wall_time,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIInspectorMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        bus: EventBus | str | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        redact: bool | Iterable[str] = False,
        enabled: bool = True,
    ) -> None:
        self.app: ASGIApp = _as_asgi3(app)
        self.options = CaptureOptions(bus, body_limit, redact, enabled)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and self.options.enabled:
            await self._http(scope, receive, send)
        elif kind == "websocket" and self.options.enabled:
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = self.options
        bus = options.bus
        record = bus.record
        xid = new_exchange_id()
        started = now_ns()
        record(_request_started, xid, started, scope, options.redact)
        # Only the bus thread reads or changes this; see _State.
        state = [xid, started, options.body_limit, options.body_limit, None, None, options.redact]

        async def inspect_receive() -> Message:
            message = await receive()
            try:
                record(_http_received, state, now_ns(), message.copy())  # type: ignore[attr-defined]
            except Exception as exc:
                bus.capture_failed(xid, "receive", exc)
            return message

        async def inspect_send(message: Message) -> None:
            try:
                record(_http_sent, state, now_ns(), _frozen(message))
            except Exception as exc:
                bus.capture_failed(xid, "send", exc)
            await send(message)

        outcome: Outcome = "failed"
        try:
            await self.app(_with_id(scope, xid), inspect_receive, inspect_send)
            outcome = "completed"
        except Exception as exc:
            record(_app_failed, state, now_ns(), exc)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            record(_finished, state, now_ns(), outcome)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = self.options
        bus = options.bus
        record = bus.record
        xid = new_exchange_id()
        started = now_ns()
        record(_request_started, xid, started, scope, options.redact)
        # The request body slot is unused; "response" is a denial's body. See _State.
        state = [xid, started, options.body_limit, options.body_limit, None, None, options.redact]

        async def inspect_receive() -> Message:
            message = await receive()
            try:
                record(_ws_received, state, now_ns(), message.copy())  # type: ignore[attr-defined]
            except Exception as exc:
                bus.capture_failed(xid, "receive", exc)
            return message

        async def inspect_send(message: Message) -> None:
            try:
                record(_ws_sent, state, now_ns(), _frozen(message))
            except Exception as exc:
                bus.capture_failed(xid, "send", exc)
            await send(message)

        outcome: Outcome = "failed"
        try:
            await self.app(_with_id(scope, xid), inspect_receive, inspect_send)
            outcome = "completed"
        except Exception as exc:
            record(_app_failed, state, now_ns(), exc)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            record(_finished, state, now_ns(), outcome)


def _with_id(scope: Scope, exchange_id: str) -> Scope:
    # A shallow copy: the app sees our key, the server's scope is left alone, and
    # scope["state"] stays the very same object (lifespan state is shared by reference).
    scope = scope.copy()  # type: ignore[attr-defined]
    scope["inspector.exchange_id"] = exchange_id
    return scope


def _frozen(message: Message) -> Message:
    """A copy of a sent message that the app can no longer change under the bus thread: the
    dict, a bytearray or memoryview body (as bytes), and the headers list (as a tuple)."""
    copy: Message = message.copy()  # type: ignore[attr-defined]
    body = copy.get("body")
    if body is not None and type(body) is not bytes:
        copy["body"] = bytes(body)
    headers = copy.get("headers")
    if headers is not None:
        copy["headers"] = tuple(headers)
    return copy


def _bytes(body: Any) -> bytes:
    # The spec says bytes; a bytearray or memoryview could change after send, so copy it.
    return body if type(body) is bytes else bytes(body)


def _as_asgi3(app: Any) -> ASGIApp:
    """Accept ASGI3 apps as they are and wrap ASGI2 ones (`app(scope)` then `(receive, send)`),
    telling them apart as uvicorn does."""
    if inspect.isclass(app):
        asgi3 = False
    elif inspect.iscoroutinefunction(app):
        asgi3 = True
    else:
        asgi3 = inspect.iscoroutinefunction(getattr(app, "__call__", None))  # noqa: B004
    if asgi3:
        return app  # type: ignore[no-any-return]

    async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope)(receive, send)

    return asgi2_adapter


# Factories: these run on the bus thread, never on the request path. The request path only
# stamps the time and copies each message (a shallow copy: an app may reuse its dicts); the
# bus thread reads the copy and keeps the exchange's running state in a list, the cheapest
# thing to make per request:
#   [exchange id, start ns, request bytes still kept, response bytes still kept,
#    request body done at, response started at, redact]
_State = list[Any]
_XID, _START, _REQUEST_LEFT, _RESPONSE_LEFT, _REQUEST_DONE, _RESPONSE_AT, _REDACT = range(7)


def _request_started(
    xid: str, at: int, scope: Scope, redact: frozenset[bytes] | None
) -> RequestStarted:
    kind = scope["type"]
    default_scheme = "ws" if kind == "websocket" else "http"
    return RequestStarted(
        xid,
        at,
        source="asgi",
        kind=kind,
        method=scope.get("method", "GET"),
        scheme=scope.get("scheme", default_scheme),
        http_version=scope.get("http_version", "1.1"),
        path=scope.get("path", ""),
        raw_path=scope.get("raw_path"),
        query=scope.get("query_string", b""),
        headers=headers_from(scope.get("headers", ()), redact),
        client=_address(scope.get("client")),
        server=_address(scope.get("server")),
        wall_time=wall_time(at),
        snapshot=snapshot(scope, redact, "headers".__eq__),
    )


def _address(value: Any) -> Any:
    return None if value is None else tuple(value)


def _body(state: _State, slot: int, cls: Any, at: int, message: Message) -> Event:
    body = _bytes(message.get("body", b""))
    keep = min(state[slot], len(body))
    state[slot] -= keep
    event: Event = cut(cls, state[_XID], at, body, keep, message.get("more_body", False))
    return event


def _http_received(state: _State, at: int, message: Message) -> Event:
    try:
        kind = message["type"]
        if kind == "http.request":
            if not message.get("more_body", False):
                state[_REQUEST_DONE] = at
            return _body(state, _REQUEST_LEFT, RequestBodyChunk, at, message)
        if kind == "http.disconnect":
            return ClientDisconnected(state[_XID], at)
        return MessageRelayed(state[_XID], at, "receive", kind)
    except Exception as exc:
        raise RecordFailed(state[_XID], "receive") from exc


def _http_sent(state: _State, at: int, message: Message) -> Event:
    xid = state[_XID]
    try:
        kind = message["type"]
        if kind == "http.response.body":
            return _body(state, _RESPONSE_LEFT, ResponseBodyChunk, at, message)
        if kind == "http.response.start":
            state[_RESPONSE_AT] = at
            headers = headers_from(message.get("headers", ()), state[_REDACT])
            trailers = bool(message.get("trailers", False))
            return ResponseStarted(xid, at, int(message["status"]), headers, trailers)
        if kind == "http.response.trailers":
            headers = headers_from(message.get("headers", ()), state[_REDACT])
            return ResponseTrailers(xid, at, headers, bool(message.get("more_trailers", False)))
        if kind == "http.response.zerocopysend":
            # ASGI "Zero Copy Send" extension: the file descriptor is never read.
            more = message.get("more_body", False)
            offset, count = message.get("offset"), message.get("count")
            return ResponseFileSent(xid, at, "zerocopysend", None, offset, count, more)
        if kind == "http.response.pathsend":
            path = str(message["path"])
            return ResponseFileSent(xid, at, "pathsend", path, None, None, False)
        return MessageRelayed(xid, at, "send", kind)
    except Exception as exc:
        raise RecordFailed(xid, "send") from exc


def _ws_received(state: _State, at: int, message: Message) -> Event:
    xid = state[_XID]
    try:
        kind = message["type"]
        if kind == "websocket.receive":
            return _ws_message(state, at, "client", message)
        if kind == "websocket.connect":
            return WebSocketHandshakeReceived(xid, at)
        if kind == "websocket.disconnect":
            code, reason = message.get("code", 1005), message.get("reason") or ""
            return WebSocketClosed(xid, at, "client", code, reason, state[_RESPONSE_AT] is not None)
        return MessageRelayed(xid, at, "receive", kind)
    except Exception as exc:
        raise RecordFailed(xid, "receive") from exc


def _ws_sent(state: _State, at: int, message: Message) -> Event:
    xid = state[_XID]
    try:
        kind = message["type"]
        if kind == "websocket.send":
            return _ws_message(state, at, "server", message)
        if kind == "websocket.accept":
            state[_RESPONSE_AT] = at
            headers = headers_from(message.get("headers", ()), state[_REDACT])
            return WebSocketAccepted(xid, at, message.get("subprotocol"), headers)
        if kind == "websocket.close":
            code, reason = message.get("code", 1000), message.get("reason") or ""
            return WebSocketClosed(xid, at, "server", code, reason, state[_RESPONSE_AT] is not None)
        if kind == "websocket.http.response.start":
            # ASGI "WebSocket Denial Response" extension.
            headers = headers_from(message.get("headers", ()), state[_REDACT])
            return WebSocketDenied(xid, at, int(message["status"]), headers)
        if kind == "websocket.http.response.body":
            return _body(state, _RESPONSE_LEFT, ResponseBodyChunk, at, message)
        return MessageRelayed(xid, at, "send", kind)
    except Exception as exc:
        raise RecordFailed(xid, "send") from exc


def _ws_message(state: _State, at: int, sender: Any, message: Message) -> WebSocketMessage:
    # One of "text" and "bytes" is set; an empty text "" is a message of its own.
    limit = state[_REQUEST_LEFT]  # the per-message limit: WebSocket messages do not draw it down
    text = message.get("text")
    if text is not None:
        size = len(text.encode("utf-8", "surrogatepass"))
        return WebSocketMessage(state[_XID], at, sender, text[:limit], None, size)
    data = bytes(message.get("bytes") or b"")
    return WebSocketMessage(state[_XID], at, sender, None, data[:limit], len(data))


def _app_failed(state: _State, at: int, exc: BaseException) -> Event:
    return app_failed(state[_XID], at, exc, state[_RESPONSE_AT] is not None)


def _finished(state: _State, at: int, outcome: Outcome) -> ExchangeFinished:
    start, done, first = state[_START], state[_REQUEST_DONE], state[_RESPONSE_AT]
    return ExchangeFinished(
        state[_XID],
        at,
        outcome,
        None if done is None else done - start,
        None if first is None else first - start,
        at - start,
    )
