"""`Proxy`: the listening socket, and the lifecycle of every connection it accepted.

It runs in whatever asyncio loop is current (the CLI installs uvloop). `start()` binds (an
OSError if it cannot; a ValueError if the upstream is the proxy's own address), `port` is
the port actually bound (so port 0 works), `check_upstream()` says whether the upstream
accepts connections yet, and `close()` stops listening and closes every client connection
with its upstream connection. What it captures goes to a `Recorder` (an in-process
`EventBus`, or a `Sink` to a viewer) as records.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any

from inspector.proxy.config import ProxyConfig, format_address
from inspector.proxy.failures import connect_error
from inspector.proxy.holds import Steering
from inspector.proxy.protocols import ClientProtocol
from inspector.proxy.state import Shared
from inspector.records import Recorder


class Proxy:
    def __init__(self, config: ProxyConfig, recorder: Recorder) -> None:
        self.config = config
        self.recorder = recorder
        self._server: asyncio.Server | None = None
        self._shared: Shared | None = None
        self._connections: set[ClientProtocol] = set()
        self.port = config.listen[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.config.listen
        # The port is known only once bound; connections wait for `_shared` until then.
        shared: list[Shared] = []
        server = await loop.create_server(
            lambda: ClientProtocol(shared[0], self._connections),
            host,
            port,
            reuse_address=True,
            backlog=self.config.backlog,
        )
        try:
            await self._refuse_itself(server)
        except BaseException:
            server.close()
            await server.wait_closed()
            raise
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])
        self._shared = Shared(self.config, self.recorder, self.port)
        self._shared.steering.schedule = loop.call_later
        shared.append(self._shared)

    async def _refuse_itself(self, server: asyncio.Server) -> None:
        """ValueError if the upstream is an address this proxy listens on: each request would
        be forwarded to the proxy itself, again and again, each time on a new connection, until
        no file descriptor is left (issue #12: one curl made 10,000 exchanges in 3 s). Checked
        once bound, as port 0 is known only then."""
        host, port = self.config.upstream
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError:
            return  # not resolvable now: each request will say so (502)
        for listener in server.sockets:
            for *_, address in found:
                if _reaches(address, listener):
                    bound = format_address(listener.getsockname()[:2])
                    raise ValueError(
                        f"upstream {self.config.upstream_text} is this proxy's own address (it"
                        f" listens on {bound}): requests would be forwarded to itself for ever"
                    )

    async def check_upstream(self, timeout: float = 1.0) -> str | None:
        """Why the upstream does not accept a connection now, as a line for the CLI to print,
        or None if it does. The proxy runs either way (the upstream may start later): until
        then each request gets 502."""
        host, port = self.config.upstream
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            problem = connect_error(exc, self.config.upstream_text, timeout)
            return f"{problem}: requests get 502 until it accepts"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None

    @property
    def steering(self) -> Steering:
        """What the viewer's actions reach (see `inspector.proxy.control`); once started."""
        assert self._shared is not None, "the proxy has not started"
        return self._shared.steering

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._connections)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self._connections):
            connection.close()
        await server.wait_closed()
        # Let the transports run their connection_lost callbacks before the loop goes.
        for _ in range(3):
            await asyncio.sleep(0)

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _reaches(address: Any, listener: Any) -> bool:
    """Whether a connection to `address` (from getaddrinfo) would be accepted by `listener`:
    the same port, and the same address, or any address of this host if it listens on the
    wildcard (0.0.0.0; :: also takes IPv4 unless it is IPv6-only)."""
    bound_host, bound_port = listener.getsockname()[:2]
    if address[1] != bound_port:
        return False
    target, bound = _ip(address[0]), _ip(bound_host)
    if target.is_unspecified:  # connecting to 0.0.0.0 or :: reaches this host (loopback)
        target = _ip("127.0.0.1" if target.version == 4 else "::1")
    if not bound.is_unspecified:
        return target == bound
    if target.version != bound.version and (
        bound.version == 4 or listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    ):
        return False
    return _is_local(target)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host.partition("%")[0])
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address of this host: one a socket may bind to."""
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True
