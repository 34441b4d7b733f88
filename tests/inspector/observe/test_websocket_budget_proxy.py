"""The WebSocket byte budget end to end: a real client, the real proxy, a real uvicorn echo.

Messages of 1 MiB of zeros, compressed by permessage-deflate to about a kilobyte on the
wire: the relay records them compressed, the observer inflates them, and past the budget of
the connection they come as sizes without payload.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from inspector.observe.websocket import DEFAULT_PER_CONNECTION
from inspector.proxy import ProxyConfig
from tests.inspector.proxy.conftest import RunningProxy
from tests.servers import Server, serve

MIB = 1 << 20


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", "tests.apps.asgi_cases:app", tmp_path_factory.mktemp("up")) as up:
        yield up


@pytest.fixture
def proxy(upstream: Server) -> Iterator[RunningProxy]:
    config = ProxyConfig(listen=("127.0.0.1", 0), upstream=("127.0.0.1", upstream.port))
    running = RunningProxy(config, "asyncio")
    yield running
    running.stop()


def test_compressed_messages_past_the_budget_come_without_payload(proxy: RunningProxy) -> None:
    sent = 12
    with connect(
        f"ws://127.0.0.1:{proxy.port}/ws/echo", compression="deflate", max_size=None
    ) as ws:
        for _ in range(sent):
            ws.send(bytes(MIB))
            assert ws.recv() == bytes(MIB)
    (exchange,) = proxy.exchanges(1)
    kept = DEFAULT_PER_CONNECTION // MIB  # the first 8 messages, both directions together
    shown = [(m.data, m.size) for m in exchange.messages]
    assert shown == [(bytes(MIB), MIB)] * kept + [(b"", MIB)] * (2 * sent - kept)
    assert exchange.message_counts == {"client": sent, "server": sent}
    assert exchange.payloads_not_kept == 2 * sent - kept
    assert exchange.payload_bytes_not_kept == (2 * sent - kept) * MIB
