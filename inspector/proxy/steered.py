"""`SteeredDirection`: one direction of a WebSocket relayed frame by frame, so the viewer can
inject messages into it and hold the ones an intercept rule matches.

A tunnel's directions start unsteered (bytes go straight through: the common path costs
nothing more); one is steered from the first inject or armed `messages` rule on, taking over
from its `FrameReader` wherever it is (the rest of a frame or message under way goes through
unchanged). Steered, it forwards whole frames: control frames (ping, pong, close) at once,
always; a data message either as it comes, or, while a rule is armed, reassembled (raw frames
kept), matched and held if it matches, later messages queueing behind a held one so order is
kept. Its own frames (injected or edited) go only between messages (RFC 6455 §5.4: never
inside a fragmented one), uncompressed, masked towards the server (§5.3). What reaches the
peer is fed to the `FrameReader`, so what is recorded is what the peer got.

permessage-deflate (RFC 7692): a compressed message can be inflated, matched by `~b`, edited
or dropped only in a direction that negotiated no context takeover; with context takeover each
message's compression refers to all earlier ones, which the relay never inflated, so such a
message is matched with an empty payload (`~b` does not see it), shown without its payload,
and can only be forwarded (dropping or changing it would corrupt every later message).
A frame over `BIG_FRAME` is forwarded as it comes, never held.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inspector.events import Sender, now_ns
from inspector.matching import for_message, matches
from inspector.proxy.holds import ActionError
from inspector.proxy.websocket import BINARY, CLOSE, TEXT, Frame, FrameReader, FrameSplitter
from inspector.proxy.websocket import encode_message as encode
from inspector.records import WS_FRAME

if TYPE_CHECKING:
    from inspector.proxy.tunnel import Tunnel


class _Waiting:
    __slots__ = ("hold", "raw", "size")

    def __init__(self, raw: bytes, hold: int | None) -> None:
        self.raw = raw
        self.hold = hold
        self.size = len(raw)


class SteeredDirection:
    def __init__(
        self,
        tunnel: Tunnel,
        sender: Sender,
        write: Callable[[bytes], None],
        reader: FrameReader,
        no_context_takeover: bool | None,
    ) -> None:
        """`no_context_takeover`: None if permessage-deflate was not agreed."""
        self.tunnel = tunnel
        self.steering = tunnel.shared.steering
        self.sender: Sender = sender
        self.send = write
        self.reader = reader
        self.no_context_takeover = no_context_takeover
        header, left, inside, ends = reader.position()
        self.splitter = FrameSplitter(header, left)
        self.streaming = inside  # a data message is being forwarded as it comes
        self.through_ends = ends  # the frame going through ends that message
        self.building: list[Frame] = []
        self.queue: deque[_Waiting] = deque()
        self.injects: list[tuple[int, bytes]] = []
        self.closed = False

    # -- bytes from the sender ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        for unit in self.splitter.feed(data):
            if unit is None:  # a frame that went through ended
                if self.through_ends:
                    self.through_ends = self.streaming = False
                    self._flush_injects()
            elif isinstance(unit, bytes):
                self._write(unit)
            elif unit.through:
                self._through(unit)
            elif unit.opcode >= CLOSE:
                self._write(unit.raw)  # control frames are never held (§5.5: may interleave)
            else:
                self._data(unit)

    def _through(self, frame: Frame) -> None:
        if frame.opcode < CLOSE:
            if self.building:  # too big to hold: what was reassembled goes first
                self._write(b"".join(f.raw for f in self.building))
                self.building = []
            self.streaming = True
            self.through_ends = frame.fin
        else:
            self.through_ends = False
        self._write(frame.raw)

    def _data(self, frame: Frame) -> None:
        if self.streaming:
            self._write(frame.raw)
            if frame.fin:
                self.streaming = False
                self._flush_injects()
            return
        if not self.building and self.steering.messages is None and not self.queue:
            self._write(frame.raw)  # nothing to match, nothing ahead: as it comes
            self.streaming = not frame.fin
            return
        self.building.append(frame)
        if frame.fin:
            frames, self.building = self.building, []
            self._complete(frames)

    def _complete(self, frames: list[Frame]) -> None:
        raw = b"".join(f.raw for f in frames)
        rule = self.steering.messages
        first = frames[0]
        if rule is None or first.opcode not in (TEXT, BINARY):
            self._pass(raw)
            return
        payload = b"".join(f.payload() for f in frames)
        size = len(payload)
        editable = ""
        if first.rsv1:
            inflated = self._inflate(payload)
            if inflated is None:
                payload, editable = b"", self._why_not()
            else:
                payload = inflated
                size = len(payload)
        if not matches(rule, for_message(self.sender, first.opcode == TEXT, payload, size)):
            self._pass(raw)
            return
        xid = self.tunnel.flight.id
        limit = self.tunnel.shared.body_limit
        waiting = _Waiting(raw, None)
        self.queue.append(waiting)
        waiting.hold = self.steering.hold(
            self, xid, "message", self.sender, first.opcode, b"", payload[:limit], size, editable
        )

    def _pass(self, raw: bytes) -> None:
        if self.queue:
            self.queue.append(_Waiting(raw, None))
        else:
            self._write(raw)

    def _inflate(self, payload: bytes) -> bytes | None:
        if not self.no_context_takeover:
            return None
        try:  # RFC 7692 §7.2.2: append 00 00 ff ff, inflate with a fresh context
            return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        except zlib.error:
            return None

    def _why_not(self) -> str:
        side = "client" if self.sender == "client" else "server"
        return (
            f"this message is compressed, and the {side}'s messages share one compression"
            f" context (no {side}_no_context_takeover was agreed): editing or dropping it would"
            " break every later message; forward it, or inject a new one"
        )

    # -- the viewer's actions -----------------------------------------------------------------

    def inject(self, opcode: int, payload: bytes) -> None:
        if self.streaming:  # never inside a message: after its last frame
            self.injects.append((opcode, payload))
        else:
            self._inject(opcode, payload)

    def release(self, hold: int, action: str, change: dict[str, Any]) -> str:
        waiting = next((w for w in self.queue if w.hold == hold), None)
        if waiting is None:
            raise ActionError(f"hold {hold} is not held any more")
        if action in ("drop", "edit") and self._compressed_in_context(waiting.raw):
            raise ActionError(self._why_not())
        if action == "drop":
            self.queue.remove(waiting)
            done = "dropped"
        elif action == "edit":
            opcode, payload = change.get("opcode"), change.get("payload")
            if opcode not in (TEXT, BINARY) or not isinstance(payload, bytes):
                raise ActionError(
                    "an edited message needs an opcode (1 text, 2 binary) and a payload"
                )
            if opcode == TEXT:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise ActionError("a text message must be valid UTF-8") from None
            waiting.raw = encode(opcode, payload, masked=self.sender == "client")
            done = "edited"
        elif action in ("forward", "timeout"):
            done = "forwarded" if action == "forward" else "timed out"
        else:
            raise ActionError(f"unknown action {action!r}: forward, drop or edit")
        waiting.hold = None
        self._drain()
        return done

    def lost(self) -> None:
        """The connection ended: what was held or queued is gone."""
        self.closed = True
        queue, self.queue = self.queue, deque()
        for waiting in queue:
            if waiting.hold is not None:
                self.steering.lost(waiting.hold)

    # -- writing --------------------------------------------------------------------------------

    def _compressed_in_context(self, raw: bytes) -> bool:
        return bool(raw[0] & 0x40) and not self.no_context_takeover

    def _drain(self) -> None:
        queue = self.queue
        while queue and queue[0].hold is None:
            self._write(queue.popleft().raw)

    def _flush_injects(self) -> None:
        injects, self.injects = self.injects, []
        for opcode, payload in injects:
            self._inject(opcode, payload)

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        self.send(data)
        self.tunnel.observe(self.sender, data)

    def _inject(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            return
        self.send(encode(opcode, payload, masked=self.sender == "client"))
        tunnel = self.tunnel
        limit = tunnel.shared.body_limit
        pieces = [(payload[:limit], None, 0)]
        tunnel.record(
            WS_FRAME,
            tunnel.flight.id,
            now_ns(),
            self.sender,
            opcode,
            pieces,
            len(payload),
            False,
            limit,
            True,
        )
