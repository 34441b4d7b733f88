"""The collector: the viewer's end of the wire, where every app process's events fan in.

It listens on a bus address (a Unix socket with mode 0600, or loopback TCP; another interface
only with `allow_remote` and a token), checks each peer's hello, reads its frames of records,
builds events from them (one `Builder` per sender, see `inspector.observe.build`) and hands
them, a batch per frame, to `deliver`, on the event loop's thread. A `PeerConnected` event
names the process behind each exchange-id prefix.

A frame's records count as *received* once `deliver` has returned with their events (for
`inspector listen --save`, once they are written to the file); the collector acknowledges the
frame right after, cumulatively, so a sink counts as lost exactly what was never received. The
one gap is a collector killed while it delivers a frame (while it writes the session file, say):
that frame counts as lost although some or all of its events were delivered. So a kill can err
by at most one frame, towards loss: the count never hides a loss.

A record that does not decode costs only itself: it becomes a `CaptureFailed` event and is
counted in `unreadable`. A peer that speaks another version, or sends a frame that is not a
batch of records or is over the size limit, is told why and disconnected; the collector and
the other peers carry on. Frames begun but not finished are held in memory; past
`max_pending` bytes across all peers, the peers holding the most are told why and
disconnected, so many slow or hostile peers cannot make the collector hold more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from inspector import records, wire
from inspector.events import Event, PeerConnected, PeerDisconnected, now_ns
from inspector.observe.build import Builder
from inspector.observe.websocket import DEFAULT_PER_CONNECTION, DEFAULT_TOTAL, MessageBudget

_HELLO_TIMEOUT = 10.0
_MAX_SENDERS = 1024
_READ_SIZE = 1 << 18
DEFAULT_MAX_PENDING = 64 << 20
"""Bytes of frames begun but not finished held for all peers at once: twice the longest
frame (`wire.MAX_FRAME`), so a lone peer can always send one."""


@dataclass(slots=True)
class Peer:
    prefix: str
    host: str
    pid: int
    name: str
    address: str
    wall_offset_ns: int
    writer: asyncio.StreamWriter
    records: int = 0
    events: int = 0
    frames: wire.FrameReader = field(default_factory=wire.FrameReader)
    held: int = 0
    """Bytes of a frame begun, as counted in the collector's `pending`."""
    refusal: str | None = None
    """Why the collector hung up on this peer, once it has."""

    def __str__(self) -> str:
        return f"{self.name}[{self.pid}] {self.address}"


class Collector:
    def __init__(
        self,
        address: wire.Address,
        deliver: Callable[[Sequence[Event]], None],
        *,
        token: str | None = None,
        allow_remote: bool = False,
        max_pending: int = DEFAULT_MAX_PENDING,
        ws_keep: int = DEFAULT_PER_CONNECTION,
        ws_keep_total: int = DEFAULT_TOTAL,
    ) -> None:
        """`max_pending`: bytes of frames begun over all peers; `ws_keep`, `ws_keep_total`:
        WebSocket payload bytes kept per connection and per sender (see `MessageBudget`)."""
        if not address.is_loopback and not (allow_remote and token):
            raise wire.WireError(
                f"{address} is reachable from other hosts: pass --allow-remote and a --token"
            )
        self.address = address
        self.token = token
        self.max_pending = max_pending
        self._ws_keep = (ws_keep, ws_keep_total)
        self.pending = 0
        """Bytes of frames begun but not finished, over all peers: at most `max_pending`."""
        self._deliver = deliver
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.peers: dict[int, Peer] = {}
        self.errors: deque[str] = deque(maxlen=100)
        """The latest peer errors, newest last."""
        self.received = 0
        """Records received from every peer."""
        self.unreadable = 0
        """Records that did not decode, or that the builder could not understand."""
        self._builders: dict[str, Builder] = {}
        """By sender prefix: a sink that reconnects finds its open exchanges remembered."""

    async def start(self) -> None:
        if self.address.kind == "unix":
            path = self.address.path
            _remove_stale_socket(path)
            old_umask = os.umask(0o177)  # the socket is born 0600: no window for others
            try:
                self._server = await asyncio.start_unix_server(
                    self._serve, path, limit=wire.MAX_HELLO
                )
            finally:
                os.umask(old_umask)
            os.chmod(path, 0o600)
        else:
            self._server = await asyncio.start_server(
                self._serve, self.address.host, self.address.port, limit=wire.MAX_HELLO
            )
            port = self._server.sockets[0].getsockname()[1]
            self.address = wire.Address("tcp", host=self.address.host, port=port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()  # its reader sees the end of the stream; its task ends
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
            if self.address.kind == "unix":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        label = _peer_label(writer)
        peer: Peer | None = None
        reason = "disconnected"
        try:
            peer = await self._greet(reader, writer, label)
            if peer is not None:
                reason = await self._read_events(reader, peer)
                if reason != "disconnected":
                    self._hang_up(peer, reason)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            if peer is not None:
                self._release(peer)
                self.peers.pop(id(writer), None)
                self._deliver([PeerDisconnected("", now_ns(), peer.prefix, reason)])
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _greet(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str
    ) -> Peer | None:
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), _HELLO_TIMEOUT)
            hello = wire.check_hello(line, self.token)
        except TimeoutError:
            self._refuse(writer, label, "no hello within 10 s")
            return None
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except asyncio.LimitOverrunError:
            self._refuse(writer, label, f"a hello longer than {wire.MAX_HELLO} bytes")
            return None
        except Exception as exc:  # WireError, and anything odd a stranger can send
            self._refuse(writer, label, str(exc) or type(exc).__name__)
            return None
        peer = Peer(
            hello["prefix"],
            str(hello.get("host") or ""),
            hello["pid"],
            str(hello.get("name") or ""),
            label,
            hello["wall_offset_ns"],
            writer,
        )
        writer.write(wire.reply())
        self.peers[id(writer)] = peer
        self._deliver([PeerConnected("", now_ns(), peer.prefix, peer.host, peer.pid, peer.name)])
        return peer

    async def _read_events(self, reader: asyncio.StreamReader, peer: Peer) -> str:
        """Deliver the peer's events until it hangs up; returns why the stream ended."""
        frames = peer.frames
        builder = self._builders.pop(peer.prefix, None) or Builder(
            peer.wall_offset_ns, MessageBudget(*self._ws_keep)
        )
        builder.wall_offset_ns = peer.wall_offset_ns
        self._builders[peer.prefix] = builder  # newest last; the oldest senders are forgotten
        while len(self._builders) > _MAX_SENDERS:
            del self._builders[next(iter(self._builders))]
        while True:
            data = await reader.read(_READ_SIZE)
            if peer.refusal is not None:  # refused while this task waited (see `_shed`)
                return peer.refusal
            if not data:
                if frames.pending:
                    return f"the stream was cut in the middle of a frame ({frames.pending} bytes)"
                return "disconnected"
            try:
                payloads = frames.feed(data)
            except wire.WireError as exc:
                return str(exc)
            grown = frames.pending - peer.held
            peer.held += grown
            self.pending += grown
            for payload in payloads:
                error = self._take(peer, builder, payload)
                if error:
                    return error
            if self.pending > self.max_pending:
                self._shed()
                if peer.refusal is not None:
                    return peer.refusal

    def _shed(self) -> None:
        """Hang up on the peers holding the most of a frame begun until all peers together
        hold at most `max_pending` bytes: the others carry on."""
        for peer in sorted(self.peers.values(), key=lambda p: p.held, reverse=True):
            if self.pending <= self.max_pending or not peer.held:
                return
            self._hang_up(
                peer,
                f"refused: frames begun but not finished passed the collector's limit of "
                f"{self.max_pending} bytes over all peers, and this peer held the most "
                f"({peer.held} bytes)",
            )

    def _hang_up(self, peer: Peer, reason: str) -> None:
        """Tell a welcomed peer why (an error frame: past the welcome it reads frames), free
        its frame begun and close; its task sees the end and returns the reason."""
        if peer.refusal is not None:
            return
        peer.refusal = reason
        self.errors.append(f"{peer}: {reason}")
        self._release(peer)
        writer = peer.writer
        with contextlib.suppress(Exception):
            writer.write(wire.frame(_encode({"error": reason})))
        if writer.transport.get_write_buffer_size():
            # A peer that reads nothing would keep the connection, and its task, forever.
            writer.transport.abort()
        else:
            writer.close()

    def _release(self, peer: Peer) -> None:
        self.pending -= peer.held
        peer.held = 0
        peer.frames.clear()

    def _take(self, peer: Peer, builder: Builder, payload: bytes) -> str | None:
        """Builds and delivers one frame's events, then acknowledges it; or says what is
        wrong with the frame."""
        failures = builder.failures
        try:
            batch = records.decode_batch(payload)
            events = builder.build(batch)
            count = len(batch)
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Some record is not one of ours: decode them one by one, so it costs only itself.
            try:
                raws = records.split_batch(payload)
            except msgspec.DecodeError as exc:
                return f"a frame that is not a batch of records: {exc}"
            events = self._one_by_one(builder, raws)
            count = len(raws)
        peer.records += count
        self.received += count
        self.unreadable += builder.failures - failures
        peer.events += len(events)
        self._deliver(events)
        # Acknowledged at once: a viewer killed a moment later still has its loss counted
        # exactly (a sink sends at most one frame per few milliseconds).
        _acknowledge(peer)
        return None

    def _one_by_one(self, builder: Builder, raws: list[msgspec.Raw]) -> list[Event]:
        events: list[Event] = []
        for raw in raws:
            try:
                record = records.decode_record(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                events.append(builder.unreadable(raw, exc))
            else:
                events.extend(builder.build((record,)))
        return events

    def send_control(self, message: dict[str, object]) -> int:
        """Send a control message to every peer (the hot process acts on it); returns how
        many peers it went to."""
        payload = wire.frame(_encode(message))
        for peer in self.peers.values():
            with contextlib.suppress(Exception):
                peer.writer.write(payload)
        return len(self.peers)

    def _refuse(self, writer: asyncio.StreamWriter, label: str, error: str) -> None:
        self.errors.append(f"{label}: {error}")
        with contextlib.suppress(Exception):
            writer.write(wire.reply(error))


_encode = msgspec.msgpack.encode


def _acknowledge(peer: Peer) -> None:
    with contextlib.suppress(Exception):
        peer.writer.write(wire.frame(_encode({"ack": peer.records})))


def _peer_label(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "local peer"


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file a dead collector left; refuse if a live one still listens."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(f"{path} exists and is not a socket of ours: remove it or choose --bus")
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(
        f"another inspector is already listening on unix:{path}: "
        "stop it or choose another address with --bus"
    )
