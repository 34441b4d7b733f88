"""How the proxy ends exchanges that cannot end normally, and answers for the upstream.

A malformed request gets 400 (after the responses to the requests before it, RFC 9112
§9.3.2), a refused one 421 or 405, a head that stalls 408 (see `timers`), an unreachable
upstream 502 and a silent one 504: short plain-text answers (`error_response`) that close that
client's connection only, recorded like any other response. When no answer can be written in
its place (a response is on the wire), the connection closes instead. Each such exchange ends
with a `FAILED` record naming what went wrong (the upstream being the "app" of this hop).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import TYPE_CHECKING, Any

from inspector.events import Headers, new_exchange_id, now_ns
from inspector.proxy.http1 import ProtocolError
from inspector.proxy.state import STOPPED, Flight
from inspector.records import BODY_SENT, FAILED, PROXY_ANSWERED, PROXY_BAD_REQUEST

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection

_LINGER_ZERO = struct.pack("ii", 1, 0)

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


def connect_error(exc: OSError, upstream: str, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"upstream {upstream} refused the connection"
    if isinstance(exc, TimeoutError):
        return f"upstream {upstream} did not accept within {timeout:g} s"
    return f"upstream {upstream} is unreachable ({exc.strerror or exc})"


def malformed(connection: ClientConnection, error: ProtocolError) -> None:
    connection.pause(STOPPED)
    flight = connection.flight
    kind = "inspector.proxy.BadRequest"
    pending = connection.pending
    if error.in_head or flight is None:
        # A head that could not be read (or was refused): an exchange of its own.
        flight = unread(connection, now_ns(), connection.reader.rest)
        if pending:  # answered after the responses before it (RFC 9112 §9.3.2)
            connection.rejection = (flight, error)
        else:
            answer(connection, flight, error, kind)
    elif pending and pending[0] is flight and not flight.response_started:
        # Its head went upstream but its body is broken, and nothing was answered yet: the
        # proxy answers it instead of the upstream.
        answer(connection, flight, error, kind)
    else:
        # Earlier responses are still due, or its own is on the wire: a 400 written now would
        # land inside or ahead of them. Like nginx, no answer then: the connection closes
        # after the earlier responses (RFC 9112 §9.6), and the upstream connection with it,
        # since the rest of this request can never follow (RFC 9112 §11.2: a request cut
        # short must not leave bytes that could be read as another).
        if flight in pending:
            pending.remove(flight)
        fail(connection, flight, kind, str(error))
        if pending:
            pending[-1].close = True
        else:  # its own response cannot complete: the client must see it cut
            connection.close("its request was malformed", reset=flight.response_started)


def unread(connection: ClientConnection, at: int, data: bytes) -> Flight:
    """A new exchange, started `at`, for a request head the proxy could not read from `data`."""
    flight = Flight(new_exchange_id(), False, 0)
    head = data.split(b"\r\n\r\n", 1)[0][:4096]
    where = (connection.client, connection.shared.server, connection.snapshot)
    connection.record(PROXY_BAD_REQUEST, flight.id, at, head, *where)
    return flight


def answer(connection: ClientConnection, flight: Flight, error: ProtocolError, kind: str) -> None:
    """The proxy answers `flight` itself (400, 408, 421, 502, 504) and closes the connection."""
    if error.status == 421:
        kind = "inspector.proxy.MisdirectedRequest"
    elif error.status == 405:
        kind = "inspector.proxy.MethodNotAllowed"
    message = str(error)
    if connection.closing:
        fail(connection, flight, kind, message)
        return
    at = now_ns()
    wire, headers, body = error_response(error.status, message)
    record = connection.record
    record(FAILED, flight.id, at, kind, message, "")  # before the answer: not "started"
    record(PROXY_ANSWERED, flight.id, at, error.status, headers)
    record(BODY_SENT, flight.id, at, body, len(body), False)
    flight.response_started = True
    flight.finish(record, "failed", at)
    if connection.pending and connection.pending[0] is flight:
        connection.pending.popleft()
    connection.transport.write(wire)
    connection.close(f"the proxy answered {error.status} to a request before it")


def fail(connection: ClientConnection, flight: Flight, kind: str, message: str) -> None:
    """Ends `flight` as failed, once (the observer tells from the records before whether the
    client got part of a response). A proxy failure has no traceback."""
    if flight.finished:
        return
    at = now_ns()
    connection.record(FAILED, flight.id, at, kind, message, "")
    flight.finish(connection.record, "failed", at)


def upstream_failed(
    connection: ClientConnection, message: str, kind: str, reset: bool = False
) -> None:
    """The upstream connection broke (closed early, was reset, or sent what is not HTTP)."""
    if connection.closing:
        return
    pending = connection.pending
    if pending and not pending[0].response_started:
        answer(connection, pending[0], ProtocolError(message, 502), kind)
        return
    if pending:  # the client has part of a response: all it can learn is the close
        fail(connection, pending.popleft(), kind, message)
    connection.close("the upstream connection broke during a response before it", reset)


def reset(transport: Any) -> None:
    """Abort with a TCP RST, as the upstream's own break would reach a direct client: a plain
    close sends FIN, which ends a body read until close as if it were complete (RFC 9112 §8).
    What the client's side already received stays readable there before the RST."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()
