"""A proxy whose upstream leads back to itself: refused at start when its own address is the
upstream, answered 508 when a request comes back anyway (through another proxy of this
process), and a warning when the upstream does not accept connections yet. Real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
import uvloop

from inspector.proxy import Proxy, ProxyConfig
from inspector.records import RecordBuffer
from tests.inspector.proxy.conftest import RunningProxy
from tests.servers import Server, free_port

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(loop: str, main: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(main)


async def start_and_close(config: ProxyConfig) -> int:
    """The port the proxy bound, once it started (and closed again)."""
    proxy = Proxy(config, RecordBuffer())
    await proxy.start()
    await proxy.close()
    return proxy.port


def routed_address() -> str | None:
    """This host's address on the interface with a default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(
    ("listen", "upstream"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "localhost"),
        ("127.0.0.1", "0.0.0.0"),  # connecting to 0.0.0.0 reaches this host
        ("0.0.0.0", "127.0.0.1"),  # a wildcard listener takes every local address
        ("0.0.0.0", "localhost"),
        ("0.0.0.0", socket.gethostname()),
        ("0.0.0.0", "routed"),  # this host's own address on its network
        ("::1", "::1"),
        ("::", "::1"),
    ],
)
def test_an_upstream_that_is_the_proxy_itself_is_refused(
    loop: str, listen: str, upstream: str
) -> None:
    if upstream == "routed":
        upstream = routed_address() or pytest.skip("no routed IPv4 address")
    port = free_port()
    config = ProxyConfig(upstream=(upstream, port), listen=(listen, port))
    with pytest.raises(ValueError, match=f"upstream .*:{port} is this proxy's own address"):
        run(loop, start_and_close(config))
    assert port_is_free(listen, port)  # the listening socket was closed


@pytest.mark.parametrize("loop", LOOPS)
def test_the_same_port_on_another_address_is_not_a_loop(loop: str) -> None:
    port = free_port()
    config = ProxyConfig(upstream=("127.0.0.2", port), listen=("127.0.0.1", port))
    assert run(loop, start_and_close(config)) == port


@pytest.mark.parametrize("loop", LOOPS)
def test_a_request_that_comes_back_through_another_proxy_gets_508(loop: str) -> None:
    """A -> B -> A: B forwards to A what A forwarded to B. A sees its own request come back
    and answers 508, which B then A relay to the client: three exchanges, not thousands."""
    a_port, b_port = free_port(), free_port()
    a = RunningProxy(ProxyConfig(("127.0.0.1", b_port), listen=("127.0.0.1", a_port)), loop)
    b = RunningProxy(ProxyConfig(("127.0.0.1", a_port), listen=("127.0.0.1", b_port)), loop)
    try:
        response = httpx.get(f"{a.url}/loop", timeout=10)
        assert response.status_code == 508
        assert "came back to this proxy" in response.text
        first, back = a.exchanges(2)
        (middle,) = b.exchanges(1)
        assert [x.status for x in (first, middle, back)] == [508, 508, 508]
        assert (first.state, middle.state, back.state) == ("completed", "completed", "failed")
        assert back.request is not None
        assert back.request.path == "/loop"
        assert back.error is not None
        assert back.error.type == "inspector.proxy.LoopDetected"
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("loop", LOOPS)
def test_two_proxies_chained_on_purpose_forward(loop: str, upstream: Server) -> None:
    """A -> B -> upstream: A's connection to B is one of this process's upstream
    connections, but the chain does not lead back to B: no loop."""
    b = RunningProxy(ProxyConfig(("127.0.0.1", upstream.port), listen=("127.0.0.1", 0)), loop)
    a = RunningProxy(ProxyConfig(("127.0.0.1", b.port), listen=("127.0.0.1", 0)), loop)
    try:
        assert httpx.get(f"{a.url}/download?n=3", timeout=10).content == bytes(range(3))
        assert [x.status for x in a.exchanges(1) + b.exchanges(1)] == [200, 200]
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("loop", LOOPS)
def test_an_upstream_that_does_not_accept_yet_is_said_at_start(loop: str, upstream: Server) -> None:
    nowhere = free_port()

    async def main() -> tuple[str | None, str | None]:
        listen = ("127.0.0.1", 0)
        down = Proxy(ProxyConfig(("127.0.0.1", nowhere), listen=listen), RecordBuffer())
        up = Proxy(ProxyConfig(("127.0.0.1", upstream.port), listen=listen), RecordBuffer())
        async with down, up:
            return await down.check_upstream(), await up.check_upstream()

    down, up = run(loop, main())
    assert down == (
        f"upstream 127.0.0.1:{nowhere} refused the connection: requests get 502 until it accepts"
    )
    assert up is None
