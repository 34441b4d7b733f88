"""The framework x server matrix (issue #11): each stack as its users run it, bare and captured.

For each stack (see `stacks.py`) three servers start, once each, from the stack's one command
line: with the bare app; with the app wrapped in code, streaming to an `inspector listen
--no-tui --save` over a private Unix socket; and with the bare app under `inspector run
--no-tui --save` (no code change). Each request goes to the three as the same raw bytes, and
the responses must be the same bytes: status line, headers in order with their duplicates,
chunked framing and body; only the Date header's value may differ (servers stamp the second
they answer). Each saved session must then hold that request exactly once, with what was sent
and answered. WebSocket stacks also echo text and binary messages and close with a code:
messages, close code and reason, and the handshake's status and headers must be the same (but
Date, and Sec-WebSocket-Accept, which answers the client's random key).
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.apps.stacks import CLOSE_CODE, CLOSE_REASON, PARTS
from tests.servers import (
    Server,
    free_port,
    listen,
    raw_request,
    response_body,
    saved_exchange,
    spawn,
    wait_until_listening,
    without_date,
)
from tests.stacks.stacks import STACKS, Stack

pytestmark = pytest.mark.stacks

BODY = b"name=inspector&bytes=\x00\xff\r\n&euro=\xe2\x82\xac"
REQUESTS = {
    "get": ("GET", "/hello", b""),
    "post": ("POST", "/echo", BODY),
    "stream": ("GET", "/stream", b""),
}
# No empty message: daphne never sends one, and Quart's empty binary one fails under hypercorn.
MESSAGES: list[str | bytes] = ["one", b"\x00\xfftwo", "thr\u00e9e", b"\x01" * 3]


@dataclass
class Running:
    stack: Stack
    bare: Server
    captured: dict[str, tuple[Server, Path]]
    """Each variant's server, and the session its capture is saved to."""


RUN = "import sys; from tui.run import main; sys.exit(main())"
Start = Callable[[Stack, int, Path, contextlib.ExitStack], tuple[Server, Path]]


def wrapped_in_code(
    stack: Stack, port: int, tmp: Path, cleanup: contextlib.ExitStack
) -> tuple[Server, Path]:
    """The wrapped app, streaming to an `inspector listen --no-tui --save`."""
    listener = cleanup.enter_context(listen(tmp))
    env = {"INSPECTOR_BUS": listener.bus}
    server = cleanup.enter_context(spawn(stack.argv(stack.wrapped, port), port, tmp, env))
    return server, listener.session


def through_inspector_run(
    stack: Stack, port: int, tmp: Path, cleanup: contextlib.ExitStack
) -> tuple[Server, Path]:
    """The bare app's command line under `inspector run --no-tui --save`."""
    session = tmp / "run.jsonl"
    run = [sys.executable, "-c", RUN, "--no-tui", "--save", str(session), "--"]
    server = cleanup.enter_context(spawn([*run, *stack.argv(stack.bare, port)], port, tmp))
    return server, session


VARIANTS: dict[str, Start] = {
    "wrapped in code": wrapped_in_code,
    "through inspector run": through_inspector_run,
}
"""The ways each stack runs with capture; each is compared with the bare app."""


@pytest.fixture(scope="module")
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    stack: Stack = request.param
    tmp = tmp_path_factory.mktemp("stack")
    with contextlib.ExitStack() as cleanup:
        bare_port, *ports = _free_ports(1 + len(VARIANTS))
        argv = stack.argv(stack.bare, bare_port)
        bare = cleanup.enter_context(spawn(argv, bare_port, tmp, {"INSPECTOR_BUS": "off"}))
        captured = {
            variant: start(stack, port, tmp, cleanup)
            for (variant, start), port in zip(VARIANTS.items(), ports, strict=True)
        }
        for server in [bare, *(server for server, _ in captured.values())]:
            wait_until_listening(server)
        yield Running(stack, bare, captured)


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return list(ports)


CASES = [
    pytest.param(stack, case, id=f"{stack.name}-{case}")
    for stack in STACKS
    for case in [*REQUESTS, *(["websocket"] if stack.websocket else [])]
]


# One test function, its cases in stack order: each stack's servers start once (a module-scoped
# fixture is kept while its parameter stays the same).
@pytest.mark.parametrize(("running", "case"), CASES, indirect=["running"], scope="module")
def test_the_app_sees_and_sends_the_same_and_is_captured(running: Running, case: str) -> None:
    if case == "websocket":
        check_websocket(running)
    else:
        check_http(running, *REQUESTS[case])


def check_http(running: Running, method: str, path: str, body: bytes) -> None:
    marker = uuid.uuid4().hex[:12]
    head = f"{method} {path}?m={marker} HTTP/1.1\r\nHost: localhost\r\nX-Dup: a\r\nX-Dup: b\r\n"
    if body:
        head += f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
    raw = (head + "Connection: close\r\n\r\n").encode() + body
    bare = raw_request(running.bare.port, raw)
    status, received = response_body(bare, method)
    assert status == 200, bare
    if path == "/hello":
        assert received.startswith(b"hello "), bare
        assert bare.lower().count(b"\r\nset-cookie: ") == 2, bare
    else:
        assert received == (body if path == "/echo" else b"".join(PARTS)), bare
    for variant, (server, session) in running.captured.items():
        response = raw_request(server.port, raw)
        assert without_date(response) == without_date(bare), variant
        exchange = saved_exchange(session, marker)
        assert exchange.request is not None
        assert exchange.response is not None
        assert exchange.finished is not None
        assert (exchange.request.method, exchange.request.path) == (method, path)
        assert exchange.response.status == status
        assert bytes(exchange.request_body.data) == body
        assert bytes(exchange.response_body.data) == received
        assert exchange.finished.outcome == "completed"
        assert exchange.capture_errors == []


Conversation = tuple[int, list[tuple[str, str]], list[str | bytes], tuple[int, str] | None]


def talk(port: int, marker: str) -> Conversation:
    """The handshake's status and headers, the echoes of MESSAGES, and the server's close."""
    with connect(f"ws://127.0.0.1:{port}/ws?m={marker}", open_timeout=10) as ws:
        assert ws.response is not None
        headers = [
            (name, "<varies>" if name.lower() in ("date", "sec-websocket-accept") else value)
            for name, value in ws.response.headers.raw_items()
        ]
        replies = []
        for message in MESSAGES:
            ws.send(message)
            replies.append(ws.recv(timeout=10))
        ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    close = closed.value.rcvd
    code_and_reason = None if close is None else (int(close.code), close.reason)
    return ws.response.status_code, headers, replies, code_and_reason


def check_websocket(running: Running) -> None:
    marker = uuid.uuid4().hex[:12]
    bare = talk(running.bare.port, marker)
    _, _, replies, close = bare
    assert replies == MESSAGES
    assert close is not None
    assert close[0] == CLOSE_CODE  # daphne does not send the reason
    for variant, (server, session) in running.captured.items():
        assert talk(server.port, marker) == bare, variant
        exchange = saved_exchange(session, marker)
        assert exchange.request is not None
        assert (exchange.request.kind, exchange.request.path) == ("websocket", "/ws")
        assert exchange.accepted is not None
        messages = [(m.sender, m.data if m.text is None else m.text) for m in exchange.messages]
        both_ways = [(sender, m) for m in MESSAGES for sender in ("client", "server")]
        assert messages == [*both_ways, ("client", "close")]
        assert exchange.closed is not None
        closed = exchange.closed
        assert (closed.sender, closed.code, closed.reason) == ("server", CLOSE_CODE, CLOSE_REASON)
        assert exchange.capture_errors == []
