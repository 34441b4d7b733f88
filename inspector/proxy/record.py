"""What the proxy records: bus-thread factories for its events, and its own error answers.

The forwarding path records raw facts (`bus.record(factory, *args)` with the very buffers it
read and offsets into them); these factories slice, parse and mask on the bus thread, so
building events costs the relay nothing. The proxy's own answers (400, 408, 421, 502, 504) are
short plain-text responses that close the connection, recorded like any other exchange.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from inspector.capture.options import headers_from
from inspector.events import (
    JSON,
    Address,
    AppFailed,
    Headers,
    RequestStarted,
    ResponseStarted,
    ResponseTrailers,
    WebSocketAccepted,
    WebSocketDenied,
    now_ns,
    wall_time,
)
from inspector.proxy.http1 import REQUEST_LINE, STATUS_LINE, parse_fields
from inspector.proxy.state import Record

Redact = frozenset[bytes] | None

REASONS = {
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    421: "Misdirected Request",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


def error_response(status: int, text: str) -> tuple[bytes, Headers, bytes]:
    """The proxy's own answer: (bytes on the wire, its headers, its body)."""
    body = f"{status} {REASONS[status]}: {text}\n".encode()
    headers: Headers = (
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    )
    head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status].encode())
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body, headers, body


# Factories: these run on the bus thread, never on the forwarding path.


def request_started(
    xid: str,
    at: int,
    data: bytes,
    start: int,
    end: int,
    websocket: bool,
    client: Address | None,
    server: Address | None,
    snapshot: dict[str, JSON],
    redact: Redact,
) -> RequestStarted:
    line = REQUEST_LINE.match(data, start, end)
    assert line is not None  # checked before it was recorded
    target = line.group(2)
    fields = parse_fields(data[line.end() : end])
    method, minor = line.group(1), line.group(3)
    return _request(
        xid, at, method, target, minor, fields, websocket, client, server, snapshot, redact
    )


def bad_request_started(
    xid: str,
    at: int,
    head: bytes,
    client: Address | None,
    server: Address | None,
    snapshot: dict[str, JSON],
) -> RequestStarted:
    """A request the proxy could not read: what its first line seems to say, no headers."""
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    method = parts[0][:32] if parts[0].isascii() else b""
    target = parts[1] if len(parts) > 1 else b""
    return _request(xid, at, method, target, b"1", (), False, client, server, snapshot, None)


def _request(
    xid: str,
    at: int,
    method: bytes,
    target: bytes,
    minor: bytes,
    fields: Headers,
    websocket: bool,
    client: Address | None,
    server: Address | None,
    snapshot: dict[str, JSON],
    redact: Redact,
) -> RequestStarted:
    # RFC 9112 §3.2: origin-form, absolute-form (the path starts after the authority) or "*".
    if b"://" in target[:10]:
        rest = target.partition(b"://")[2]
        cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=-1)
        target = b"/" if cut < 0 else rest[cut:]
    raw_path, _, query = target.partition(b"?")
    return RequestStarted(
        xid,
        at,
        source="proxy",
        kind="websocket" if websocket else "http",
        method=method.decode("latin-1"),
        scheme="ws" if websocket else "http",
        http_version="1." + minor.decode("latin-1"),
        path=unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        raw_path=raw_path,
        query=query,
        headers=headers_from(fields, redact),
        client=client,
        server=server,
        wall_time=wall_time(at),
        snapshot=snapshot,
    )


def _status(data: bytes, start: int, end: int) -> tuple[int, str, Headers]:
    line = STATUS_LINE.match(data, start, end)
    assert line is not None  # checked before it was recorded
    reason = (line.group(3) or b"").decode("latin-1")
    return int(line.group(2)), reason, parse_fields(data[line.end() : end])


def response_started(
    xid: str, at: int, data: bytes, start: int, end: int, redact: Redact
) -> ResponseStarted:
    status, reason, fields = _status(data, start, end)
    # RFC 9110 §6.6.2: a Trailer field announces trailer fields after the content.
    trailers = any(name.lower() == b"trailer" for name, _ in fields)
    return ResponseStarted(xid, at, status, headers_from(fields, redact), trailers, reason)


def websocket_accepted(
    xid: str, at: int, data: bytes, start: int, end: int, redact: Redact
) -> WebSocketAccepted:
    _, _, fields = _status(data, start, end)
    protocol = next((v for n, v in fields if n.lower() == b"sec-websocket-protocol"), None)
    subprotocol = None if protocol is None else protocol.decode("latin-1")
    return WebSocketAccepted(xid, at, subprotocol, headers_from(fields, redact))


def websocket_denied(
    xid: str, at: int, data: bytes, start: int, end: int, redact: Redact
) -> WebSocketDenied:
    status, _, fields = _status(data, start, end)
    return WebSocketDenied(xid, at, status, headers_from(fields, redact))


def trailers(xid: str, at: int, block: bytes, redact: Redact) -> ResponseTrailers:
    return ResponseTrailers(xid, at, headers_from(parse_fields(block), redact), False)


def record_body(
    record: Record, cls: Any, xid: str, left: int, data: bytes, start: int, end: int, last: bool
) -> int:
    """Records the body piece `data[start:end]` (a `RequestBodyChunk` or `ResponseBodyChunk`
    class: `cls`) keeping at most `left` bytes of it; returns how many may still be kept."""
    at = now_ns()
    size = end - start
    if left and size:
        keep = min(left, size)
        record(body, cls, xid, at, data, start, start + keep, size, not last)
        return left - keep
    record(cls, xid, at, b"", size, not last)
    return left


def body(
    cls: Any, xid: str, at: int, data: bytes, start: int, stop: int, size: int, more: bool
) -> Any:
    """A body event keeping `data[start:stop]` of a piece of `size` bytes."""
    kept = data if start == 0 and stop == len(data) else data[start:stop]
    return cls(xid, at, kept, size, more)


def proxy_failed(xid: str, at: int, kind: str, message: str, started: bool) -> AppFailed:
    """The upstream could not be reached or misbehaved, or the proxy refused a request."""
    return AppFailed(xid, at, kind, message, "", started)


def own_response(xid: str, at: int, status: int, headers: Headers) -> ResponseStarted:
    return ResponseStarted(xid, at, status, headers, False, REASONS[status])
