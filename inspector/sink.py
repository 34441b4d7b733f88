"""The sink: ships one process's records to a collector, from a thread of its own.

Capture points call `sink.record(...)`, which only encodes into the sink's bounded
`RecordBuffer` (see `inspector.records`). The sink's thread connects when the sink is made (so
a viewer shows the process before any traffic), wakes every few milliseconds and sends what
was recorded as one frame, reading the collector's acknowledgements and control messages in
between. With no collector, or a slow or dead one, the app is unaffected: the buffer keeps the
newest records and counts the oldest it drops; the thread reconnects with backoff and first
reports the loss (a `Dropped` record): records dropped while buffered plus those sent on a
connection that broke before the collector acknowledged them. A forked child (gunicorn
workers) gets a fresh buffer, socket and thread.

The count is exact because the sink leaves it to the collector to end a connection: its socket
never blocks, and it waits for a slow or stopped collector (one stopped with Ctrl-Z reads, once
resumed, every frame it was sent: had the sink hung up, those would arrive and be counted lost
too). Before counting a broken connection's loss it reads what the collector sent last: its
acknowledgements, and its reason for hanging up. Only a TCP collector that reads nothing for
`TCP_STALL` seconds is taken for dead: its host may be gone without a word, which a Unix
socket's peer never is.

On a Unix socket the sink checks that the collector runs as the same user before sending
anything (`SO_PEERCRED`): captured traffic holds secrets.

A sink that has reached no collector `UNREACHED_AFTER` seconds after it was made tells
`on_unreached` so, once, from its thread (what is said, and where, is `inspector.runtime`'s
policy): an app streaming to an address no viewer listens on would otherwise run on, its
records dropped, with no one the wiser.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from inspector import wire
from inspector.events import exchange_id_prefix, wall_offset_ns
from inspector.records import (
    DEFAULT_CAPACITY,
    DEFAULT_MAX_BYTES,
    DROPPED,
    RecordBuffer,
    array_header,
    encode,
)

INTERVAL = 0.005
"""How often the thread sends what was recorded: one frame per wake, not one per record."""
_BATCH_BYTES = 1 << 20
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0
_CONNECT_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 5.0
"""How long a closing sink goes on sending to a collector that does not read."""
TCP_STALL = 60.0
UNREACHED_AFTER = 5.0
"""Seconds after a sink is made with no collector reached before `on_unreached` is told."""
_decode_control = msgspec.msgpack.Decoder(dict[str, Any]).decode

Control = Callable[[dict[str, Any]], None]
Unreached = Callable[[str], None]


class Sink:
    def __init__(
        self,
        address: wire.Address,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        token: str | None = None,
        name: str = "",
        on_control: Control | None = None,
        on_unreached: Unreached | None = None,
    ) -> None:
        """`on_control` is called on the sink's thread with each control message the
        collector sends (`{"control": "stop"}`, say); `on_unreached` once, with why the last
        attempt failed, if no collector was reached `UNREACHED_AFTER` seconds after now."""
        self.address = address
        self.token = token
        self.name = name or os.path.basename(sys.argv[0] or "python")
        self.on_control = on_control
        self.on_unreached = on_unreached
        self.reached = False
        """A collector welcomed this sink once (a forked child inherits it, as its address)."""
        self._made_at = time.monotonic()
        self.buffer = RecordBuffer(capacity, max_bytes)
        self.record = self.buffer.record
        self.failed = self.buffer.failed
        self._closed = False
        self._give_up_at = 0.0
        self._wake = threading.Event()
        self._start()
        os.register_at_fork(after_in_child=self._after_fork)

    def _start(self) -> None:
        self._sock: socket.socket | None = None
        self.connected = False
        self.sent = 0
        """Records sent, over every connection."""
        self.lost = 0
        """Records sent on connections that broke before the collector acknowledged them."""
        self._reported = 0
        self._reports: list[tuple[int, int]] = []
        """Loss reports sent on this connection and not yet acknowledged: (position, count)."""
        self._busy = False
        self._on_connection = 0
        self._acked = 0
        self._out: memoryview | None = None
        """The rest of the frame being sent."""
        self._stalled_since: float | None = None
        self._refusal: str | None = None
        """Why the collector hung up, in its words."""
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="inspector-sink", daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        if self._sock is not None:  # the parent's connection: close only our copy
            self._sock.close()
        self.buffer.reset()
        self._wake = threading.Event()
        if not self._closed:
            self._start()

    @property
    def dropped(self) -> int:
        """Records lost so far: dropped from the full buffer, or lost in flight."""
        return self.buffer.dropped + self.lost

    def close(self, timeout: float = 2.0) -> None:
        """Send what is buffered (if connected), then stop the thread."""
        self._give_up_at = time.monotonic() + _CLOSE_TIMEOUT
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far was acknowledged by the collector."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = not self.buffer and not self._busy
            if idle and self.connected and self._acked == self._on_connection:
                return True
            self._wake.set()
            time.sleep(0.005)
        return False

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
                        backoff = _BACKOFF_FIRST
                    except OSError as exc:
                        self.last_error = f"{self.address}: {exc}"
                        self._unreached(str(exc))
                        self._wake.wait(backoff)
                        backoff = min(backoff * 2, _BACKOFF_MAX)
                        continue
                closing = self._closed
                if not closing:
                    # One wake-up per interval: each one takes the GIL from the app's thread.
                    self._wake.wait(INTERVAL)
                    self._wake.clear()
                if self._read():
                    self._busy = True
                    try:
                        self._ship()
                    finally:
                        self._busy = False
                if closing:
                    if not (self.buffer or self._out) or time.monotonic() > self._give_up_at:
                        self._disconnect()
                        return
                    if self._out:  # the collector is not reading: wait a little for it
                        time.sleep(INTERVAL)
            except Exception as exc:  # never die: a dead sink would buffer, then drop, forever
                self.last_error = f"sink: {exc!r}"
                self._disconnect()

    def _unreached(self, why: str) -> None:
        """Tells `on_unreached`, once, that no collector was reached in time."""
        tell = self.on_unreached
        if tell is not None and time.monotonic() - self._made_at >= UNREACHED_AFTER:
            self.on_unreached = None
            if not self.reached:
                tell(why)

    def _read(self) -> bool:
        """Takes what the collector sent (acks, control), without waiting; False if it hung
        up."""
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return True
            except OSError as exc:
                return self._broken(str(exc))
            if not data:
                return self._broken("the collector closed the connection")
            for payload in self._frames.feed(data):
                self._received(_decode_control(payload))

    def _received(self, message: dict[str, Any]) -> None:
        ack = message.get("ack")
        if type(ack) is int:
            self._acked = ack
        elif "error" in message:
            self._refusal = str(message["error"])
        elif "control" in message and self.on_control is not None:
            self.on_control(message)

    def _broken(self, why: str) -> bool:
        if self._refusal is not None:  # a reset often follows the collector's last words
            why = f"the collector hung up: {self._refusal}"
        self.last_error = f"{self.address}: {why}"
        self._disconnect()
        return False

    def _ship(self) -> None:
        if self._out is not None and not self._send():
            return  # the frame begun is not all out: new records wait in the buffer
        batch = self.buffer.take(_BATCH_BYTES)
        lost = self.dropped - self._reported
        if lost:
            self._reported += lost
            batch.insert(0, encode((DROPPED, lost, self._reported, "sink")))
            self._reports = [r for r in self._reports if r[0] >= self._acked]
            self._reports.append((self._on_connection, lost))
        if not batch:
            return
        head = array_header(len(batch))
        size = len(head) + sum(map(len, batch))
        frame = b"".join([size.to_bytes(4, "big"), head, *batch])  # one copy of the batch
        self.sent += len(batch)
        self._on_connection += len(batch)  # lost from here unless acknowledged
        self._out = memoryview(frame)
        self._send()

    def _send(self) -> bool:
        """Sends what the socket takes of the frame begun, without waiting; True once it is
        all out."""
        assert self._sock is not None
        assert self._out is not None
        before = len(self._out)
        try:
            while self._out:
                self._out = self._out[self._sock.send(self._out) :]
        except BlockingIOError:
            if len(self._out) < before or self._sock.family == socket.AF_UNIX:
                self._stalled_since = None
            elif self._stalled_since is None:
                self._stalled_since = time.monotonic()
            elif time.monotonic() - self._stalled_since > TCP_STALL:
                self._broken(f"the collector read nothing for {TCP_STALL:.0f} s")
            return False
        except OSError as exc:
            if self._read():  # acks (or a reason) the collector sent before it went
                self._broken(str(exc))
            return False
        self._out = self._stalled_since = None
        return True

    def _connect(self) -> None:
        sock = wire.connect(self.address, timeout=_CONNECT_TIMEOUT)
        try:
            _check_peer(sock)
            prefix, host, pid = exchange_id_prefix(), socket.gethostname(), os.getpid()
            sock.sendall(wire.hello(prefix, host, pid, self.name, self.token, wall_offset_ns()))
            answer = _read_line(sock)
            error = _refusal(answer)
            if error:
                raise ConnectionRefusedError(f"collector refused us: {error}")
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)  # the thread waits for no one: see the module's docstring
        self._frames = wire.FrameReader()
        self._on_connection = self._acked = 0
        self._refusal = None
        self._sock, self.connected = sock, True
        self.reached = True

    def _disconnect(self) -> None:
        sock, self._sock, self.connected = self._sock, None, False
        if sock is not None:
            sock.close()
            # What the collector did not acknowledge may never have reached it. A loss report
            # among it is made again on the next connection (it is not itself a lost record).
            unacked = self._on_connection - self._acked
            for at, count in self._reports:
                if at >= self._acked:
                    self._reported -= count
                    unacked -= at < self._on_connection
            self.lost += unacked
            self._reports = []
            self._on_connection = self._acked = 0
            self._out = self._stalled_since = None


def _read_line(sock: socket.socket) -> bytes:
    """The collector's answer to our hello: one line, read byte-exactly (frames follow)."""
    line = bytearray()
    while not line.endswith(b"\n") and len(line) < wire.MAX_HELLO:
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return bytes(line)


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
