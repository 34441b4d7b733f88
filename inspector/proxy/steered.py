"""`SteeredDirection`: one direction of a WebSocket relayed frame by frame, so the viewer can
inject messages into it and hold the ones an intercept rule matches.

A tunnel's directions start unsteered (bytes go straight through: the common path costs
nothing more); one is steered from the first inject or armed `messages` rule on, taking over
from its `FrameReader` wherever it is (the rest of a frame or message under way goes through
unchanged). Steered, it forwards whole frames: control frames (ping, pong, close) at once,
always; a data message either as it comes, or, while a rule is armed, reassembled (raw frames
kept), matched and held if it matches, later messages queueing behind a held one so order is
kept. Reading the sender pauses while more than `QUEUE_LIMIT` bytes wait behind a hold (and
resumes once the viewer lets them go), so a held message never makes the relay buffer
without bound. Its own frames (injected or edited) go only between messages (RFC 6455 §5.4: never
inside a fragmented one), uncompressed, masked towards the server (§5.3). What reaches the
peer is fed to the `FrameReader`, so what is recorded is what the peer got.

permessage-deflate (RFC 7692): a compressed message can be edited or dropped only in a
direction that negotiated no context takeover; with context takeover each message's
compression refers to all earlier ones, so dropping or changing one would corrupt every later
message: it can only be forwarded. It can still be inflated (for `~b` and the viewer) when
the direction was steered from the connection's start (a rule was armed when it opened): the
relay then inflates every compressed message of that direction, in order, keeping the shared
context. Steered later, the earlier messages were never inflated, so such a message is matched
with an empty payload (`~b` does not see it) and shown without it. A frame over `BIG_FRAME`
is forwarded as it comes, never held (and ends the shared context's use).
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from inspector.events import Sender, now_ns
from inspector.matching import for_message, matches
from inspector.proxy.holds import ActionError
from inspector.proxy.state import Flight, Record, Shared
from inspector.proxy.websocket import BINARY, CLOSE, TEXT, Frame, FrameReader, FrameSplitter
from inspector.proxy.websocket import encode_message as encode
from inspector.records import WS_FRAME

QUEUE_LIMIT = 1 << 20
"""Bytes of held and queued messages past which the sender's reads pause."""


class Tunnel(Protocol):
    """What a steered direction needs of its `inspector.proxy.tunnel.Tunnel`."""

    shared: Shared
    flight: Flight
    messages: int
    record: Record

    def observe(self, sender: Sender, data: bytes) -> None: ...

    def pause(self, sender: Sender, paused: bool) -> None:
        """Stop (or start again) reading what `sender` sends."""


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
        self.queued = 0  # bytes in `queue`
        self.paused = False  # the sender's reads, for the queue's sake
        self.injects: list[tuple[int, bytes]] = []
        self.closed = False
        # The shared inflate context of a direction with context takeover, while every one of
        # its compressed messages since the start has been inflated here.
        self.context: Any = None
        fresh = left < 0 and not header and not inside and not tunnel.messages
        if no_context_takeover is False and fresh:  # nothing of this connection passed yet
            self.context = zlib.decompressobj(-15)

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
            self.context = None  # this message is never inflated: the context is lost
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
        if (
            not self.building
            and self.steering.messages is None
            and not self.queue
            and self.context is None
        ):
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
        inflated: bytes | None = None
        if self.context is not None and first.rsv1:  # kept in step, matched or not
            inflated = self._inflate_shared(b"".join(f.payload() for f in frames))
        if rule is None or first.opcode not in (TEXT, BINARY):
            self._pass(raw)
            return
        payload = b"".join(f.payload() for f in frames)
        size = len(payload)
        editable = ""
        if first.rsv1:
            editable = "" if self.no_context_takeover else self._why_not()
            if inflated is None:
                inflated = self._inflate(payload)
            if inflated is None:
                payload = b""
            else:
                payload = inflated
                size = len(payload)
        if not matches(rule, for_message(self.sender, first.opcode == TEXT, payload, size)):
            self._pass(raw)
            return
        xid = self.tunnel.flight.id
        limit = self.tunnel.shared.body_limit
        waiting = _Waiting(raw, None)
        self._enqueue(waiting)
        waiting.hold = self.steering.hold(
            self, xid, "message", self.sender, first.opcode, b"", payload[:limit], size, editable
        )

    def _pass(self, raw: bytes) -> None:
        if self.queue:
            self._enqueue(_Waiting(raw, None))
        else:
            self._write(raw)

    def _inflate_shared(self, payload: bytes) -> bytes | None:
        inflated = self._inflate_with(self.context, payload)
        if inflated is None:
            self.context = None
        return inflated

    def _inflate(self, payload: bytes) -> bytes | None:
        if not self.no_context_takeover:
            return None
        return self._inflate_with(zlib.decompressobj(-15), payload)

    def _inflate_with(self, inflater: Any, payload: bytes) -> bytes | None:
        """RFC 7692 §7.2.2: the payload and 00 00 ff ff, inflated all through (a shared
        context needs every byte), keeping at most the body limit (a few kilobytes may
        inflate to gigabytes)."""
        limit, kept = self.tunnel.shared.body_limit, bytearray()
        data = payload + b"\x00\x00\xff\xff"
        try:
            while data:
                piece = inflater.decompress(data, 256 * 1024)
                if len(kept) < limit:
                    kept += piece[: limit - len(kept)]
                data = inflater.unconsumed_tail
                if not piece:
                    break
        except zlib.error:
            return None
        return bytes(kept)

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
            self.queued -= waiting.size
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
            self.queued += len(waiting.raw) - waiting.size
            waiting.size = len(waiting.raw)
            done = "edited"
        elif action in ("forward", "timeout"):
            done = "forwarded" if action == "forward" else "timed out"
        else:
            raise ActionError(f"unknown action {action!r}: forward, drop or edit")
        waiting.hold = None
        self._drain()
        if self.paused and self.queued <= QUEUE_LIMIT and not self.closed:
            self.paused = False
            self.tunnel.pause(self.sender, False)
        return done

    def lost(self) -> None:
        """The connection ended: what was held or queued is gone."""
        self.closed = True
        queue, self.queue = self.queue, deque()
        self.queued = 0
        for waiting in queue:
            if waiting.hold is not None:
                self.steering.lost(waiting.hold)

    # -- writing --------------------------------------------------------------------------------

    def _compressed_in_context(self, raw: bytes) -> bool:
        return bool(raw[0] & 0x40) and not self.no_context_takeover

    def _enqueue(self, waiting: _Waiting) -> None:
        self.queue.append(waiting)
        self.queued += waiting.size
        if self.queued > QUEUE_LIMIT and not self.paused:
            self.paused = True
            self.tunnel.pause(self.sender, True)

    def _drain(self) -> None:
        queue = self.queue
        while queue and queue[0].hold is None:
            waiting = queue.popleft()
            self.queued -= waiting.size
            self._write(waiting.raw)

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
