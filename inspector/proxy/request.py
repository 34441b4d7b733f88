"""Reading a request head: its framing, what the connection does after it, and its target.

No I/O (h11's style): `read_request` checks a head the client's `MessageReader` found, before
it is forwarded, and says how its body is framed (RFC 9112 §6) and whether the connection
closes or changes protocol after it; or raises `ProtocolError`: 400 for what is not HTTP/1.1,
421 or 405 for a target this proxy refuses (it forwards only to its upstream, never anywhere).
"""

from __future__ import annotations

from typing import NamedTuple

from inspector.proxy.http1 import (
    CHUNKED,
    FIELD_LINES,
    LENGTH,
    NO_BODY,
    REQUEST_LINE,
    ProtocolError,
    content_length,
    field_values,
    tokens,
)

# RFC 9110 §9.2.2: a request with one of these methods may be sent again after a failure.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


class RequestHead(NamedTuple):
    method: bytes
    framing: int
    length: int
    close: bool  # the connection closes after the response
    upgrade: bool  # the client waits for the answer: 101 changes the protocol
    websocket: bool


def read_request(
    data: bytes, start: int, end: int, authorities: frozenset[bytes], upstream: str
) -> RequestHead:
    """Checks the head `data[start:end]` (up to the CRLF ending its last line)."""
    line = REQUEST_LINE.match(data, start, end)
    if line is None or FIELD_LINES.fullmatch(data, line.end(), end) is None:
        raise ProtocolError("malformed request line" if line is None else "malformed header field")
    low = data[line.end() - 2 : end].lower()
    method = line.group(1)
    if data[line.start(2)] != 0x2F:  # not origin-form: check it before forwarding
        check_target(method, line.group(2), authorities, upstream)
    http10 = line.group(3) == b"0"
    framing, length = NO_BODY, 0
    if b"\r\ntransfer-encoding:" in low:
        # RFC 9112 §6.1: TE with CL is a smuggling risk (rejecting it is allowed); TE in
        # HTTP/1.0, or chunked not last (§6.3 ¶4), leaves the length unknown: 400.
        codings = tokens(field_values(low, b"\r\ntransfer-encoding:"))
        if b"\r\ncontent-length:" in low or http10 or codings[-1:] != [b"chunked"]:
            raise ProtocolError("unusable Transfer-Encoding")
        framing = CHUNKED
    elif b"\r\ncontent-length:" in low:
        framing, length = LENGTH, content_length(field_values(low, b"\r\ncontent-length:"))
    close = http10
    upgrade = websocket = False
    if b"\r\nconnection:" in low:
        options = tokens(field_values(low, b"\r\nconnection:"))
        close = b"close" in options or (http10 and b"keep-alive" not in options)
        # RFC 9110 §7.8: Upgrade is only meaningful with "upgrade" in Connection.
        if b"upgrade" in options and b"\r\nupgrade:" in low and not http10:
            upgrade = framing == NO_BODY or (framing == LENGTH and not length)
            websocket = b"websocket" in tokens(field_values(low, b"\r\nupgrade:"))
    return RequestHead(method, framing, length, close, upgrade, websocket)


def check_target(
    method: bytes, target: bytes, authorities: frozenset[bytes], upstream: str
) -> None:
    """An absolute-form target (RFC 9112 §3.2.2) must name the upstream (or this proxy)."""
    if method == b"CONNECT":  # RFC 9110 §9.3.6: a tunnel to anywhere: never
        raise ProtocolError("CONNECT is not supported by a reverse proxy", 405)
    if target == b"*" and method == b"OPTIONS":  # RFC 9112 §3.2.4
        return
    scheme, sep, rest = target.lower().partition(b"://")
    if not sep or scheme not in (b"http", b"https"):
        raise ProtocolError("malformed request target")
    # RFC 3986 §3.2: the authority ends at the first "/", "?" or "#"; a userinfo ends at its
    # last "@". A "\" is no URI character, but WHATWG URL parsers read it as "/": a target
    # with one in its authority means another host to some parser, so it is refused.
    cut = min((at for at in map(rest.find, (b"/", b"?", b"#")) if at >= 0), default=len(rest))
    authority = rest[:cut]
    host = authority.rpartition(b"@")[2]
    if b"\\" in authority or host not in authorities:
        named = (authority if b"\\" in authority else host).decode("latin-1")
        raise ProtocolError(f"this proxy only forwards to {upstream}, not to {named}", 421)
