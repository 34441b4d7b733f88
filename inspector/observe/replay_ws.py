"""WebSocket replay: open a new connection with the captured handshake, send the client's
captured messages again, and record the conversation as a new exchange.

The handshake is the captured one, as HTTP replay sends its request: the captured header
fields in their order with their repeats, only Sec-WebSocket-Key drawn afresh (RFC 6455
4.1), so the subprotocols and extensions offered are the original's (permessage-deflate only
if it was offered); `inspector.observe.replay_connection` speaks it on the wire. The
client's messages go out in order, as fast as possible or with the captured pacing; the
server's are read until as many as the original's came, the server closes, or none came for
`quiet` seconds; then the connection is closed cleanly (1000). A target that is down or
answers wrongly becomes an exchange that failed, with the reason, never an exception.
"""

from __future__ import annotations

import base64
import os
import time
from urllib.parse import unquote_to_bytes, urlsplit

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.observe.replay import Emit, replay_url
from inspector.observe.replay_connection import (
    HandshakeRefused,
    Outgoing,
    ReplayConnection,
    WebSocketReplayed,
    WebSocketReplayRequest,
)


def prepare_websocket(exchange: Exchange, base: str | None = None) -> WebSocketReplayRequest:
    """The handshake and messages to replay; raises ValueError when there is nothing to send."""
    request = exchange.request
    if request is None or not exchange.is_websocket:
        raise ValueError("only a captured WebSocket exchange can be replayed this way")
    url = urlsplit(replay_url(exchange, base))
    if not url.hostname:
        raise ValueError(f"no host to connect to in {url.geturl()!r}")
    secure = url.scheme in ("https", "wss")
    notes: list[str] = []
    headers = [(n, v) for n, v in request.headers if not n.startswith(b":")]
    names = [n.lower() for n, _ in headers]
    if request.http_version not in ("1.0", "1.1") or request.method != "GET":
        notes.append(
            f"Opened with an HTTP/1.1 GET: it came as {request.method} over "
            f"HTTP/{request.http_version}."
        )
    required = (
        (b"host", (exchange.host or url.netloc).encode("latin-1")),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", b""),
        (b"sec-websocket-version", b"13"),
    )
    for name, value in required:  # RFC 6455 4.1: what a handshake must carry
        if name not in names:
            headers.append((name, value))
            names.append(name)
            if name != b"sec-websocket-key":
                notes.append(f"{name.decode()} was added: the handshake requires it.")
    origin = _origin(exchange)
    messages: list[Outgoing] = []
    cut = unkept = 0
    for message in exchange.messages:
        if message.sender != "client":
            continue
        kept = len(message.text.encode()) if message.text is not None else len(message.data or b"")
        if message.size and message.text is None and message.data is None:
            unkept += 1
            continue
        cut += kept < message.size
        offset = max(message.at_ns - origin, 0) / 1e9
        messages.append(Outgoing(message.text, message.data, offset))
    if unkept:
        notes.append(
            f"{unkept} client message{'s' * (unkept != 1)} not sent: capture kept "
            "no payload for them."
        )
    if cut:
        notes.append(f"{cut} client message{'s' * (cut != 1)} sent cut to what capture kept.")
    if exchange.messages_dropped:
        notes.append(
            f"{exchange.messages_dropped:,} messages past the viewer's cap are not replayed."
        )
    expected = sum(
        1 for m in exchange.messages if m.sender == "server" and not getattr(m, "injected", False)
    )
    path = request.raw_path if request.raw_path else request.path.encode("utf-8")
    target = path + (b"?" + request.query if request.query else b"")
    return WebSocketReplayRequest(
        scheme="wss" if secure else "ws",
        host=url.hostname,
        port=url.port or (443 if secure else 80),
        target=target,
        headers=tuple(headers),
        messages=tuple(messages),
        expected=expected,
        server_closes=exchange.closed is not None and exchange.closed.sender == "server",
        notes=tuple(notes),
    )


def _origin(exchange: Exchange) -> int:
    """When the original's conversation began: its accept, else its request."""
    if exchange.accepted is not None:
        return exchange.accepted.at_ns
    assert exchange.request is not None
    return exchange.request.at_ns


async def replay_websocket(
    exchange: Exchange,
    emit: Emit,
    *,
    xid: str | None = None,
    base: str | None = None,
    paced: bool = False,
    quiet: float = 2.0,
    timeout: float = 30.0,
) -> WebSocketReplayed:
    """Replay the conversation as exchange `xid`; `quiet`: seconds without a server message
    after which its answers are taken as over; `timeout`: seconds for the connection and the
    handshake, and for the closing handshake."""
    try:
        request = prepare_websocket(exchange, base)
    except ValueError as exc:
        return WebSocketReplayed(None, error=f"cannot build the handshake: {exc}")
    original = exchange.request
    assert original is not None
    xid = xid or ev.new_exchange_id()
    key = base64.b64encode(os.urandom(16))
    started = ev.now_ns()
    path, _, query = request.target.partition(b"?")
    sent_headers = tuple(
        (n, key if n.lower() == b"sec-websocket-key" else v) for n, v in request.headers
    )
    emit(
        [
            ev.RequestStarted(
                xid,
                started,
                source=original.source,
                kind="websocket",
                method="GET",
                scheme=request.scheme,
                http_version="1.1",
                path=unquote_to_bytes(path).decode("utf-8", "replace"),
                raw_path=path,
                query=query,
                headers=sent_headers,
                client=None,
                server=(request.host, request.port),
                wall_time=time.time(),
                snapshot={"replay_of": exchange.id},
            ),
            ev.WebSocketHandshakeReceived(xid, ev.now_ns()),
        ]
    )
    done = WebSocketReplayed(request, notes=list(request.notes))
    session = ReplayConnection(request, done, xid, emit, started)
    try:
        await session.run(key, paced=paced, quiet=quiet, timeout=timeout)
    except (OSError, TimeoutError, ValueError, HandshakeRefused) as exc:
        now = ev.now_ns()
        kind = type(exc).__name__
        message = str(exc) or (f"no answer in {timeout:g} s" if kind == "TimeoutError" else kind)
        if isinstance(exc, HandshakeRefused):
            kind = "HandshakeFailed"
        emit(
            [
                ev.AppFailed(xid, now, kind, message, "", session.first_byte is not None),
                ev.ExchangeFinished(xid, now, "failed", None, session.first_byte, now - started),
            ]
        )
        done.error = f"{kind}: {message}"
        return done
    finally:
        session.close()
    now = ev.now_ns()
    emit([ev.ExchangeFinished(xid, now, "completed", None, session.first_byte, now - started)])
    return done


def summary_websocket(done: WebSocketReplayed) -> str:
    """The notification's text: what was sent, what came back, how it ended, what differs
    from the capture."""
    request = done.request
    if request is None:
        return f"replay failed: {done.error}"
    what = f"WebSocket {request.target.decode('latin-1')}"
    if done.error is not None:
        first = f"{what}: replay failed: {done.error}"
    elif done.status != 101:
        first = f"{what}: the server refused the handshake with {done.status}: the new ↻ row."
    else:
        sent = f"{done.sent} client message{'s' * (done.sent != 1)} sent"
        got = f"{done.received} server message{'s' * (done.received != 1)} received"
        first = (
            f"{what}: {sent}, {got} (the original had {request.expected}), {done.closed}: "
            "the new ↻ row; = compares it with the original."
        )
    return "\n".join([first, *done.notes])
