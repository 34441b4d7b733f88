"""Pairing on real servers: inspect-proxy in front of a wrapped app under uvicorn and gunicorn
(exact, by connection and order, with keep-alive reuse), and nginx in front of the proxy with
X-Forwarded-For, which uvicorn trusts from 127.0.0.1 (paired by content)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inspector.observe.diff import diff
from inspector.observe.exchange import Exchange
from inspector.observe.pairing import paired_app
from inspector.observe.store import Store
from inspector.proxy import ProxyConfig
from tests.inspector.proxy import conftest
from tests.inspector.proxy.conftest import RunningProxy, run_nginx
from tests.servers import Server, serve


@pytest.fixture(params=["uvicorn", "gunicorn"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    target = "tests.apps.paired_apps:" + ("asgi" if request.param == "uvicorn" else "wsgi")
    with serve(request.param, target, tmp_path) as server:
        yield server


@pytest.fixture
def proxy(app: Server) -> Iterator[RunningProxy]:
    config = ProxyConfig(upstream=("127.0.0.1", app.port), listen=("127.0.0.1", 0))
    running = RunningProxy(config, "asyncio")
    yield running
    running.stop()


def both(proxy: RunningProxy, app: Server, count: int, direct: int = 0) -> Store:
    """A store fed the proxy's events, then the app's (as two peers' batches arrive)."""
    store = Store()
    proxy.exchanges(count)
    store.add(proxy.events())
    store.add(app.events(count + direct))
    store.pairing.window = 0.0  # every exchange here has ended: give up on what is unpaired
    store.add([])
    return store


def proxied(store: Store) -> list[Exchange]:
    return [x for x in store if x.request is not None and x.request.source == "proxy"]


def test_keep_alive_requests_pair_exactly_in_order(proxy: RunningProxy, app: Server) -> None:
    with httpx.Client(base_url=proxy.url) as client:  # one connection, reused
        for n in range(3):
            assert client.post("/echo", content=f"body {n}".encode()).text == f"body {n}"
    store = both(proxy, app, 3)
    exchanges = proxied(store)
    assert len(exchanges) == 3
    for n, exchange in enumerate(exchanges):
        mate = paired_app(exchange)
        assert mate is not None, exchange.unpaired
        assert exchange.pair is not None
        assert exchange.pair.how == "exact"
        assert bytes(mate.request_body.data) == f"body {n}".encode()
        assert exchange.forwarded is not None
        assert mate.request is not None
        assert mate.request.client == exchange.forwarded.local
    sequences = [x.forwarded.sequence for x in exchanges if x.forwarded is not None]
    server = app.log()
    assert sequences in ([1, 2, 3], [1, 1, 1]), server  # gunicorn's sync worker closes each


def test_a_request_straight_to_the_app_says_why(proxy: RunningProxy, app: Server) -> None:
    assert httpx.get(f"{app.url}/hello").text == "hello"
    assert httpx.get(f"{proxy.url}/hello").text == "hello"
    store = both(proxy, app, 1, direct=1)
    direct = next(
        x for x in store if x.request is not None and x.request.source != "proxy" and x.pair is None
    )
    assert direct.unpaired.startswith("no proxy exchange went out from 127.0.0.1:")
    (through,) = proxied(store)
    assert through.pair is not None


@pytest.fixture
def forwarding(monkeypatch: pytest.MonkeyPatch) -> None:
    """nginx as commonly set up: it adds the client to X-Forwarded-For."""
    header = " proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    monkeypatch.setattr(conftest, "_COMMON", conftest._COMMON + header)


@pytest.mark.parametrize("app", ["uvicorn"], indirect=True)
@pytest.mark.usefixtures("forwarding")
def test_behind_nginx_a_rewritten_client_pairs_by_content(
    tmp_path: Path, proxy: RunningProxy, app: Server
) -> None:
    with run_nginx(tmp_path, proxy.port, app.port) as nginx, httpx.Client() as client:
        for path in ("/hello", "/hello", "/missing"):
            client.get(f"http://127.0.0.1:{nginx.port}{path}")
    store = both(proxy, app, 3)
    exchanges = proxied(store)
    assert [x.pair.how if x.pair else x.unpaired for x in exchanges] == ["content"] * 3
    first = exchanges[0]
    assert first.pair is not None
    assert first.pair.app.request is not None
    assert first.pair.app.request.client == ("127.0.0.1", 0)  # uvicorn took X-Forwarded-For
    result = diff(first.pair)
    request = {h.name: h for h in result.request_headers}
    assert request["x-forwarded-for"].app == ("127.0.0.1",)
    assert request["x-forwarded-for"].proxy_header
    response = {h.name: h for h in result.response_headers}
    assert response["server"].change == "removed"  # uvicorn added it: the app never sent it
    facts = {f.what: f for f in result.facts}
    assert not facts["client"].same
    split = result.split
    assert split.app is not None
    assert split.capture is not None
    assert 0 < split.capture < split.app
