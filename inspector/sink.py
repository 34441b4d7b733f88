"""The sink: one thread per app process that streams the bus's events to a collector.

It subscribes to a bus; the subscriber only moves a batch into the sink's bounded buffer, so
the bus thread never waits on the network. The sink's own thread encodes and sends, in
batches. With no collector listening, or a slow or dead one, the app is unaffected: the buffer
keeps the newest events (at most `capacity` events and `max_bytes` of captured bodies), drops
the oldest and counts them; the thread reconnects with backoff and, once connected again,
first sends an `EventsDropped` saying how many were lost. A forked child (gunicorn workers)
gets a fresh buffer, socket and thread.

On a Unix socket the sink checks that the collector runs as the same user before sending
anything (`SO_PEERCRED`): captured traffic holds secrets.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Sequence

from inspector import codec, wire
from inspector.bus import EventBus
from inspector.events import (
    Event,
    EventsDropped,
    RequestBodyChunk,
    ResponseBodyChunk,
    ResponseBodyWritten,
    WebSocketMessage,
    exchange_id_prefix,
    now_ns,
)

DEFAULT_CAPACITY = 50_000
DEFAULT_MAX_BYTES = 32 << 20
_BATCH = 2_000
"""Events per send: a backlog goes out in slices, each with its own timeout."""
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0
_SEND_TIMEOUT = 5.0


def _weight(event: Event) -> int:
    """The captured bytes an event holds (what makes a buffer of events heavy)."""
    kind = type(event)
    if kind is RequestBodyChunk or kind is ResponseBodyChunk or kind is ResponseBodyWritten:
        return len(event.data)  # type: ignore[attr-defined]
    if kind is WebSocketMessage:
        return len(event.text or event.data or b"")  # type: ignore[attr-defined]
    return 0


class Sink:
    def __init__(
        self,
        address: wire.Address,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        token: str | None = None,
        name: str = "",
    ) -> None:
        self.address = address
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.token = token
        self.name = name or os.path.basename(sys.argv[0] or "python")
        self._closed = False
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        inherited = getattr(self, "_sock", None)
        if inherited is not None:  # a forked child closes only its own copy of the socket
            inherited.close()
        self._buffer: deque[tuple[Event, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self._dropped_reported = 0
        self.sent = 0
        self.encode_errors = 0
        self.connected = False
        self.last_error: str | None = None

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self)

    def __call__(self, events: Sequence[Event]) -> None:
        """The bus subscriber: O(len(events)), no I/O, no encoding."""
        with self._lock:
            buffer = self._buffer
            for event in events:
                weight = _weight(event)
                buffer.append((event, weight))
                self._bytes += weight
            while buffer and (len(buffer) > self.capacity or self._bytes > self.max_bytes):
                self._bytes -= buffer.popleft()[1]
                self.dropped += 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="inspector-sink", daemon=True
                )
                self._thread.start()
            self._ready.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is buffered (if connected), then stop."""
        with self._lock:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the sink thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            try:
                if self._sock is None:
                    if self._closed:
                        return
                    try:
                        self._connect()
                    except OSError as exc:
                        self.last_error = f"{self.address}: {exc}"
                        with self._lock:
                            self._ready.wait_for(lambda: self._closed, backoff)
                        backoff = min(backoff * 2, _BACKOFF_MAX)
                        continue
                with self._lock:
                    self._ready.wait_for(lambda: self._buffer or self._closed, 0.5)
                if self._peer_gone():  # reconnect before sending into a dead connection
                    self._disconnect()
                    continue
                batch, closing = self._take()
                if batch and self._send(batch):
                    backoff = _BACKOFF_FIRST  # only a delivered batch proves the link works
                if closing and not self._buffer:
                    self._disconnect()
                    return
            except Exception as exc:  # never die: a dead sink would buffer, then drop, forever
                self.last_error = f"sink: {exc!r}"
                self._disconnect()

    def _take(self) -> tuple[list[Event], bool]:
        with self._lock:
            buffer = self._buffer
            batch = []
            for _ in range(min(len(buffer), _BATCH)):
                event, weight = buffer.popleft()
                self._bytes -= weight
                batch.append(event)
            lost = self.dropped - self._dropped_reported
            self._dropped_reported = self.dropped
            closing = self._closed
        if lost:
            batch.insert(0, EventsDropped("", now_ns(), lost, self.dropped, "sink"))
        return batch, closing

    def _connect(self) -> None:
        sock = wire.connect(self.address, timeout=_SEND_TIMEOUT)
        try:
            _check_peer(sock)
            prefix, host, pid = exchange_id_prefix(), socket.gethostname(), os.getpid()
            sock.sendall(wire.hello(prefix, host, pid, self.name, self.token))
            answer = sock.makefile("rb").readline(64 << 10)
            error = _refusal(answer)
            if error:
                raise ConnectionRefusedError(f"collector refused us: {error}")
        except BaseException:
            sock.close()
            raise
        self._sock, self.connected = sock, True

    def _encode(self, batch: list[Event]) -> bytes:
        dumps, lines = codec.dumps, []
        for event in batch:
            try:
                lines.append(dumps(event) + "\n")
            except Exception as exc:  # one unencodable event (a hostile repr) is skipped
                self.encode_errors += 1
                self.last_error = f"encoding {type(event).__name__}: {exc!r}"
        return "".join(lines).encode("utf-8", "surrogatepass")

    def _send(self, batch: list[Event]) -> bool:
        data = self._encode(batch)
        try:
            assert self._sock is not None
            self._sock.sendall(data)
        except OSError as exc:
            # What was in flight is lost: count it (not our own report), so the next one says so.
            lost = sum(1 for event in batch if not isinstance(event, EventsDropped))
            with self._lock:
                self.dropped += lost
            self.last_error = f"{self.address}: {exc}"
            self._disconnect()
            return False
        self.sent += len(batch)
        return True

    def _peer_gone(self) -> bool:
        """Whether the collector hung up: after its welcome it sends nothing but an error."""
        assert self._sock is not None
        poller = select.poll()  # not select(): it cannot watch descriptors past 1023
        poller.register(self._sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))  # the end of the stream, or an error line before it

    def _disconnect(self) -> None:
        sock, self._sock, self.connected = self._sock, None, False
        if sock is not None:
            sock.close()


def _check_peer(sock: socket.socket) -> None:
    """Refuse a Unix-socket collector run by another user (one could squat a path in /tmp)."""
    if sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", credentials)
    if uid != os.getuid():
        raise ConnectionRefusedError(f"the collector runs as uid {uid}, not as us: refused")


def _refusal(answer: bytes) -> str | None:
    try:
        message = json.loads(answer)
    except (ValueError, RecursionError):
        return f"unreadable answer {answer[:60]!r}"
    if not isinstance(message, dict):
        return f"unreadable answer {answer[:60]!r}"
    if message.get("welcome"):
        return None
    return str(message.get("error") or "no welcome")


def bus_to(address: str | wire.Address, token: str | None = None) -> EventBus:
    """A new bus whose events stream to the collector at `address`."""
    if isinstance(address, str):
        address = wire.parse_address(address)
    bus = EventBus()
    Sink(address, token=token).attach(bus)
    return bus
