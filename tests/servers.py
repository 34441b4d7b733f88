"""Real servers on 127.0.0.1 for tests: uvicorn, gunicorn and wsgiref in their own processes.

An app under test lives in a module under `tests/apps` and is named as `module:attribute`.
Wrapped apps write the events they capture to the file named by `INSPECTOR_TEST_EVENTS`
(see `tests/apps/recording.py`), so a test can assert exactly what was captured in the
server's process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inspector import codec
from inspector.events import Event, ExchangeFinished, RequestStarted

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    events_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, finished: int, timeout: float = 10.0) -> list[Event]:
        """The events recorded so far, once `finished` exchanges have finished."""
        deadline = time.monotonic() + timeout
        while True:
            events = [codec.loads(line) for line in _lines(self.events_path)]
            done = sum(isinstance(e, ExchangeFinished) for e in events)
            if done >= finished or time.monotonic() > deadline:
                assert done == finished, f"{done} exchanges finished, expected {finished}"
                return events
            time.sleep(0.01)

    def exchange_events(self, marker: str, timeout: float = 10.0) -> list[Event]:
        """The events of the one finished exchange whose query string holds `marker`."""
        deadline = time.monotonic() + timeout
        while True:
            events = [codec.loads(line) for line in _lines(self.events_path)]
            ids = {
                e.exchange_id
                for e in events
                if isinstance(e, RequestStarted) and marker.encode() in e.query
            }
            mine = [e for e in events if e.exchange_id in ids]
            if len(ids) == 1 and any(isinstance(e, ExchangeFinished) for e in mine):
                return mine
            assert len(ids) <= 1, f"{len(ids)} exchanges carry {marker!r}"
            assert time.monotonic() < deadline, f"no finished exchange carries {marker!r}"
            time.sleep(0.01)


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text()
    return [line for line in text.split("\n")[:-1] if line]  # a last line may be partial


def command(kind: str, target: str, port: int, workers: int = 1) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *(["--workers", str(workers)] if workers > 1 else []),
        ]
    if kind == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            target,
            "-b",
            bind,
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ]
    if kind == "wsgiref":
        return [sys.executable, "-m", "tests.apps.wsgiref_server", target, str(port)]
    raise ValueError(kind)


@contextlib.contextmanager
def serve(
    kind: str,
    target: str,
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Server]:
    port = free_port()
    events_path = tmp_path / f"events-{port}.jsonl"
    log_path = tmp_path / f"server-{port}.log"
    env = {**os.environ, "INSPECTOR_TEST_EVENTS": str(events_path), "PYTHONPATH": str(ROOT)}
    env.update(extra_env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command(kind, target, port, workers), cwd=ROOT, env=env, stdout=log, stderr=log
        )
    server = Server(port, process, events_path, log_path)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), 0.2),
        ):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server did not listen in {timeout}s: {server.log()}")


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes and read until the server closes: the response exactly as on the wire."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def without_date(response: bytes) -> bytes:
    """The Date header's value differs between two servers a second apart; nothing else may."""
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = [
        line.split(b":", 1)[0] + b": <date>" if line.lower().startswith(b"date:") else line
        for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines) + sep + body
