"""A scripted upstream for the proxy tests: raw bytes played on each connection it accepts.

uvicorn answers correctly; these cases need an upstream that answers early, breaks a body,
resets, or closes a kept-alive connection just as a request arrives. `ScriptedUpstream` runs
on a loop of its own (like the proxy), so tests keep using blocking sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable

from inspector.events import Event


class Peer:
    """One connection to a `ScriptedUpstream`, as its script sees it; keeps what it read."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        self.reader = reader
        self.writer = writer
        self.number = n  # connections to the upstream before this one
        self.received = b""

    async def head(self) -> bytes:
        """The next request head (up to its blank line)."""
        data = await self.reader.readuntil(b"\r\n\r\n")
        self.received += data
        return data

    async def read(self, size: int) -> bytes:
        data = await self.reader.readexactly(size)
        self.received += data
        return data

    async def until_closed(self) -> None:
        """Reads until the proxy closes this connection."""
        with contextlib.suppress(ConnectionError):
            while data := await self.reader.read(65536):
                self.received += data

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def reset(self) -> None:
        """Abort with a TCP RST."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Script = Callable[[Peer], Awaitable[None]]


class ScriptedUpstream:
    """A raw upstream on a loop of its own: `script(peer)` plays each connection. A script
    may wait for `gate`, which the test opens with `release()`; its errors fail the test."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.peers: list[Peer] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.loop = asyncio.new_event_loop()
        self.gate = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, name="scripted-upstream")
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _start(self) -> asyncio.Server:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = Peer(reader, writer, len(self.peers))
            self.peers.append(peer)
            self.tasks.append(asyncio.create_task(self.script(peer)))

        return await asyncio.start_server(accepted, "127.0.0.1", 0)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.gate.set)

    def join(self) -> None:
        """Waits until every script has ended (most end when the proxy closes the connection)."""

        async def join() -> None:
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 10)

        asyncio.run_coroutine_threadsafe(join(), self.loop).result(15)

    @property
    def received(self) -> list[bytes]:
        """What each connection read, in the order they were accepted."""
        return [peer.received for peer in self.peers]

    def stop(self) -> None:
        async def stop() -> list[BaseException | None]:
            self.server.close()
            for peer in self.peers:
                peer.writer.close()
            done = await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)
            await self.server.wait_closed()
            return [r if isinstance(r, BaseException) else None for r in done]

        errors = asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        for error in errors:
            if error is not None and not isinstance(error, ConnectionError):
                raise error


def read_to_end(sock: socket.socket) -> tuple[bytes, str]:
    """Everything the proxy sent on `sock`, and how it ended: "closed" (FIN) or "reset"."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    return data, "closed"


def read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def kinds(events: list[Event]) -> list[str]:
    """The event type names, in order: what exact-sequence assertions compare."""
    return [type(e).__name__ for e in events]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)
