"""`Proxy`: the listening socket, and the lifecycle of every connection it accepted.

It runs in whatever asyncio loop is current (the CLI installs uvloop). `start()` binds (an
OSError if it cannot), `port` is the port actually bound (so port 0 works), and `close()`
stops listening and closes every client connection with its upstream connection. What it
captures goes to a `Recorder` (an in-process `EventBus`, or a `Sink` to a viewer) as records.
"""

from __future__ import annotations

import asyncio

from inspector.proxy.config import ProxyConfig
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
        self._server = await loop.create_server(
            lambda: ClientProtocol(shared[0], self._connections),
            host,
            port,
            reuse_address=True,
            backlog=self.config.backlog,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._shared = Shared(self.config, self.recorder, self.port)
        shared.append(self._shared)

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
