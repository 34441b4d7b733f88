"""`ASGIInspectorMiddleware`: records every ASGI message of HTTP and WebSocket exchanges.

Pure ASGI: `receive` and `send` are wrapped by closures that record what passes and hand the
very same message on, so streaming, `more_body`, trailers, extensions and unknown message
types reach the server and the app untouched. Lifespan and unknown scope types are passed
through without a look. Per-request state lives in `__call__`; the object holds options only.

Recording is one C encode of the scope or message as it is (see `inspector.records`): the
observer interprets it. Only a body (or WebSocket message) longer than what may still be
kept is cut first, into a copy, with its full size beside it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from inspector.capture.options import DEFAULT_BODY_LIMIT, CaptureOptions, record_failure
from inspector.events import new_exchange_id, now_ns
from inspector.records import ASGI_RECEIVED, ASGI_SCOPE, ASGI_SENT, FINISHED, Recorder

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
        bus: Recorder | str | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        redact: bool | Iterable[str] = False,
        enabled: bool = True,
    ) -> None:
        self.app: ASGIApp = _as_asgi3(app)
        self.options = CaptureOptions(bus, body_limit, redact, enabled)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        options = self.options
        if kind != "http" or not options.enabled:
            if kind == "websocket" and options.enabled:
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # HTTP, inline: every layer of coroutine here is paid on every request.
        # `cost`: capture's own time for this exchange, from clock reads it makes anyway
        # (each record's timestamp) plus one after each record, summed in this closure.
        record, failed, redact = options.record, options.failed, options.redact
        started = now_ns()
        xid = new_exchange_id()
        record(ASGI_SCOPE, xid, started, _bounded(scope), redact)
        request_left = response_left = options.body_limit
        cost = 0

        async def inspect_receive() -> Message:
            nonlocal request_left, cost
            message = await receive()
            at = now_ns()
            try:
                body = message.get("body")
                if body is None or len(body) <= request_left:
                    record(ASGI_RECEIVED, xid, at, message)
                    if body:
                        request_left -= len(body)
                else:
                    record(ASGI_RECEIVED, xid, at, *_cut(message, "body", request_left))
                    request_left = 0
            except Exception as exc:
                failed(xid, "receive", exc)
            cost += now_ns() - at
            return message

        async def inspect_send(message: Message) -> None:
            nonlocal response_left, cost
            at = now_ns()
            try:
                body = message.get("body")
                if body is None or len(body) <= response_left:
                    if redact is None:
                        record(ASGI_SENT, xid, at, message)
                    else:  # a response start or trailers may carry a secret
                        record(ASGI_SENT, xid, at, message, -1, redact)
                    if body:
                        response_left -= len(body)
                else:
                    record(ASGI_SENT, xid, at, *_cut(message, "body", response_left))
                    response_left = 0
            except Exception as exc:
                failed(xid, "send", exc)
            cost += now_ns() - at
            await send(message)

        outcome = "failed"
        app_scope = _with_id(scope, xid)
        cost += now_ns() - started
        try:
            await self.app(app_scope, inspect_receive, inspect_send)
            outcome = "completed"
        except Exception as exc:
            record_failure(options, xid, now_ns(), exc)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            # Starlette's router (so FastAPI's) sets scope["route"] in the scope the app got.
            route = app_scope.get("route")
            if route is None:
                record(FINISHED, xid, now_ns(), outcome, cost)
            else:
                _finished(record, xid, outcome, app_scope, route, cost)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        options = self.options
        record, failed, redact = options.record, options.failed, options.redact
        xid = new_exchange_id()
        record(ASGI_SCOPE, xid, now_ns(), _bounded(scope), redact)
        # The limit applies to each message; a denial's body draws it down like a response.
        limit = denial_left = options.body_limit

        async def inspect_receive() -> Message:
            message = await receive()
            try:
                record(*_ws_record(ASGI_RECEIVED, xid, message, limit))
            except Exception as exc:
                failed(xid, "receive", exc)
            return message

        async def inspect_send(message: Message) -> None:
            nonlocal denial_left
            try:
                body = message.get("body")
                if body is None:  # an accept or a denial's start may carry a secret
                    record(*_ws_record(ASGI_SENT, xid, message, limit), redact)
                elif len(body) <= denial_left:
                    record(ASGI_SENT, xid, now_ns(), message)
                    denial_left -= len(body)
                else:
                    record(ASGI_SENT, xid, now_ns(), *_cut(message, "body", denial_left))
                    denial_left = 0
            except Exception as exc:
                failed(xid, "send", exc)
            await send(message)

        await self._run(scope, xid, inspect_receive, inspect_send)

    async def _run(self, scope: Scope, xid: str, receive: Receive, send: Send) -> None:
        outcome = "failed"
        app_scope = _with_id(scope, xid)
        try:
            await self.app(app_scope, receive, send)
            outcome = "completed"
        except Exception as exc:
            record_failure(self.options, xid, now_ns(), exc)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            _finished(self.options.record, xid, outcome, app_scope, app_scope.get("route"))


def _finished(
    record: Callable[..., None],
    xid: str,
    outcome: str,
    app_scope: Scope,
    route: Any,
    cost: int = -1,
) -> None:
    """Record the end, with the path format of the route the framework matched, if any: a
    Starlette route's `path_format` is its template (`/items/{id}`), OpenTelemetry's
    http.route; a mount adds its prefix to `root_path`. A route object that raises costs
    only the route, never the app's exception (this runs in a `finally`)."""
    path = root = None
    if route is not None:
        try:
            path, root = getattr(route, "path_format", None), app_scope.get("root_path")
        except Exception:
            path = None
    if path is None:
        record(FINISHED, xid, now_ns(), outcome, cost)
    else:
        record(FINISHED, xid, now_ns(), outcome, cost, path, root)


def _cut(message: Message, key: str, keep: int) -> tuple[Message, int]:
    """A copy of `message` keeping `keep` bytes (or characters) of `message[key]`, and the
    whole value's size in bytes."""
    value = message[key]
    size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(value)
    copy = dict(message)
    copy[key] = value[:keep]
    return copy, size


def _ws_record(tag: int, xid: str, message: Message, limit: int) -> tuple[Any, ...]:
    """The fields of a WebSocket message's record: (tag, xid, at, message, size)."""
    # One of "text" and "bytes" is set in a WebSocket message; an empty text is a message.
    at = now_ns()
    text = message.get("text")
    if text is not None and len(text) > limit:
        return (tag, xid, at, *_cut(message, "text", limit))
    data = message.get("bytes")
    if data is not None and len(data) > limit:
        return (tag, xid, at, *_cut(message, "bytes", limit))
    return tag, xid, at, message, -1


_MAX_STATE = 100


def _bounded(scope: Scope) -> Scope:
    """The scope to record: uvicorn copies the lifespan state into every scope, and an app may
    keep thousands of items there; past `_MAX_STATE` only the first are recorded."""
    state = scope.get("state")
    if not state or len(state) <= _MAX_STATE:
        return scope
    items = list(state.items())
    kept = dict(items[:_MAX_STATE])
    kept["…"] = f"{len(items) - _MAX_STATE} more"
    return {**scope, "state": kept}


def _with_id(scope: Scope, exchange_id: str) -> Scope:
    # A shallow copy: the app sees our key, the server's scope is left alone, and
    # scope["state"] stays the very same object (lifespan state is shared by reference).
    scope = scope.copy()  # type: ignore[attr-defined]
    scope["inspector.exchange_id"] = exchange_id
    return scope


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
