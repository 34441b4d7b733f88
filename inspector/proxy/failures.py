"""The proxy's own answers, and the words it uses for failures: no I/O, no state.

A malformed request gets 400, a refused one 421 or 405, a request that stalls 408, an
unreachable upstream 502, a silent one 504 and a request that came back to the proxy it went
through (a forwarding loop) 508: short plain-text answers (`error_response`) that close that
client's connection only (`Connection.answer` decides when one is written).
"""

from __future__ import annotations

from inspector.events import Headers

REASONS = {
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    421: "Misdirected Request",
    502: "Bad Gateway",
    504: "Gateway Timeout",
    508: "Loop Detected",  # RFC 5842 §7.2
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


def connect_error(exc: OSError, upstream: str, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"upstream {upstream} refused the connection"
    if isinstance(exc, TimeoutError):
        return f"upstream {upstream} did not accept within {timeout:g} s"
    return f"upstream {upstream} is unreachable ({exc.strerror or exc})"
