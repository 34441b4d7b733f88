"""`Tunnel`: a client connection and its upstream connection after 101 Switching Protocols.

Bytes pass both ways unchanged, as before. For a WebSocket (RFC 6455) each direction gets a
`FrameReader` that records messages (up to `max_ws_messages` per connection, each cut to the
body limit), ping and pong (counted apart, with the same cap), and close frames with their
code, reason and sender. Any other upgrade is relayed blind. When either side closes, so does
the other, and the exchange ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.events import Sender, WebSocketClosed, now_ns
from inspector.proxy import record as rec
from inspector.proxy.http1 import field_values
from inspector.proxy.state import UPGRADING, Flight
from inspector.proxy.websocket import (
    BINARY,
    CLOSE,
    TEXT,
    FrameReader,
    Inflater,
    Pieces,
    closed_event,
    deflate_params,
    message_event,
    relayed_event,
)

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection
    from inspector.proxy.upstream import UpstreamConnection


class Tunnel:
    def __init__(
        self,
        client: ClientConnection,
        upstream: UpstreamConnection,
        flight: Flight,
        data: bytes,
        start: int,
        end: int,
        low: bytes,
    ) -> None:
        self.client = client
        self.upstream = upstream
        self.flight = flight
        self.record = client.record
        self.finished = False
        self.closed_by: set[Sender] = set()
        self.messages = 0
        self.controls = 0  # ping, pong and reserved control frames recorded
        self.max_messages = client.shared.config.max_ws_messages
        self.from_client_frames: FrameReader | None = None
        self.from_server_frames: FrameReader | None = None
        at = flight.response_start = now_ns()
        redact = client.shared.redact
        if flight.websocket:
            self.record(rec.websocket_accepted, flight.id, at, data, start, end, redact)
            limit = client.shared.body_limit
            # RFC 7692 §7.1: each direction's compression context, as the 101 agreed.
            deflate = deflate_params(field_values(low, b"\r\nsec-websocket-extensions:"))
            inflaters = (None, None) if deflate is None else tuple(map(Inflater, deflate))
            self.from_client_frames = FrameReader(_Side(self, "client", inflaters[0]), limit)
            self.from_server_frames = FrameReader(_Side(self, "server", inflaters[1]), limit)
        else:
            self.record(rec.response_started, flight.id, at, data, start, end, redact)

    def start(self, upstream_rest: bytes) -> None:
        """Take over both connections; the bytes each side sent after the handshake follow."""
        client = self.client
        if client.pending and client.pending[0] is self.flight:
            client.pending.popleft()
        client.tunnel = self
        if upstream_rest:
            self.from_upstream(upstream_rest)
        held, client.held = client.held, b""
        if held:
            self.from_client(held)
        client.resume(UPGRADING)

    def from_client(self, data: bytes) -> None:
        self.upstream.transport.write(data)
        frames = self.from_client_frames
        if frames is not None:
            try:
                frames.feed(data)
            except Exception as exc:  # capture must never break the relay
                self.from_client_frames = None
                self.client.shared.bus.capture_failed(self.flight.id, "proxy.websocket", exc)

    def from_upstream(self, data: bytes) -> None:
        self.client.transport.write(data)
        frames = self.from_server_frames
        if frames is not None:
            try:
                frames.feed(data)
            except Exception as exc:
                self.from_server_frames = None
                self.client.shared.bus.capture_failed(self.flight.id, "proxy.websocket", exc)

    def stop_keeping(self) -> None:
        for frames in (self.from_client_frames, self.from_server_frames):
            if frames is not None:
                frames.limit = 0

    def lost(self, side: Sender) -> None:
        """`side`'s connection closed: close the other one and end the exchange."""
        if not self.finished:
            self.finished = True
            flight = self.flight
            at = now_ns()
            if flight.websocket and not self.closed_by:  # RFC 6455 §7.1.5: no close frame
                self.record(WebSocketClosed, flight.id, at, side, 1006, "", True)
            flight.finish(self.record, "completed", at)
        if side == "client":
            self.upstream.transport.close()
        else:
            self.client.transport.close()


class _Side:
    """Records what one side of a WebSocket sent (the `FrameReader`'s sink)."""

    __slots__ = ("inflater", "sender", "tunnel")

    def __init__(self, tunnel: Tunnel, sender: Sender, inflater: Inflater | None) -> None:
        self.tunnel = tunnel
        self.sender: Sender = sender
        self.inflater = inflater

    def message(self, opcode: int, pieces: Pieces, size: int, compressed: bool) -> None:
        tunnel = self.tunnel
        if tunnel.messages >= tunnel.max_messages:
            tunnel.stop_keeping()
            return
        tunnel.messages += 1
        xid = tunnel.flight.id
        if opcode != TEXT and opcode != BINARY:  # §5.2: reserved, meaning only an extension's
            tunnel.record(relayed_event, xid, now_ns(), self.sender, opcode)
            return
        inflater = self.inflater if compressed else None
        limit = tunnel.client.shared.body_limit
        sender = self.sender
        tunnel.record(message_event, xid, now_ns(), sender, opcode, pieces, size, limit, inflater)

    def control(self, opcode: int, pieces: Pieces) -> None:
        tunnel = self.tunnel
        if opcode == CLOSE:
            tunnel.closed_by.add(self.sender)
            tunnel.record(closed_event, tunnel.flight.id, now_ns(), self.sender, pieces)
        elif tunnel.controls < tunnel.max_messages:  # they do not use up the messages' cap
            tunnel.controls += 1
            tunnel.record(relayed_event, tunnel.flight.id, now_ns(), self.sender, opcode)
