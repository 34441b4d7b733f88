"""`Tunnel`: what the proxy records of a connection after 101 Switching Protocols.

No I/O: the `Connection` forwards the bytes both ways unchanged, as before, and shows them to
its tunnel. For a WebSocket (RFC 6455) each direction gets a `FrameReader` that records
messages (up to `max_ws_messages` per connection, each cut to the body limit), ping and pong
(counted apart, with the same cap), and close frames, each with its sender and payload as
read: still masked and compressed (the observer unmasks and inflates). Any other upgrade is
relayed blind. When either side closes, the exchange ends.
"""

from __future__ import annotations

from collections.abc import Callable

from inspector.events import Sender, now_ns
from inspector.proxy.holds import ActionError
from inspector.proxy.state import Flight, Shared
from inspector.proxy.steered import SteeredDirection
from inspector.proxy.websocket import BINARY, CLOSE, TEXT, FrameReader, deflate_agreed
from inspector.records import PROXY_RESPONSE, WS_CLOSED, WS_CONTROL, WS_FRAME, Pieces


class Tunnel:
    def __init__(
        self,
        shared: Shared,
        flight: Flight,
        head: bytes,
        to_upstream: Callable[[bytes], None] | None = None,
        to_client: Callable[[bytes], None] | None = None,
        pause_side: Callable[[Sender, bool], None] | None = None,
    ) -> None:
        """`head`: the 101's head, through the CRLF ending its last field line; `to_upstream`
        and `to_client` write to either side (the connection's `Io`); `pause_side` stops or
        starts again reading a side (for messages queued behind a held one)."""
        self.shared = shared
        self.flight = flight
        self.to_upstream = to_upstream
        self.to_client = to_client
        self.pause_side = pause_side
        self.head = head
        self.steered_client: SteeredDirection | None = None  # what the client sends
        self.steered_server: SteeredDirection | None = None
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
            steering = shared.steering
            steering.tunnels[flight.id] = self
            if steering.messages is not None:
                self.steer()

    # -- bytes both ways: straight through unless steered ----------------------------------------

    def client_data(self, data: bytes) -> None:
        steered = self.steered_client
        if steered is None:
            assert self.to_upstream is not None
            self.to_upstream(data)
            self.from_client(data)
        else:
            steered.feed(data)

    def upstream_data(self, data: bytes) -> None:
        steered = self.steered_server
        if steered is None:
            assert self.to_client is not None
            self.to_client(data)
            self.from_upstream(data)
        else:
            steered.feed(data)

    def observe(self, sender: Sender, data: bytes) -> None:
        """`data` reached the peer of `sender`: recorded as any relayed bytes."""
        if sender == "client":
            self.from_client(data)
        else:
            self.from_upstream(data)

    def pause(self, sender: Sender, paused: bool) -> None:
        if self.pause_side is not None:
            self.pause_side(sender, paused)

    def steer(self) -> None:
        """From now on both directions go frame by frame (see `steered`)."""
        if self.finished or self.to_upstream is None or self.to_client is None:
            return
        agreed = deflate_agreed(self.head)
        if self.steered_client is None and self.from_client_frames is not None:
            self.steered_client = SteeredDirection(
                self, "client", self.to_upstream, self.from_client_frames, agreed and agreed[0]
            )
        if self.steered_server is None and self.from_server_frames is not None:
            self.steered_server = SteeredDirection(
                self, "server", self.to_client, self.from_server_frames, agreed and agreed[1]
            )

    def blind(self) -> bool:
        return any(
            steered is not None and steered.no_context_takeover is False and steered.context is None
            for steered in (self.steered_client, self.steered_server)
        )

    def inject(self, to: str, opcode: int, payload: bytes) -> None:
        """Writes a message of the viewer's to `to` ("server" or "client")."""
        if opcode not in (TEXT, BINARY):
            raise ActionError("a message's opcode is 1 (text) or 2 (binary)")
        if opcode == TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ActionError("a text message must be valid UTF-8 (RFC 6455 §5.6)") from None
        if self.finished:
            raise ActionError("this WebSocket connection is closed")
        if self.closed_by:
            raise ActionError(
                "this WebSocket connection is closing (a close frame was sent): nothing more"
                " can be sent on it"
            )
        self.steer()
        steered = self.steered_client if to == "server" else self.steered_server
        if steered is None:
            raise ActionError(
                "this connection's frames could not be followed: nothing can be injected"
            )
        steered.inject(opcode, payload)

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
            self.shared.steering.tunnels.pop(flight.id, None)
            for steered in (self.steered_client, self.steered_server):
                if steered is not None:
                    steered.lost()


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
