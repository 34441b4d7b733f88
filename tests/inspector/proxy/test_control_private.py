"""Only the relay's own viewer acts on traffic: the collector's socket carries records and a
"stop", never an inject, an intercept or a release, whatever a peer of it sends."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from inspector import events as ev
from inspector.observe.collector import Collector
from inspector.observe.control import ControlClient
from inspector.proxy import Proxy, ProxyConfig
from inspector.proxy.control import ControlServer
from tests.servers import Server
from tui.observer import ObserverChild


class Relay:
    """inspect-proxy's relay as `tui.cli` assembles it (its sink to an `ObserverChild`'s
    socket, its control socket beside it), with a collector in place of the viewer child."""

    def __init__(self, upstream: Server) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relay")
        self.thread.start()
        self.stops = 0
        self.observer = ObserverChild(argparse.Namespace(), name="test", on_stop=self._stop)
        self.events: list[ev.Event] = []
        self.collector = Collector(self.observer.address, self.events.extend)
        config = ProxyConfig(upstream=("127.0.0.1", upstream.port), listen=("127.0.0.1", 0))
        self.proxy = Proxy(config, self.observer.sink)
        self.run(self.collector.start())
        self.run(self.proxy.start())
        self.control = ControlServer(self.observer.control_path, self.proxy.steering)
        self.run(self.control.start())

    def _stop(self) -> None:
        self.stops += 1

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def close(self) -> None:
        self.run(self.control.close())
        self.run(self.proxy.close())
        self.observer.close()
        self.run(self.collector.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def relay(upstream: Server) -> Iterator[Relay]:
    relay = Relay(upstream)
    yield relay
    relay.close()


async def _from_collector(relay: Relay, message: dict[str, object]) -> int:
    return relay.collector.send_control(message)


def test_the_collector_cannot_inject_intercept_or_release(relay: Relay) -> None:
    with connect(f"ws://127.0.0.1:{relay.proxy.port}/ws/echo", compression=None) as ws:
        ws.send("first")
        assert ws.recv(5) == "first"
        (xid,) = relay.proxy.steering.tunnels
        evil: list[dict[str, object]] = [
            {"op": "inject", "exchange": xid, "to": "client", "opcode": 1, "payload": b"evil"},
            {"control": "inject", "exchange": xid, "to": "client", "opcode": 1, "payload": b"x"},
            {"op": "intercept", "messages": {"rule": "Anything"}},
            {"control": "intercept", "messages": {"rule": "Anything"}},
            {"op": "release_all", "action": "drop"},
            {"control": "release_all", "action": "drop"},
        ]
        deadline = time.monotonic() + 10
        while not relay.collector.peers and time.monotonic() < deadline:  # the sink connects
            time.sleep(0.01)
        for message in evil:
            assert relay.run(_from_collector(relay, message)) == 1  # it reached the relay
        # A "stop" after them, on the same connection: once the relay has acted on it, it has
        # read every message before it (and did nothing with them).
        assert relay.run(_from_collector(relay, {"control": "stop"})) == 1
        deadline = time.monotonic() + 10
        while relay.stops == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert relay.stops == 1
        ws.send("second")  # neither injected before it, nor held
        assert ws.recv(5) == "second"
        steering = relay.proxy.steering
        assert (steering.messages, steering.requests, steering.responses) == (None, None, None)
        assert steering.holds == {}
        # The control socket beside it does act: the test would see an injection.
        asyncio.run(_inject(relay.observer.control_path, xid))
        assert ws.recv(5) == "from the viewer"


async def _inject(path: str, xid: str) -> None:
    client = ControlClient(path)
    try:
        await client.inject(xid, "client", 1, b"from the viewer")
    finally:
        await client.close()
