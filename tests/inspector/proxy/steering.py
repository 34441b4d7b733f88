"""A proxy with its control socket, for the inject and intercept tests: the proxy runs on its
own loop (see `conftest.RunningProxy`), the viewer's `ControlClient` on the test's thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from inspector import events as ev
from inspector.observe.control import ControlClient
from inspector.proxy.control import ControlServer
from tests.inspector.proxy.conftest import RunningProxy


class Steered:
    def __init__(self, proxy: RunningProxy, path: Path) -> None:
        self.proxy = proxy
        self.path = path
        self.server = ControlServer(str(path), proxy.proxy.steering)
        asyncio.run_coroutine_threadsafe(self.server.start(), proxy.loop).result(10)

    def act(self, call: Callable[[ControlClient], Coroutine[Any, Any, Any]]) -> Any:
        """Runs one `ControlClient` call, on a client of its own, and returns what it
        returned (ActionError passes)."""

        async def run() -> Any:
            client = ControlClient(self.path)
            try:
                return await call(client)
            finally:
                await client.close()

        return asyncio.run(run())

    def wait_for(
        self, test: Callable[[list[ev.Event]], bool], timeout: float = 10.0
    ) -> list[ev.Event]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.proxy.events()
            if test(events) or time.monotonic() > deadline:
                assert test(events), "the events never came"
                return events
            time.sleep(0.01)

    def held(self, count: int = 1) -> list[ev.TrafficHeld]:
        events = self.wait_for(lambda e: len(_of(e, ev.TrafficHeld)) >= count)
        return _of(events, ev.TrafficHeld)

    def released(self, count: int = 1) -> list[ev.HoldReleased]:
        events = self.wait_for(lambda e: len(_of(e, ev.HoldReleased)) >= count)
        return _of(events, ev.HoldReleased)

    def xid(self) -> str:
        events = self.wait_for(lambda e: any(isinstance(x, ev.WebSocketAccepted) for x in e))
        return next(x.exchange_id for x in events if isinstance(x, ev.WebSocketAccepted))

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.proxy.loop).result(10)


def _of(events: list[ev.Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]
