"""The asyncio adapters: they feed a `Connection` what the sockets do, and do what it asks.

`ClientProtocol` is the listening server's protocol, one per client connection; it is the
`Connection`'s `Io`: it writes, pauses and closes transports, opens the upstream connection
(`UpstreamProtocol`) and runs the one timer the connection's clocks need. No rule lives here:
every decision is the `Connection`'s (see `connection`), so this file only translates, and
keeps `state.UPSTREAMS` (the upstream connections open, that `state.came_back` reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from inspector.events import now_ns
from inspector.proxy.connection import Connection
from inspector.proxy.state import Address, Hop, Link, Shared

_LINGER_ZERO = struct.pack("ii", 1, 0)


class ClientProtocol(asyncio.Protocol):
    def __init__(self, shared: Shared, connections: set[ClientProtocol]) -> None:
        self.shared = shared
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.upstream: UpstreamProtocol | None = None
        self.opening: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol: what the client's socket does ---------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport: asyncio.Transport = transport
        self.connections.add(self)
        client = _address(transport.get_extra_info("peername"))
        local = _address(transport.get_extra_info("sockname"))
        self.connection = Connection(self.shared, self, client, local=local)

    def data_received(self, data: bytes) -> None:
        self.connection.client_data(data)

    def pause_writing(self) -> None:
        self.connection.client_full()

    def resume_writing(self) -> None:
        self.connection.client_drained()

    def eof_received(self) -> bool:
        # As nginx and uvicorn do: a client that stops sending has gone (proxy_ignore_client_abort
        # off); its upstream connection is closed with it.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.connection.client_lost()

    def close(self) -> None:
        """The proxy is closing: so is this connection."""
        self.connection.close()

    # -- Io: what the connection asks ------------------------------------------------------------

    def to_client(self, data: bytes) -> None:
        self.transport.write(data)

    def to_upstream(self, data: bytes) -> None:
        upstream = self.upstream
        assert upstream is not None
        upstream.transport.write(data)

    def pause_client(self) -> None:
        self.transport.pause_reading()

    def resume_client(self) -> None:
        self.transport.resume_reading()

    def pause_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.resume_reading()

    def connect(self) -> None:
        self.opening = self.loop.create_task(self._open())

    async def _open(self) -> None:
        config = self.shared.config
        host, port = config.upstream
        try:
            async with asyncio.timeout(config.connect_timeout):
                await self.loop.create_connection(lambda: UpstreamProtocol(self), host, port)
        except (OSError, TimeoutError) as exc:
            self.opening = None
            self.connection.upstream_unreachable(exc)
            return
        self.opening = None

    def close_upstream(self, reset: bool) -> None:
        if self.opening is not None:
            self.opening.cancel()
            self.opening = None
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            if reset:
                upstream.transport.abort()
            else:
                upstream.transport.close()

    def close_client(self, reset: bool) -> None:
        if reset:
            # A TCP RST, as the upstream's own break would reach a direct client: a plain close
            # sends FIN, which ends a body read until close as if it were complete (RFC 9112
            # §8). What the client's side already received stays readable there before it.
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            self.transport.abort()
        else:
            self.transport.close()

    def wake_at(self, deadline: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        delay = max(deadline - now_ns(), 0) / 1e9
        self.timer = self.loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self.timer = None
        self.connection.tick()


class UpstreamProtocol(asyncio.Protocol):
    """The client connection's own connection to the upstream; once the client's adapter let
    go of it (`close_upstream`), nothing it does reaches the connection any more."""

    def __init__(self, client: ClientProtocol) -> None:
        self.client = client
        self.link: Link | None = None
        self.hop: Hop | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport: asyncio.Transport = transport
        client = self.client
        local = _address(transport.get_extra_info("sockname"))
        peer = _address(transport.get_extra_info("peername"))
        if local is not None and peer is not None:  # known before any byte is sent on it
            self.link, self.hop = (local, peer), (client.shared, client.connection.link)
            client.shared.upstreams[self.link] = self.hop
        client.upstream = self
        client.connection.upstream_connected(self.link)

    def data_received(self, data: bytes) -> None:
        if self.client.upstream is self:
            self.client.connection.upstream_data(data)

    def eof_received(self) -> bool:
        if self.client.upstream is self:
            self.client.connection.upstream_eof()
        return False  # close this side too; connection_lost follows

    def pause_writing(self) -> None:
        if self.client.upstream is self:
            self.client.connection.upstream_full()

    def resume_writing(self) -> None:
        if self.client.upstream is self:
            self.client.connection.upstream_drained()

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        upstreams = client.shared.upstreams
        if self.link is not None and upstreams.get(self.link) is self.hop:
            del upstreams[self.link]
        if client.upstream is self:
            client.upstream = None
            client.connection.upstream_lost(exc)


def _address(name: Any) -> Address | None:
    """A TCP socket's address as (host, port), an IPv4 address on a dual-stack socket as
    itself (as a connection's other end sees it), or None if unknown."""
    if not name:
        return None
    host = str(name[0])
    return (host.removeprefix("::ffff:") if "." in host else host), int(name[1])
