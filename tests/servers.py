"""Real servers on 127.0.0.1 for tests, in their own processes, and a real `inspector listen`.

An app under test lives in a module under `tests/apps` and is named as `module:attribute`.
Wrapped apps write the events they capture to the file named by `INSPECTOR_TEST_EVENTS`
(see `tests/apps/recording.py`), so a test can assert exactly what was captured in the
server's process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h11

from inspector import codec
from inspector.events import Event, ExchangeFinished, RequestStarted
from inspector.observe.exchange import Exchange, fold
from inspector.observe.session import read_session

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
    with spawn(command(kind, target, port, workers), port, tmp_path, extra_env) as server:
        wait_until_listening(server)
        yield server


@contextlib.contextmanager
def spawn(
    argv: list[str], port: int, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start a server that will listen on `port`, without waiting for it, so that several can
    start at once; `wait_until_listening` waits. It is stopped (SIGTERM, then SIGKILL) at exit."""
    events_path = tmp_path / f"events-{port}.jsonl"
    log_path = tmp_path / f"server-{port}.log"
    env = {**os.environ, "INSPECTOR_TEST_EVENTS": str(events_path), "PYTHONPATH": str(ROOT)}
    env.update(extra_env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
    server = Server(port, process, events_path, log_path)
    try:
        yield server
    finally:
        _stop(process, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_listening(server: Server, timeout: float = 20.0) -> None:
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


_wait_until_listening = wait_until_listening  # the name older tests import


@dataclass
class Listener:
    """A real `inspector listen --no-tui --save` on a private Unix socket."""

    process: subprocess.Popen[bytes]
    socket: Path
    session: Path
    log_path: Path

    @property
    def bus(self) -> str:
        """The address to give a wrapped app in `INSPECTOR_BUS`."""
        return f"unix:{self.socket}"


def saved_exchange(session: Path, marker: str, timeout: float = 10.0) -> Exchange:
    """The one exchange in a saved session whose query string holds `marker`, once it has
    finished (asserting that no other exchange holds it)."""
    deadline = time.monotonic() + timeout
    while True:
        events = list(read_session(session)) if session.exists() else []
        exchanges = [
            x
            for x in fold(events).values()
            if x.request is not None and marker.encode() in x.request.query
        ]
        assert len(exchanges) <= 1, f"{len(exchanges)} exchanges carry {marker!r}"
        if exchanges and exchanges[0].finished is not None:
            return exchanges[0]
        assert time.monotonic() < deadline, f"no finished exchange carries {marker!r}"
        time.sleep(0.02)


@contextlib.contextmanager
def listen(directory: Path) -> Iterator[Listener]:
    """`inspector listen` saving to `directory`/s.jsonl from `directory`/bus.sock (keep
    `directory` short: a Unix socket's path has at most 107 bytes)."""
    sock, session, log_path = directory / "bus.sock", directory / "s.jsonl", directory / "log"
    argv = [sys.executable, "-m", "tui", "listen", "--bus", f"unix:{sock}", "--no-tui"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*argv, "--save", str(session)], cwd=ROOT, stdout=log, stderr=log
        )
    listener = Listener(process, sock, session, log_path)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "inspector listen made no socket"
            time.sleep(0.01)
        yield listener
    finally:
        _stop(process, signal.SIGINT)


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


def response_body(raw: bytes, method: str = "GET") -> tuple[int, bytes]:
    """The status and body of a raw response as a client reads it (chunked framing undone),
    by h11."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
    client.send(h11.EndOfMessage())
    client.receive_data(raw)
    client.receive_data(b"")  # the server closed: that ends a body without a length
    status, body = 0, b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, body
        else:
            raise AssertionError(f"not a whole response: {event!r} in {raw!r}")
