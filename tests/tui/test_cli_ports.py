"""A port or bus address already taken: each command names it, and the flag that picks another.

Every command runs for real in a subprocess, against a socket this test holds open.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT

PROXY_MAIN = "import sys; from tui.cli import proxy_main; sys.exit(proxy_main())"


@pytest.fixture
def busy() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("-m", "tui", "demo", "--no-tui", "--port", "{port}", "--duration", "5"),
            "inspector demo: 127.0.0.1:{port} is already in use: choose another port with --port",
        ),
        (
            ("-m", "tui", "demo", "--no-tui", "--port", "0", "--app-port", "{port}"),
            "inspector demo: 127.0.0.1:{port} is already in use: "
            "choose another port with --app-port",
        ),
        (
            ("-c", PROXY_MAIN, "--upstream", "9", "--listen", "{port}", "--no-tui"),
            "inspect-proxy: 127.0.0.1:{port} is already in use: choose another port with --listen",
        ),
        (
            ("-m", "tui", "listen", "--no-tui", "--bus", "tcp://127.0.0.1:{port}"),
            "inspector listen: tcp://127.0.0.1:{port} is already in use: "
            "choose another address with --bus",
        ),
    ],
)
def test_a_busy_port_is_named_with_the_flag_that_picks_another(
    busy: int, args: tuple[str, ...], said: str
) -> None:
    result = run(*(arg.format(port=busy) for arg in args))
    assert result.returncode == 1
    assert result.stderr == said.format(port=busy) + "\n"


def test_a_bus_socket_in_use_is_named_with_the_flag_that_picks_another(tmp_path: Path) -> None:
    path = tmp_path / "bus.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # another inspector listen, as far as it can tell
        sock.bind(str(path))
        sock.listen()
        result = run("-m", "tui", "listen", "--no-tui", "--bus", f"unix:{path}")
    assert result.returncode == 1
    assert result.stderr == (
        f"inspector listen: another inspector is already listening on unix:{path}: "
        "stop it or choose another address with --bus\n"
    )


def test_inspect_proxy_says_at_start_that_its_upstream_does_not_accept_yet() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        upstream = int(held.getsockname()[1])
        command = ["-c", PROXY_MAIN, "--upstream", str(upstream), "--listen", "0", "--no-tui"]
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        try:
            assert process.stderr is not None
            lines = [process.stderr.readline() for _ in range(2)]
        finally:
            process.terminate()
            process.communicate(timeout=10)
    assert lines[1] == (
        f"inspect-proxy: warning: upstream 127.0.0.1:{upstream} refused the connection: "
        "requests get 502 until it accepts\n"
    )
