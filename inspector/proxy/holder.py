"""A `Connection`'s HTTP intercept: what it keeps back for the viewer, and how it lets it go.

While the viewer armed a `requests` rule, a request it matches (on its head, or on its body
where the rule needs it) is kept back, nothing of it reaching the upstream: its head and body
up to the body limit, then the client's reads pause (HELD). A `responses` rule keeps a
response from the client the same way, pausing the upstream's reads (KEPT). A WebSocket
handshake may be held; its 101 never is (the protocol changes there). The viewer forwards it
(the bytes as read; the rest streams on), edits it (only one read whole within the limit), or
drops it (a request gets the proxy's 502, a response closes the client's connection);
`hold_timeout` forwards it. What is recorded is what the sender sent; the release says
whether the peer got it, edited, or nothing, and an edit is recorded as forwarded (`EDITED`).

`HttpHolder` is the `holds.Holder` of one HTTP connection. What is kept back sits where the
per-read path looks for it: the request in `Connection.caught_request`, the response in
`Responses.caught`; the pure pieces (`Caught`, subjects, edit checks) are in `intercept`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from inspector.events import Sender
from inspector.matching import Rule, Subject, matches
from inspector.proxy.actions import HELD, KEPT, OPEN, Io
from inspector.proxy.clocks import Clocks
from inspector.proxy.holds import ActionError
from inspector.proxy.http1 import CHUNKED, LENGTH, NO_BODY, MessageReader, ProtocolError
from inspector.proxy.intercept import (
    Caught,
    edited_request,
    edited_response,
    needs_body,
    request_subject,
    response_subject,
)
from inspector.proxy.request import RequestHead
from inspector.proxy.responses import Responses
from inspector.proxy.state import Flight, Record, Shared
from inspector.records import EDITED


class Owner(Protocol):
    """What the holder reads and asks of its `Connection` (a Protocol: `connection` imports
    this module, never the reverse)."""

    shared: Shared
    io: Io
    clock: Callable[[], int]
    record: Record
    clocks: Clocks
    responses: MessageReader
    response_side: Responses
    flight: Flight | None
    caught_request: Caught | None
    upstream: int
    closing: bool
    closed: bool

    def to_upstream(self, data: bytes) -> None: ...

    def forwarded(self, flight: Flight, at: int) -> None: ...

    def upstream_data(self, data: bytes) -> None: ...

    def pause(self, reason: int) -> None: ...

    def resume(self, reason: int) -> None: ...

    def pause_upstream(self, reason: int) -> None: ...

    def resume_upstream(self, reason: int) -> None: ...

    def answer(self, flight: Flight, error: ProtocolError, kind: str) -> None: ...

    def fail(self, flight: Flight, kind: str, message: str) -> None: ...

    def close(self, why: str = ..., reset: bool = ..., reset_upstream: bool = ...) -> None: ...


class HttpHolder:
    __slots__ = ("connection", "shared")

    def __init__(self, connection: Owner) -> None:
        self.connection = connection
        self.shared = connection.shared

    # -- catching --------------------------------------------------------------------------------

    def watch(self, flight: Flight, head: bytes, request: RequestHead) -> Caught | None:
        """An HTTP rule is armed: this request is kept back if the `requests` rule matches its
        head, or needs its body to tell; its body is kept for a `responses` rule's `~bq`."""
        steering, limit = self.shared.steering, self.shared.body_limit
        if steering.responses is not None:
            flight.asked_body = bytearray()
        rule = steering.requests
        if rule is None:
            return None
        total = -1 if request.framing == CHUNKED else request.length
        if needs_body(rule):
            return Caught("request", flight, head, rule, limit, total)
        if matches(rule, request_subject(head, b"", total)):
            return Caught("request", flight, head, None, limit, total)
        return None

    def watch_response(
        self, flight: Flight, head: bytes, rule: Rule, framing: tuple[int, int]
    ) -> Caught | None:
        kind, length = framing
        total = length if kind == LENGTH else 0 if kind == NO_BODY else -1
        limit = self.shared.body_limit
        if needs_body(rule):
            return Caught("response", flight, head, rule, limit, total)
        if matches(rule, response_subject(_asked(flight), head, b"", total)):
            return Caught("response", flight, head, None, limit, total)
        return None

    def decide(self, caught: Caught) -> None:
        """`caught` is in as far as the viewer will see it: held, or let go if its rule
        needed the body and does not match it."""
        rule, body = caught.rule, bytes(caught.kept)
        if rule is not None:
            if caught.what == "request":
                subject = request_subject(caught.head, body, caught.total)
            else:
                asked = _asked(caught.flight)
                subject = response_subject(asked, caught.head, body, caught.total)
            if not matches(rule, subject):
                self._send(caught, b"".join(caught.raw))
                return
        sender: Sender = "client" if caught.what == "request" else "server"
        caught.hold = self.shared.steering.hold(
            self,
            caught.flight.id,
            caught.what,
            sender,
            0,
            caught.head,
            body,
            caught.total,
            caught.editable,
        )
        # The rest waits where it is (in the sender's socket buffer, then the sender).
        if caught.what == "response":
            self.connection.pause_upstream(KEPT)
        elif not caught.ended:
            self.connection.pause(HELD)

    def holding(self) -> bool:
        """Whether the viewer holds something of this connection now."""
        request, response = self.connection.caught_request, self.connection.response_side.caught
        return (request is not None and request.hold is not None) or (
            response is not None and response.hold is not None
        )

    def lose(self) -> None:
        """The connection is ending: what it holds is lost, unsent."""
        connection, steering = self.connection, self.shared.steering
        side = connection.response_side
        for caught in (connection.caught_request, side.caught):
            if caught is not None and caught.hold is not None:
                steering.lost(caught.hold)
        connection.caught_request = side.caught = None

    # -- letting go (`holds.Holder`) -------------------------------------------------------------

    def release(self, hold: int, action: str, change: dict[str, Any]) -> str:
        """The viewer's action on a hold of this connection."""
        connection = self.connection
        caught = next(
            (
                c
                for c in (connection.caught_request, connection.response_side.caught)
                if c and c.hold == hold
            ),
            None,
        )
        if caught is None or connection.closing or connection.closed:
            raise ActionError(f"hold {hold} is not held any more")
        if action == "forward" or action == "timeout":
            self._send(caught, b"".join(caught.raw))
            return "forwarded" if action == "forward" else "timed out"
        if action == "edit":
            if caught.editable:
                raise ActionError(caught.editable)
            head, body = change.get("head"), change.get("body") or b""
            if not isinstance(head, bytes) or not isinstance(body, bytes):
                raise ActionError(f"an edited {caught.what} needs a head and a body (bytes)")
            if caught.what == "request":
                wire = self._edited_request(caught.flight, head, body)
            else:
                wire, close = edited_response(head, body, caught.flight.head)
                caught.flight.close = caught.flight.close or close
            # What goes on instead of what was held (recorded as read): the exchange must
            # show what the peer really got. `wire` is the head, its blank line, the body.
            sent = wire[: len(wire) - len(body) - 2]
            at = connection.clock()
            connection.record(EDITED, caught.flight.id, at, hold, caught.what, sent, body)
            self._send(caught, wire)
            return "edited"
        if action == "drop":
            self._drop(caught)
            return "dropped"
        raise ActionError(f"unknown action {action!r}: forward, drop or edit")

    def _edited_request(self, flight: Flight, head: bytes, body: bytes) -> bytes:
        shared = self.shared
        wire, request = edited_request(head, body, shared.authorities, shared.upstream)
        if request.upgrade != flight.upgrade:
            raise ActionError(
                "an edited request cannot start or stop a protocol upgrade (Connection:"
                " upgrade, with no body)"
            )
        flight.head = request.method == b"HEAD"  # its response then has no content
        flight.close = flight.close or request.close
        flight.websocket = request.websocket
        flight.replay = None
        return wire

    def _send(self, caught: Caught, data: bytes) -> None:
        """`data` (`caught` as read, or the viewer's edit) goes on its way; what follows
        it streams again, and the clocks the hold stopped run again from now."""
        connection = self.connection
        flight = caught.flight
        if caught.what == "request":
            connection.caught_request = None
            if connection.upstream == OPEN:  # else once connected (`upstream_connected`)
                connection.forwarded(flight, connection.clock())
            connection.to_upstream(data)
            if flight.request_done and flight is connection.flight:
                connection.clocks.waiting(flight, connection.clock())
            connection.clocks.restart()
            connection.resume(HELD)
            return
        side = connection.response_side
        side.caught = None
        connection.io.to_client(data)
        connection.clocks.restart()
        if caught.ended:
            connection.responses.resume()
            side.done()
            stash, side.stash = side.stash, b""
            connection.upstream_data(stash)  # writes nothing, or a stray response's error
        if not connection.closing:
            connection.resume_upstream(KEPT)

    def _drop(self, caught: Caught) -> None:
        connection = self.connection
        flight = caught.flight
        upstream = self.shared.upstream
        if caught.what == "request":  # the client gets the proxy's answer instead
            connection.caught_request = None
            message = f"the viewer dropped this request (intercept): it never reached {upstream}"
            connection.answer(flight, ProtocolError(message, 502), "inspector.proxy.Dropped")
            return
        connection.response_side.caught = None
        message = "the viewer dropped this response (intercept): the client's connection closed"
        connection.fail(flight, "inspector.proxy.Dropped", message)
        if connection.flight is flight:
            connection.flight = None
        connection.close(message)


def _asked(flight: Flight) -> Subject:
    return request_subject(flight.asked, bytes(flight.asked_body or b""), -1)
