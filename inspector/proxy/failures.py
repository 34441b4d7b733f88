"""How the proxy ends exchanges that cannot end normally, and answers for the upstream.

A malformed request gets 400 (after the responses to the requests before it, RFC 9112
§9.3.2), a refused one 421 or 405, an unreachable upstream 502 and a silent one 504: short
plain-text answers that close that client's connection only. Each is recorded as an exchange
with an `AppFailed` naming what went wrong (the upstream being the "app" of this hop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.events import ExchangeFinished, Outcome, ResponseBodyChunk, new_exchange_id, now_ns
from inspector.proxy import record as rec
from inspector.proxy.http1 import ProtocolError
from inspector.proxy.state import STOPPED, Flight

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection


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
    if error.in_head or flight is None:
        # A head that could not be read (or was refused): an exchange of its own.
        at = now_ns()
        flight = Flight(new_exchange_id(), at, False, 0)
        head = connection.reader.rest.split(b"\r\n\r\n", 1)[0][:4096]
        where = (connection.client, connection.shared.server, connection.snapshot)
        connection.record(rec.bad_request_started, flight.id, at, head, *where)
        if connection.pending:  # answered after the responses before it (RFC 9112 §9.3.2)
            connection.rejection = (flight, error)
        else:
            answer(connection, flight, error, kind)
    elif flight.response_start is None and flight in connection.pending:
        # Its head went upstream but its body is broken: the upstream must not answer it.
        connection.pending.remove(flight)
        answer(connection, flight, error, kind)
    else:
        fail(connection, flight, kind, str(error), True)
        if flight in connection.pending:
            connection.pending.remove(flight)
            finished(connection, flight, "failed", now_ns())
        connection.close()


def answer(connection: ClientConnection, flight: Flight, error: ProtocolError, kind: str) -> None:
    """The proxy answers `flight` itself (400, 421, 502, 504) and closes the connection."""
    if connection.closing:
        return
    if error.status == 421:
        kind = "inspector.proxy.MisdirectedRequest"
    elif error.status == 405:
        kind = "inspector.proxy.MethodNotAllowed"
    at = now_ns()
    message = str(error)
    wire, headers, body = rec.error_response(error.status, message)
    fail(connection, flight, kind, message, False)
    connection.record(rec.own_response, flight.id, at, error.status, headers)
    connection.record(ResponseBodyChunk, flight.id, at, body, len(body), False)
    flight.response_start = at
    finished(connection, flight, "failed", at)
    if connection.pending and connection.pending[0] is flight:
        connection.pending.popleft()
    connection.transport.write(wire)
    connection.close()


def fail(
    connection: ClientConnection, flight: Flight, kind: str, message: str, started: bool
) -> None:
    connection.record(rec.proxy_failed, flight.id, now_ns(), kind, message, started)


def finished(connection: ClientConnection, flight: Flight, outcome: Outcome, at: int) -> None:
    request_ns = None if flight.request_done is None else flight.request_done - flight.started
    first = None if flight.response_start is None else flight.response_start - flight.started
    connection.record(
        ExchangeFinished, flight.id, at, outcome, request_ns, first, at - flight.started
    )


def upstream_failed(connection: ClientConnection, message: str, kind: str) -> None:
    """The upstream connection broke (closed early or sent bytes that are not HTTP)."""
    if connection.closing:
        return
    if connection.pending and connection.pending[0].response_start is None:
        answer(connection, connection.pending[0], ProtocolError(message, 502), kind)
        return
    if connection.pending:  # the client has part of a response: all it can learn is the close
        flight = connection.pending.popleft()
        fail(connection, flight, kind, message, True)
        finished(connection, flight, "failed", now_ns())
    connection.close()
