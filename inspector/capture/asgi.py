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

from inspector.bus import EventBus
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
        request_left = response_left = options.body_limit
        request_done: int | None = None
        response_start: int | None = None

        async def inspect_receive() -> Message:
            nonlocal request_left, request_done
            message = await receive()
            try:
                at = now_ns()
                kind = message["type"]
                if kind == "http.request":
                    body = _bytes(message.get("body", b""))
                    more = message.get("more_body", False)
                    keep = min(request_left, len(body))
                    request_left -= keep
                    record(cut, RequestBodyChunk, xid, at, body, keep, more)
                    if not more:
                        request_done = at
                elif kind == "http.disconnect":
                    record(ClientDisconnected, xid, at)
                else:
                    record(MessageRelayed, xid, at, "receive", kind)
            except Exception as exc:
                bus.capture_failed(xid, "receive", exc)
            return message

        async def inspect_send(message: Message) -> None:
            nonlocal response_left, response_start
            try:
                at = now_ns()
                kind = message["type"]
                if kind == "http.response.body":
                    body = _bytes(message.get("body", b""))
                    keep = min(response_left, len(body))
                    response_left -= keep
                    more = message.get("more_body", False)
                    record(cut, ResponseBodyChunk, xid, at, body, keep, more)
                elif kind == "http.response.start":
                    response_start = at
                    headers = tuple(message.get("headers", ()))
                    trailers = message.get("trailers", False)
                    record(
                        _response_started,
                        xid,
                        at,
                        message["status"],
                        headers,
                        trailers,
                        options.redact,
                    )
                elif kind == "http.response.trailers":
                    headers = tuple(message.get("headers", ()))
                    more = message.get("more_trailers", False)
                    record(_trailers, xid, at, headers, more, options.redact)
                elif kind == "http.response.zerocopysend":
                    # ASGI "Zero Copy Send" extension: the file descriptor is never read.
                    more = message.get("more_body", False)
                    offset, count = message.get("offset"), message.get("count")
                    record(ResponseFileSent, xid, at, "zerocopysend", None, offset, count, more)
                elif kind == "http.response.pathsend":
                    path = str(message["path"])
                    record(ResponseFileSent, xid, at, "pathsend", path, None, None, False)
                else:
                    record(MessageRelayed, xid, at, "send", kind)
            except Exception as exc:
                bus.capture_failed(xid, "send", exc)
            await send(message)

        outcome: Outcome = "failed"
        try:
            await self.app(_with_id(scope, xid), inspect_receive, inspect_send)
            outcome = "completed"
        except Exception as exc:
            record(app_failed, xid, now_ns(), exc, response_start is not None)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            end = now_ns()
            request_ns = None if request_done is None else request_done - started
            first_byte_ns = None if response_start is None else response_start - started
            record(ExchangeFinished, xid, end, outcome, request_ns, first_byte_ns, end - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = self.options
        bus = options.bus
        record = bus.record
        limit = options.body_limit
        xid = new_exchange_id()
        started = now_ns()
        record(_request_started, xid, started, scope, options.redact)
        accepted_at: int | None = None
        denial_left = limit

        async def inspect_receive() -> Message:
            message = await receive()
            try:
                at = now_ns()
                kind = message["type"]
                if kind == "websocket.receive":
                    record(
                        _ws_message,
                        xid,
                        at,
                        "client",
                        message.get("text"),
                        message.get("bytes"),
                        limit,
                    )
                elif kind == "websocket.connect":
                    record(WebSocketHandshakeReceived, xid, at)
                elif kind == "websocket.disconnect":
                    code = message.get("code", 1005)
                    reason = message.get("reason") or ""
                    accepted = accepted_at is not None
                    record(WebSocketClosed, xid, at, "client", code, reason, accepted)
                else:
                    record(MessageRelayed, xid, at, "receive", kind)
            except Exception as exc:
                bus.capture_failed(xid, "receive", exc)
            return message

        async def inspect_send(message: Message) -> None:
            nonlocal accepted_at, denial_left
            try:
                at = now_ns()
                kind = message["type"]
                if kind == "websocket.send":
                    record(
                        _ws_message,
                        xid,
                        at,
                        "server",
                        message.get("text"),
                        message.get("bytes"),
                        limit,
                    )
                elif kind == "websocket.accept":
                    accepted_at = at
                    headers = tuple(message.get("headers", ()))
                    subprotocol = message.get("subprotocol")
                    record(_ws_accepted, xid, at, subprotocol, headers, options.redact)
                elif kind == "websocket.close":
                    code = message.get("code", 1000)
                    reason = message.get("reason") or ""
                    accepted = accepted_at is not None
                    record(WebSocketClosed, xid, at, "server", code, reason, accepted)
                elif kind == "websocket.http.response.start":
                    # ASGI "WebSocket Denial Response" extension.
                    headers = tuple(message.get("headers", ()))
                    record(_ws_denied, xid, at, message["status"], headers, options.redact)
                elif kind == "websocket.http.response.body":
                    body = _bytes(message.get("body", b""))
                    keep = min(denial_left, len(body))
                    denial_left -= keep
                    more = message.get("more_body", False)
                    record(cut, ResponseBodyChunk, xid, at, body, keep, more)
                else:
                    record(MessageRelayed, xid, at, "send", kind)
            except Exception as exc:
                bus.capture_failed(xid, "send", exc)
            await send(message)

        outcome: Outcome = "failed"
        try:
            await self.app(_with_id(scope, xid), inspect_receive, inspect_send)
            outcome = "completed"
        except Exception as exc:
            record(app_failed, xid, now_ns(), exc, accepted_at is not None)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            end = now_ns()
            first_byte_ns = None if accepted_at is None else accepted_at - started
            record(ExchangeFinished, xid, end, outcome, None, first_byte_ns, end - started)


def _with_id(scope: Scope, exchange_id: str) -> Scope:
    # A shallow copy: the app sees our key, the server's scope is left alone, and
    # scope["state"] stays the very same object (lifespan state is shared by reference).
    scope = scope.copy()  # type: ignore[attr-defined]
    scope["inspector.exchange_id"] = exchange_id
    return scope


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


# Factories: these run on the bus thread, never on the request path.


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
        snapshot=snapshot(scope, redact),
    )


def _address(value: Any) -> Any:
    return None if value is None else tuple(value)


def _response_started(
    xid: str, at: int, status: int, headers: Any, trailers: bool, redact: frozenset[bytes] | None
) -> ResponseStarted:
    return ResponseStarted(xid, at, int(status), headers_from(headers, redact), bool(trailers))


def _trailers(
    xid: str, at: int, headers: Any, more: bool, redact: frozenset[bytes] | None
) -> ResponseTrailers:
    return ResponseTrailers(xid, at, headers_from(headers, redact), bool(more))


def _ws_accepted(
    xid: str, at: int, subprotocol: str | None, headers: Any, redact: frozenset[bytes] | None
) -> WebSocketAccepted:
    return WebSocketAccepted(xid, at, subprotocol, headers_from(headers, redact))


def _ws_denied(
    xid: str, at: int, status: int, headers: Any, redact: frozenset[bytes] | None
) -> WebSocketDenied:
    return WebSocketDenied(xid, at, int(status), headers_from(headers, redact))


def _ws_message(
    xid: str, at: int, sender: Any, text: str | None, data: Any, limit: int
) -> WebSocketMessage:
    # One of "text" and "bytes" is set; an empty text "" is a message of its own.
    if text is not None:
        size = len(text.encode("utf-8", "surrogatepass"))
        return WebSocketMessage(xid, at, sender, text[:limit], None, size)
    data = bytes(data or b"")
    return WebSocketMessage(xid, at, sender, None, data[:limit], len(data))
