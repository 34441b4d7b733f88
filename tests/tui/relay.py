"""A live relay for the viewer's action tests: the real proxy in the test's loop, in front of
the real uvicorn upstream of the proxy tests (`tests.apps.proxy_upstream`, which echoes
WebSocket messages on `/ws/echo`), its events fed to the viewer, and its control socket
(`ControlServer`, 0600) at the path the viewer is given, as `inspect-proxy` gives it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from inspector import EventBus
from inspector.observe.exchange import Exchange
from inspector.proxy import Proxy, ProxyConfig
from inspector.proxy.control import ControlServer
from tests.servers import Server, serve
from tests.tui.pilot import until
from tui.app import InspectorApp


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", "tests.apps.proxy_upstream:app", tmp_path_factory.mktemp("up")) as up:
        yield up


def control_path(tmp_path: Path) -> Path:
    return tmp_path / "control.sock"


@contextlib.asynccontextmanager
async def relay(app: InspectorApp, upstream: Server, **options: object) -> AsyncIterator[Proxy]:
    """Start the proxy and its control socket (at the app's control path) in the running
    loop; stop both at exit. The app must be running (inside `run_test`)."""
    bus = EventBus()
    config = ProxyConfig(("127.0.0.1", upstream.port), ("127.0.0.1", 0), **options)  # type: ignore[arg-type]
    proxy = Proxy(config, bus)
    bus.subscribe(app.feed)
    await proxy.start()
    assert app.actions.control is not None
    control = ControlServer(str(app.actions.control), proxy.steering)
    await control.start()
    try:
        yield proxy
    finally:
        await control.close()
        await proxy.close()
        bus.close()


async def listed(pilot: Pilot[None], app: InspectorApp, path: str, state: str) -> Exchange:
    """Wait until the exchange for `path` is listed in `state`, and put the cursor on it."""

    def find() -> Exchange | None:
        for exchange in app.exchanges.list.rows:
            request = exchange.request
            if request is not None and request.path == path and exchange.state == state:
                return exchange
        return None

    await until(pilot, lambda: find() is not None)
    exchange = find()
    assert exchange is not None
    app.exchanges.list.select(exchange.id)
    await pilot.pause()
    return exchange
