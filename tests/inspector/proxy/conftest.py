"""Fixtures for the proxy tests: a real uvicorn upstream, the proxy on a loop of its own, nginx.

The proxy runs in a thread with its own event loop (the default loop or uvloop), so tests use
plain blocking clients (httpx, the `websockets` sync client, raw sockets) against real ports
on 127.0.0.1. Its events go to an `EventBus` the test reads after `bus.flush()`. Where uvicorn
cannot misbehave as a case needs, a `ScriptedUpstream` (see `scripted.py`) plays raw bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from inspector import EventBus
from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from inspector.proxy import Proxy, ProxyConfig
from tests.inspector.proxy.scripted import Script, ScriptedUpstream
from tests.servers import Server, free_port, serve

NGINX = "/usr/sbin/nginx"


class RunningProxy:
    """A `Proxy` serving on a thread of its own; `events()` and `exchanges()` read its bus."""

    def __init__(self, config: ProxyConfig, loop_kind: str) -> None:
        self.bus = EventBus()
        self.seen: list[ev.Event] = []
        self.bus.subscribe(self.seen.extend)
        factory = uvloop.new_event_loop if loop_kind == "uvloop" else asyncio.new_event_loop
        self.loop = factory()
        self.proxy = Proxy(config, self.bus)
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy-loop")
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)
        self.port = self.proxy.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self) -> list[ev.Event]:
        assert self.bus.flush()
        return list(self.seen)

    def exchanges(self, count: int | None = None, timeout: float = 10.0) -> list[Exchange]:
        """The exchanges so far, in order; with `count`, once that many have finished."""
        deadline = time.monotonic() + timeout
        while True:
            folded = list(fold(self.events()).values())
            done = sum(x.finished is not None for x in folded)
            if count is None or done >= count or time.monotonic() > deadline:
                assert count is None or done == count, f"{done} finished, expected {count}"
                return folded
            time.sleep(0.01)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.bus.close()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", "tests.apps.proxy_upstream:app", tmp_path_factory.mktemp("up")) as up:
        yield up


MakeProxy = Callable[..., RunningProxy]


@pytest.fixture
def make_proxy(upstream: Server) -> Iterator[MakeProxy]:
    running: list[RunningProxy] = []

    def make(loop: str = "asyncio", **options: Any) -> RunningProxy:
        options.setdefault("upstream", ("127.0.0.1", upstream.port))
        config = ProxyConfig(listen=("127.0.0.1", 0), **options)
        running.append(RunningProxy(config, loop))
        return running[-1]

    yield make
    for proxy in running:
        proxy.stop()


@pytest.fixture(params=["asyncio", "uvloop"])
def proxy(request: pytest.FixtureRequest, make_proxy: MakeProxy) -> RunningProxy:
    """The proxy with default options, on each kind of loop."""
    return make_proxy(loop=request.param)


# -- scripted upstreams -----------------------------------------------------------------------


MakeScripted = Callable[[Script], ScriptedUpstream]


@pytest.fixture
def make_scripted() -> Iterator[MakeScripted]:
    running: list[ScriptedUpstream] = []

    def make(script: Script) -> ScriptedUpstream:
        running.append(ScriptedUpstream(script))
        return running[-1]

    yield make
    for upstream in running:
        upstream.stop()


# -- nginx -------------------------------------------------------------------------------------

_NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    upstream via_proxy {{ server 127.0.0.1:{proxy_port}; keepalive 8; }}
    upstream direct {{ server 127.0.0.1:{upstream_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://via_proxy; {common} }}
    }}
    server {{
        listen 127.0.0.1:{direct_port};
        location / {{ proxy_pass http://direct; {common} }}
    }}
}}
"""
_COMMON = (
    "proxy_http_version 1.1; proxy_set_header Host $host; proxy_buffering off;"
    " proxy_request_buffering off; proxy_set_header Upgrade $http_upgrade;"
    " proxy_set_header Connection $connection_upgrade;"
)


class Nginx:
    def __init__(self, port: int, direct_port: int) -> None:
        self.port = port  # nginx -> proxy -> upstream
        self.direct_port = direct_port  # nginx -> upstream


@contextlib.contextmanager
def run_nginx(tmp: Path, proxy_port: int, upstream_port: int) -> Iterator[Nginx]:
    if not os.path.exists(NGINX) and shutil.which("nginx") is None:
        pytest.fail(
            f"nginx is required by these tests and missing ({NGINX}): apt-get install nginx"
        )
    binary = NGINX if os.path.exists(NGINX) else str(shutil.which("nginx"))
    nginx = Nginx(free_port(), free_port())
    conf = _NGINX_CONF.format(
        tmp=tmp,
        proxy_port=proxy_port,
        upstream_port=upstream_port,
        port=nginx.port,
        direct_port=nginx.direct_port,
        common=_COMMON,
    )
    (tmp / "nginx.conf").write_text(conf)
    log = open(tmp / "nginx.out", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")],
        stdout=log,
        stderr=log,
    )
    try:
        _wait_for(nginx.port, process, tmp)
        _wait_for(nginx.direct_port, process, tmp)
        yield nginx
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for(port: int, process: subprocess.Popen[bytes], tmp: Path) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = (tmp / "error.log").read_text(errors="replace")
            pytest.fail(f"nginx exited: {errors}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    pytest.fail("nginx did not listen within 10 s")
