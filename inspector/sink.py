"""The sink: one thread per app process that streams the bus's events to a collector.

It subscribes to a bus; the subscriber only moves a batch into the sink's bounded buffer, so
the bus thread never waits on the network. The sink's own thread encodes and sends, in
batches. With no collector listening, or a slow or dead one, the app is unaffected: the buffer
keeps the newest `capacity` events, drops the oldest and counts them; the thread reconnects
with backoff and, once connected again, first sends an `EventsDropped` saying how many were
lost. A forked child (gunicorn workers) gets a fresh buffer, socket and thread.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import threading
from collections import deque
from collections.abc import Sequence

from inspector import codec, wire
from inspector.bus import EventBus
from inspector.events import Event, EventsDropped, exchange_id_prefix, now_ns

DEFAULT_CAPACITY = 50_000
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0
_SEND_TIMEOUT = 5.0


class Sink:
    def __init__(
        self,
        address: wire.Address,
        *,
        capacity: int = DEFAULT_CAPACITY,
        token: str | None = None,
        name: str = "",
    ) -> None:
        self.address = address
        self.capacity = capacity
        self.token = token
        self.name = name or os.path.basename(sys.argv[0] or "python")
        self._closed = False
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        inherited = getattr(self, "_sock", None)
        if inherited is not None:  # a forked child closes only its own copy of the socket
            inherited.close()
        self._buffer: deque[Event] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self._dropped_reported = 0
        self.sent = 0
        self.connected = False
        self.last_error: str | None = None

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self)

    def __call__(self, events: Sequence[Event]) -> None:
        """The bus subscriber: O(len(events)), no I/O."""
        with self._lock:
            buffer = self._buffer
            buffer.extend(events)
            over = len(buffer) - self.capacity
            if over > 0:
                for _ in range(over):
                    buffer.popleft()
                self.dropped += over
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
                backoff = _BACKOFF_FIRST
            with self._lock:
                self._ready.wait_for(lambda: self._buffer or self._closed, 0.5)
            if self._peer_gone():  # reconnect before sending into a dead connection
                self._disconnect()
                continue
            with self._lock:
                batch = list(self._buffer)
                self._buffer.clear()
                lost = self.dropped - self._dropped_reported
                self._dropped_reported = self.dropped
                closing = self._closed
            if lost:
                batch.insert(0, EventsDropped("", now_ns(), lost, self.dropped, "sink"))
            if batch:
                self._send(batch)
            if closing:
                self._disconnect()
                return

    def _connect(self) -> None:
        sock = wire.connect(self.address, timeout=_SEND_TIMEOUT)
        try:
            sock.sendall(
                wire.hello(
                    exchange_id_prefix(), socket.gethostname(), os.getpid(), self.name, self.token
                )
            )
            answer = sock.makefile("rb").readline(wire.MAX_LINE)
            error = _refusal(answer)
            if error:
                raise ConnectionRefusedError(f"collector refused us: {error}")
        except BaseException:
            sock.close()
            raise
        self._sock, self.connected = sock, True

    def _send(self, batch: list[Event]) -> None:
        dumps = codec.dumps
        data = "".join([dumps(event) + "\n" for event in batch]).encode()
        try:
            assert self._sock is not None
            self._sock.sendall(data)
        except OSError as exc:
            # What was in flight is lost: count it, so the next report says so.
            with self._lock:
                self.dropped += len(batch)
            self.last_error = f"{self.address}: {exc}"
            self._disconnect()
            return
        self.sent += len(batch)

    def _peer_gone(self) -> bool:
        """Whether the collector hung up: after its welcome it sends nothing but an error."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)  # the end of the stream, or an error line before it

    def _disconnect(self) -> None:
        sock, self._sock, self.connected = self._sock, None, False
        if sock is not None:
            sock.close()


def _refusal(answer: bytes) -> str | None:
    try:
        message = json.loads(answer)
    except ValueError:
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
