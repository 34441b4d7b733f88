"""The collector: the viewer's end of the wire, where every app process's events fan in.

It listens on a bus address (a Unix socket with mode 0600, or loopback TCP; another interface
only with `allow_remote` and a token), checks each peer's hello, decodes its event lines and
hands them, in batches, to `deliver` (usually a local `EventBus.publish`). A `PeerConnected`
event names the process behind each exchange-id prefix. A peer that speaks another version,
sends garbage, a truncated or oversized line, is told why and disconnected; the collector and
the other peers carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inspector import codec, wire
from inspector.events import Event, PeerConnected, PeerDisconnected, now_ns

_HELLO_TIMEOUT = 10.0
_READ_SIZE = 1 << 18


@dataclass(slots=True)
class Peer:
    prefix: str
    host: str
    pid: int
    name: str
    address: str
    events: int = 0


class Collector:
    def __init__(
        self,
        address: wire.Address,
        deliver: Callable[[Sequence[Event]], None],
        *,
        token: str | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not address.is_loopback and not (allow_remote and token):
            raise wire.WireError(
                f"{address} is reachable from other hosts: pass --allow-remote and a --token"
            )
        self.address = address
        self.token = token
        self._deliver = deliver
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.peers: dict[int, Peer] = {}
        self.errors: deque[str] = deque(maxlen=100)
        """The latest peer errors, newest last."""
        self.received = 0

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
                    self._refuse(writer, f"{peer.name}[{peer.pid}] {label}", reason)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            if peer is not None:
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
        )
        writer.write(wire.reply())
        self.peers[id(writer)] = peer
        self._deliver([PeerConnected("", now_ns(), peer.prefix, peer.host, peer.pid, peer.name)])
        return peer

    async def _read_events(self, reader: asyncio.StreamReader, peer: Peer) -> str:
        """Deliver the peer's events until it hangs up; returns why the stream ended."""
        pending = bytearray()
        number = 0
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                if pending:
                    return f"truncated line at the end of the stream ({len(pending)} bytes)"
                return "disconnected"
            pending += data
            if b"\n" not in data:
                if len(pending) > wire.MAX_LINE:
                    return f"a line longer than {wire.MAX_LINE} bytes"
                continue
            lines = pending.split(b"\n")
            pending = lines.pop()
            events = []
            for line in lines:
                number += 1
                try:
                    events.append(codec.loads(line))
                except codec.CodecError as exc:
                    if events:
                        self._take(peer, events)
                    return f"line {number}: {exc}"
            self._take(peer, events)

    def _take(self, peer: Peer, events: list[Event]) -> None:
        peer.events += len(events)
        self.received += len(events)
        self._deliver(events)

    def _refuse(self, writer: asyncio.StreamWriter, label: str, error: str) -> None:
        self.errors.append(f"{label}: {error}")
        with contextlib.suppress(Exception):
            writer.write(wire.reply(error))


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
    raise OSError(f"another inspector is already listening on unix:{path}")
