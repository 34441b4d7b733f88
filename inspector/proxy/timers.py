"""A client connection's own clocks: an idle keep-alive connection, and a stalled request head.

Like nginx's keepalive_timeout and client_header_timeout. `idle_timeout`: a connection with no
request in flight, nothing half-read and no bytes for that long is closed, with its upstream
connection; no exchange exists, so nothing is recorded. `header_timeout`: a request head not
complete that long after its first byte gets 408 (RFC 9110 §15.5.9), or, if responses to
earlier requests are still due, the connection closes after them (a 408 cannot go ahead of
them); either way it is recorded as a failed exchange.

Neither clock runs on the forwarding path: the idle one starts only when the connection
becomes idle (and is cancelled by the first byte after), the head one only when a read leaves a
head incomplete (and is cancelled when the head ends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.events import now_ns
from inspector.proxy import failures
from inspector.proxy.http1 import ProtocolError
from inspector.proxy.state import STOPPED, UPGRADING

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection


def idle(connection: ClientConnection) -> None:
    """Starts the idle clock if `connection` is idle now."""
    if connection.idle_timer is None and _is_idle(connection):
        shared = connection.shared
        delay = shared.config.idle_timeout
        connection.idle_timer = shared.loop.call_later(delay, _idle_expired, connection)


def _is_idle(connection: ClientConnection) -> bool:
    return not (
        connection.closing
        or connection.closed
        or connection.pending
        or connection.rejection is not None
        or connection.tunnel is not None
        or connection.paused & (UPGRADING | STOPPED)
        or not connection.reader.idle
    )


def _idle_expired(connection: ClientConnection) -> None:
    connection.idle_timer = None
    if _is_idle(connection):
        connection.close("the connection was idle")  # holds no exchange: records nothing


def head_started(connection: ClientConnection) -> None:
    """A read left a request head incomplete: its clock starts."""
    shared = connection.shared
    delay = shared.config.header_timeout
    connection.header_timer = shared.loop.call_later(delay, _head_expired, connection, now_ns())


def stop(connection: ClientConnection) -> None:
    for timer in (connection.idle_timer, connection.header_timer):
        if timer is not None:
            timer.cancel()
    connection.idle_timer = connection.header_timer = None


def _head_expired(connection: ClientConnection, since: int) -> None:
    connection.header_timer = None
    partial = connection.reader.partial
    if connection.closing or connection.closed or not partial:
        return
    connection.pause(STOPPED)  # whatever follows is never read as this head's end
    flight = failures.unread(connection, since, partial)
    seconds = f"{connection.shared.config.header_timeout:g}"
    message = f"the request head was not complete within {seconds} s"
    kind = "inspector.proxy.RequestTimeout"
    pending = connection.pending
    if pending:
        failures.fail(connection, flight, kind, message)
        pending[-1].close = True
    else:
        failures.answer(connection, flight, ProtocolError(message, 408), kind)
