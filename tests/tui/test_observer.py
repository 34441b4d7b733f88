"""`inspect-proxy` as two processes: the relay serves traffic, its child observes it.

Real processes: a uvicorn upstream, the relay (`inspect-proxy --no-tui --save`) and the
`inspector listen` child it starts. Killing either one shows the promises of `tui.observer`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inspector import events as ev
from inspector.observe.session import read_session
from tests.servers import ROOT, Server, free_port, serve

PROXY_MAIN = "import sys; from tui.cli import proxy_main; sys.exit(proxy_main())"


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until(condition: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@contextlib.contextmanager
def relay(tmp_path: Path, upstream: Server) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    where = ["--upstream", str(upstream.port), "--listen", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-c", PROXY_MAIN, *where, "--no-tui", "--save", str(tmp_path / "s.jsonl")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    try:
        wait_until(lambda: get(port, 0) == 200, "the proxy did not answer")
        yield process, port
    finally:
        for pid in children(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def get(port: int, n: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/plain?n={n}", timeout=5).status_code
    except httpx.TransportError:
        return None


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", "tests.apps.asgi_cases:app", tmp_path_factory.mktemp("up")) as up:
        yield up


def test_the_relay_keeps_relaying_when_its_viewer_dies(tmp_path: Path, upstream: Server) -> None:
    with relay(tmp_path, upstream) as (process, port):
        (child,) = children(process.pid)
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: not alive(child), "the viewer did not die")
        assert [get(port, n) for n in range(1, 21)] == [200] * 20
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert err.count("the viewer exited") == 1, err


def test_the_viewer_does_not_outlive_its_relay(tmp_path: Path, upstream: Server) -> None:
    with relay(tmp_path, upstream) as (process, _):
        (child,) = children(process.pid)
        process.kill()
        process.wait(10)
        wait_until(lambda: not alive(child), "the viewer outlived its relay", timeout=5)


def test_a_stopped_relay_hands_every_exchange_to_its_viewer(
    tmp_path: Path, upstream: Server
) -> None:
    with relay(tmp_path, upstream) as (process, port):
        (child,) = children(process.pid)
        assert [get(port, n) for n in range(1, 201)] == [200] * 200
        process.send_signal(signal.SIGTERM)  # at once: what is still in flight must arrive
        process.communicate(timeout=15)
        wait_until(lambda: not alive(child), "the viewer did not stop with its relay")
    finished = [e for e in read_session(tmp_path / "s.jsonl") if isinstance(e, ev.ExchangeFinished)]
    assert len(finished) == 201  # and the first probe request
