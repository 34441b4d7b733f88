"""A `Connection`'s clocks (nginx's names) and what each does when it runs out, without I/O.

- keepalive_timeout (`idle_timeout`): nothing in flight, no bytes: the connection closes,
  recording nothing (it holds no exchange).
- client_header_timeout (`header_timeout`): from a head's first byte: 408.
- client_body_timeout (`body_timeout`): between two reads of a request body: 408, or a close
  once part of the response was sent.
- proxy_read_timeout for the head (`response_timeout`): from the request's last byte sent: 504.
- send_timeout (`send_timeout`): a side whose send buffer stays full, reading nothing: both
  connections are reset.

Each clock is a deadline (0: not running); `Clocks` asks its `Io` for one wake at the
earliest, and `tick` sorts out which ran out. The response, body and send clocks stand still
while the viewer holds something (intercept: not a peer's fault), and run from the release
on (`restart`). The deadlines are plain fields: the `Connection` sets them on its per-read
path without a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from inspector.events import Sender
from inspector.proxy.actions import (
    CONNECTING,
    FULL,
    HELD,
    SEND_TIMEOUT,
    STOPPED,
    TIMEOUT,
    Io,
)
from inspector.proxy.http1 import MessageReader, ProtocolError
from inspector.proxy.state import Flight, Shared
from inspector.proxy.tunnel import Tunnel


class Owner(Protocol):
    """What the clocks read of their `Connection`, and what they ask of it when one runs
    out (a Protocol: `connection` imports this module, never the reverse)."""

    shared: Shared
    reader: MessageReader
    request: Flight | None
    flight: Flight | None
    tunnel: Tunnel | None
    paused: int
    closing: bool
    closed: bool

    def is_idle(self) -> bool: ...

    def pause(self, reason: int) -> None: ...

    def unread(self, at: int, data: bytes) -> Flight: ...

    def answer(self, flight: Flight, error: ProtocolError, kind: str) -> None: ...

    def fail(self, flight: Flight, kind: str, message: str) -> None: ...

    def close(self, why: str = ..., reset: bool = ..., reset_upstream: bool = ...) -> None: ...


class Clocks:
    __slots__ = (
        "body_ns",
        "client_full_at",
        "clock",
        "connection",
        "head_at",
        "head_ns",
        "holding",
        "idle_at",
        "idle_ns",
        "io",
        "read_at",
        "response_ns",
        "send_ns",
        "upstream_full_at",
        "wake",
    )

    def __init__(
        self, connection: Owner, io: Io, clock: Callable[[], int], holding: Callable[[], bool]
    ) -> None:
        """`holding`: whether the viewer holds something of this connection now."""
        self.connection = connection
        self.io = io
        self.clock = clock
        self.holding = holding
        config = connection.shared.config
        self.idle_ns = int(config.idle_timeout * 1e9)
        self.head_ns = int(config.header_timeout * 1e9)
        self.body_ns = int(config.body_timeout * 1e9)
        self.response_ns = int(config.response_timeout * 1e9)
        self.send_ns = int(config.send_timeout * 1e9)
        # A deadline each (0: not running), and the one wake asked of `io`.
        self.idle_at = 0
        self.head_at = 0
        self.read_at = 0  # the last read of a request body (its clock runs from there)
        self.client_full_at = 0  # since when the client's send buffer is full
        self.upstream_full_at = 0
        self.wake = 0

    # -- starting and stopping -------------------------------------------------------------------

    def arm(self, deadline: int) -> int:
        """Makes sure `tick` runs by `deadline`; returns it. A clock whose deadline moves
        later asks for nothing: `tick` finds it not due yet and waits again."""
        if not self.wake or deadline < self.wake:
            self.wake = deadline
            self.io.wake_at(deadline)
        return deadline

    def head_started(self) -> None:
        """A head's first byte was read: its clock runs from here."""
        self.head_at = self.arm(self.clock() + self.head_ns)

    def body_started(self, at: int) -> None:
        self.read_at = at
        self.arm(at + self.body_ns)

    def waiting(self, flight: Flight, at: int) -> None:
        """`flight`'s request was sent: the clock for its response head starts."""
        flight.waiting = at
        self.arm(at + self.response_ns)

    def idle(self, now: int) -> None:
        if self.connection.is_idle():
            self.idle_at = self.arm(now + self.idle_ns)

    def full(self, side: Sender) -> None:
        """`side`'s send buffer is full: its send clock starts."""
        now = self.clock()
        if side == "client":
            self.client_full_at = now
        else:
            self.upstream_full_at = now
        self.arm(now + self.send_ns)

    def body_restarts(self) -> None:
        """After a pause that was not the client's, its body clock runs from now."""
        if self.read_at:
            self.read_at = now = self.clock()
            self.arm(now + self.body_ns)

    def restart(self) -> None:
        """A hold ended: the clocks it stopped (response, body, send) run from now, as if
        the viewer's time had not passed."""
        connection = self.connection
        if self.holding():
            return
        now = self.clock()
        flight = connection.flight
        if flight is not None and flight.waiting is not None and not flight.response_started:
            flight.waiting = now
        if self.read_at:
            self.read_at = now
        if self.client_full_at:
            self.client_full_at = now
        if self.upstream_full_at:
            self.upstream_full_at = now
        self.rearm()

    # -- running out -----------------------------------------------------------------------------

    def tick(self) -> None:
        """The wake asked for is due: each clock that ran out acts, the others wait again."""
        self.wake = 0
        connection = self.connection
        if connection.closing or connection.closed:
            return
        now = self.clock()
        if 0 < self.idle_at <= now:
            self.idle_at = 0
            if connection.is_idle():
                connection.close("the connection was idle")  # holds no exchange: records nothing
                return
        if 0 < self.head_at <= now:
            since, self.head_at = self.head_at - self.head_ns, 0
            if connection.reader.holding:
                self._head_expired(since)
                return
        if 0 < self._response_deadline() <= now:
            shared = connection.shared
            seconds = f"{shared.config.response_timeout:g}"
            message = f"upstream {shared.upstream} sent no response within {seconds} s"
            assert connection.flight is not None
            connection.answer(connection.flight, ProtocolError(message, 504), "TimeoutError")
            return
        if 0 < self._body_deadline() <= now:
            self._body_expired()
            return
        if 0 < self._send_deadline(self.client_full_at) <= now:
            self._send_expired("client")
            return
        if 0 < self._send_deadline(self.upstream_full_at) <= now:
            self._send_expired("server")
            return
        self.rearm()

    def rearm(self) -> None:
        deadlines = (
            self.idle_at,
            self.head_at,
            self._response_deadline(),
            self._body_deadline(),
            self._send_deadline(self.client_full_at),
            self._send_deadline(self.upstream_full_at),
        )
        running = [deadline for deadline in deadlines if deadline]
        if running:
            self.arm(min(running))

    def _send_deadline(self, full_at: int) -> int:
        """A side's send clock, unless the viewer holds something (then nothing moves on
        purpose: not the side's fault)."""
        if not full_at or self.holding():
            return 0
        return full_at + self.send_ns

    def _response_deadline(self) -> int:
        flight = self.connection.flight
        if flight is None or flight.waiting is None or flight.response_started:
            return 0
        if self.holding():
            return 0
        return flight.waiting + self.response_ns

    def _body_deadline(self) -> int:
        """The body clock runs while a request body is read, unless the proxy itself paused
        reading (the upstream is slow to connect or to read: not the client's fault)."""
        connection = self.connection
        if not self.read_at or connection.paused & (FULL | CONNECTING | HELD) or self.holding():
            return 0
        return self.read_at + self.body_ns

    def _head_expired(self, since: int) -> None:
        connection = self.connection
        connection.pause(STOPPED)  # whatever follows is never read as this head's end
        flight = connection.unread(since, connection.reader.partial)
        seconds = f"{connection.shared.config.header_timeout:g}"
        message = f"the request head was not complete within {seconds} s"
        connection.answer(flight, ProtocolError(message, 408), TIMEOUT)

    def _body_expired(self) -> None:
        """No byte of a request body for `body_timeout`: 408 if nothing was answered yet,
        else the connection closes; the upstream connection, holding a partial request that
        can never end, closes either way."""
        connection = self.connection
        request = connection.request
        assert request is not None
        self.read_at = 0
        connection.pause(STOPPED)
        seconds = f"{connection.shared.config.body_timeout:g}"
        message = f"the request body stalled: no bytes for {seconds} s"
        if request is connection.flight and not request.response_started:
            connection.answer(request, ProtocolError(message, 408), TIMEOUT)
        else:
            connection.fail(request, TIMEOUT, message)
            connection.close(message, reset=request.response_started)

    def _send_expired(self, side: Sender) -> None:
        """A side read nothing of what was sent to it for `send_timeout`: both connections
        are reset (a plain close would wait for ever to send what it will not read)."""
        connection = self.connection
        seconds = f"{connection.shared.config.send_timeout:g}"
        who = "the client" if side == "client" else f"upstream {connection.shared.upstream}"
        message = f"{who} read nothing of what was sent to it for {seconds} s"
        flight = connection.flight or connection.request
        tunnel = connection.tunnel
        if tunnel is not None:
            tunnel.finished = True
            flight = tunnel.flight
        if flight is not None:
            connection.fail(flight, SEND_TIMEOUT, message)
        connection.close(message, reset=True, reset_upstream=True)
