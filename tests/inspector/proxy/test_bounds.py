"""What one client can make the proxy hold, through real sockets: the listening queue, and the
bytes a client that pipelines requests without reading responses gets accepted."""

from __future__ import annotations

import contextlib
import select
import shutil
import subprocess

import pytest

from tests.inspector.proxy.conftest import MakeProxy
from tests.inspector.proxy.scripted import connect

GET = b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the queue")
@pytest.mark.parametrize("backlog", [2048, 16])
def test_the_listening_socket_has_the_configured_backlog(
    make_proxy: MakeProxy, backlog: int
) -> None:
    proxy = make_proxy(backlog=backlog)
    # For a listening socket, ss shows the accept queue's size as Send-Q.
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{proxy.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[2]) == backlog


def test_a_client_that_pipelines_and_never_reads_gets_only_a_bounded_amount_accepted(
    make_proxy: MakeProxy,
) -> None:
    # One request at a time: the proxy holds the bytes after a request (and reading pauses
    # past 64 KiB) until its response ended, so the client's sends soon block. Reading ahead
    # instead accepted 375,000 requests (190 MiB) on one connection.
    proxy = make_proxy()
    with connect(proxy.port) as sock:
        sock.setblocking(False)
        burst = GET * 2048
        accepted = 0
        # Send until the socket stays unwritable for a second (the proxy stopped reading), or
        # far more than any bound could allow.
        while accepted < 512 << 20 and select.select([], [sock], [], 1.0)[1]:
            with contextlib.suppress(BlockingIOError):
                accepted += sock.send(burst)
        sock.setblocking(True)
        sock.settimeout(10)
        # Loopback kernel buffers take some MiB; the proxy adds at most its hold limit.
        assert accepted < 32 << 20
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
