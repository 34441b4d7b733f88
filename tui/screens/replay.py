"""Replay: send an exchange's request again with httpx and record the answer as events.

The replay is a new exchange built from the same vocabulary as captured ones (its snapshot
is `{"replay_of": <original id>}` and its source the original's), fed through the app like
any other events, so it appears in the list, filters and exports unchanged. A dead upstream
becomes an exchange that failed (`AppFailed` with the connection error), never an exception.
Only the captured request body can be sent: `replay_warning` says when that is not all of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx

from inspector import events as ev
from inspector.observe.exchange import Exchange

MAX_KEPT = 1 << 20
"""Response bytes kept for display, like capture's body limit."""
_SKIP = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"te"}
    | {b"trailer", b"upgrade", b"proxy-connection", b"proxy-authorization"}
)
Emit = Callable[[Sequence[ev.Event]], None]


def replay_url(exchange: Exchange, base: str | None) -> str:
    """The original URL, or its path and query on `base` (the configured upstream)."""
    url = exchange.url
    if not base:
        return url
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return base.rstrip("/") + target


def replay_warning(exchange: Exchange) -> str | None:
    """Why the body sent will not be the original one, if it will not: capture kept only a
    prefix, or the app never read the whole body (so nobody saw the rest)."""
    body = exchange.request_body
    kept = len(body.data)
    declared = _content_length(exchange)
    total = max(body.size, declared or 0)
    if kept < total:
        return f"replaying {kept:,} of {total:,} request body bytes: capture kept no more"
    if body.size and not body.complete:
        return f"replaying {kept:,} request body bytes: the app did not read the rest"
    return None


def _content_length(exchange: Exchange) -> int | None:
    request = exchange.request
    for name, value in request.headers if request is not None else ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def replay(
    exchange: Exchange, emit: Emit, *, base: str | None = None, timeout: float = 30.0
) -> tuple[str, str | None]:
    """Send the request again; returns the new exchange id and the error, if any."""
    original = exchange.request
    if original is None or exchange.is_websocket:
        raise ValueError("only captured HTTP requests can be replayed")
    xid = ev.new_exchange_id()
    headers = [(k, v) for k, v in original.headers if k.lower() not in _SKIP]
    body = bytes(exchange.request_body.data)
    started = ev.now_ns()
    async with httpx.AsyncClient(timeout=timeout) as client:
        try:
            request = client.build_request(
                original.method, replay_url(exchange, base), headers=headers, content=body
            )
        except (httpx.HTTPError, ValueError) as exc:
            return xid, f"cannot build the request: {exc}"
        url = request.url
        emit(
            [
                ev.RequestStarted(
                    xid,
                    started,
                    source=original.source,
                    kind="http",
                    method=original.method,
                    scheme=url.scheme,
                    http_version="1.1",
                    path=url.path,
                    raw_path=url.raw_path.split(b"?")[0],
                    query=url.query,
                    headers=tuple(request.headers.raw),
                    client=None,
                    server=(url.host, url.port),
                    wall_time=time.time(),
                    snapshot={"replay_of": exchange.id},
                ),
                ev.RequestBodyChunk(xid, ev.now_ns(), body, len(body), False),
            ]
        )
        return xid, await _send(client, request, xid, started, emit)


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, xid: str, started: int, emit: Emit
) -> str | None:
    first_byte: int | None = None
    kept = 0
    try:
        response = await client.send(request, stream=True)
        try:
            first_byte = ev.now_ns() - started
            emit(
                [
                    ev.ResponseStarted(
                        xid,
                        started + first_byte,
                        response.status_code,
                        tuple(response.headers.raw),
                        False,
                        response.reason_phrase,
                    )
                ]
            )
            async for chunk in response.aiter_raw():
                data = chunk[: max(MAX_KEPT - kept, 0)]
                kept += len(data)
                emit([ev.ResponseBodyChunk(xid, ev.now_ns(), data, len(chunk), True)])
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        now = ev.now_ns()
        message = str(exc) or type(exc).__name__
        emit(
            [
                ev.AppFailed(xid, now, type(exc).__name__, message, "", first_byte is not None),
                ev.ExchangeFinished(xid, now, "failed", None, first_byte, now - started),
            ]
        )
        return f"{type(exc).__name__}: {message}"
    now = ev.now_ns()
    emit(
        [
            ev.ResponseBodyChunk(xid, now, b"", 0, False),
            ev.ExchangeFinished(xid, now, "completed", None, first_byte, now - started),
        ]
    )
    return None
