"""`Tunnel`: what the proxy records of a connection after 101 Switching Protocols.

No I/O: the `Connection` forwards the bytes both ways unchanged, as before, and shows them to
its tunnel. For a WebSocket (RFC 6455) each direction gets a `FrameReader` that records
messages (up to `max_ws_messages` per connection, each cut to the body limit), ping and pong
(counted apart, with the same cap), and close frames, each with its sender and payload as
read: still masked and compressed (the observer unmasks and inflates). Any other upgrade is
relayed blind. When either side closes, the exchange ends.
"""

from __future__ import annotations

from inspector.events import Sender, now_ns
from inspector.proxy.state import Flight, Shared
from inspector.proxy.websocket import CLOSE, FrameReader
from inspector.records import PROXY_RESPONSE, WS_CLOSED, WS_CONTROL, WS_FRAME, Pieces


class Tunnel:
    def __init__(self, shared: Shared, flight: Flight, head: bytes) -> None:
        """`head`: the 101's head, through the CRLF ending its last field line."""
        self.shared = shared
        self.flight = flight
        self.record = shared.recorder.record
        self.finished = False
        self.closed_by: set[Sender] = set()
        self.messages = 0
        self.controls = 0  # ping, pong and reserved control frames recorded
        self.max_messages = shared.config.max_ws_messages
        self.from_client_frames: FrameReader | None = None
        self.from_server_frames: FrameReader | None = None
        flight.response_started = True
        # The observer reads the 101 for what was agreed (subprotocol, permessage-deflate).
        self.record(PROXY_RESPONSE, flight.id, now_ns(), head, flight.websocket, shared.redact)
        if flight.websocket:
            limit = shared.body_limit
            self.from_client_frames = FrameReader(_Side(self, "client"), limit)
            self.from_server_frames = FrameReader(_Side(self, "server"), limit)

    def from_client(self, data: bytes) -> None:
        frames = self.from_client_frames
        if frames is not None:
            try:
                frames.feed(data)
            except Exception as exc:  # capture must never break the relay
                self.from_client_frames = None
                self.shared.recorder.failed(self.flight.id, "proxy.websocket", exc)

    def from_upstream(self, data: bytes) -> None:
        frames = self.from_server_frames
        if frames is not None:
            try:
                frames.feed(data)
            except Exception as exc:
                self.from_server_frames = None
                self.shared.recorder.failed(self.flight.id, "proxy.websocket", exc)

    def stop_keeping(self) -> None:
        for frames in (self.from_client_frames, self.from_server_frames):
            if frames is not None:
                frames.limit = 0

    def lost(self, side: Sender) -> None:
        """`side`'s connection closed (the other one closes too): the exchange ends."""
        if not self.finished:
            self.finished = True
            flight = self.flight
            at = now_ns()
            if flight.websocket and not self.closed_by:  # RFC 6455 §7.1.5: no close frame
                self.record(WS_CLOSED, flight.id, at, side, 1006, "", True)
            flight.finish(self.record, "completed", at)


class _Side:
    """Records what one side of a WebSocket sent (the `FrameReader`'s sink)."""

    __slots__ = ("limit", "sender", "tunnel")

    def __init__(self, tunnel: Tunnel, sender: Sender) -> None:
        self.tunnel = tunnel
        self.sender: Sender = sender
        self.limit = tunnel.shared.body_limit

    def message(self, opcode: int, pieces: Pieces, size: int, compressed: bool) -> None:
        # Also a frame with a reserved opcode (RFC 6455 §5.2): it uses up the cap all the same.
        tunnel = self.tunnel
        if tunnel.messages >= tunnel.max_messages:
            tunnel.stop_keeping()
            return
        tunnel.messages += 1
        xid = tunnel.flight.id
        tunnel.record(
            WS_FRAME, xid, now_ns(), self.sender, opcode, pieces, size, compressed, self.limit
        )

    def control(self, opcode: int, pieces: Pieces) -> None:
        # §5.5: close, ping, pong (and reserved control opcodes), at most 125 bytes each.
        tunnel = self.tunnel
        if opcode == CLOSE:
            tunnel.closed_by.add(self.sender)
        elif tunnel.controls < tunnel.max_messages:  # they do not use up the messages' cap
            tunnel.controls += 1
        else:
            return
        tunnel.record(WS_CONTROL, tunnel.flight.id, now_ns(), self.sender, opcode, pieces)
