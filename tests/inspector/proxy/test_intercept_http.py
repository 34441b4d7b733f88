"""Intercept HTTP on real sockets: the proxy in front of a real uvicorn app that says what it
received (`mirror.py`), raw-socket clients, the viewer's actions through the control socket.
A held request reaches the app only when released, and exactly as edited; a held response
reaches the client exactly as edited; dropped both ways; timed out; a body over the limit is
forwarded or dropped, never edited; other connections are unaffected meanwhile."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inspector import events as ev
from inspector.observe.control import ActionError
from tests.inspector.proxy.conftest import MakeProxy
from tests.inspector.proxy.steering import Steered
from tests.servers import Server, serve


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("mirror")
    with serve("uvicorn", "tests.inspector.proxy.mirror:app", path) as server:
        yield server


@pytest.fixture
def make_steered(make_proxy: MakeProxy, mirror: Server, tmp_path: Path) -> Iterator[Any]:
    made: list[Steered] = []

    def make(**options: Any) -> Steered:
        options.setdefault("hold_timeout", 30)
        proxy = make_proxy(upstream=("127.0.0.1", mirror.port), **options)
        made.append(Steered(proxy, tmp_path / f"control-{len(made)}.sock"))
        return made[-1]

    yield make
    for steered in made:
        steered.stop()


@pytest.fixture
def steered(make_steered: Any) -> Steered:
    made: Steered = make_steered()
    return made


def _connect(steered: Steered) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", steered.proxy.port), timeout=10)
    return sock


def _response(sock: socket.socket) -> bytes:
    """One whole response (with a Content-Length), or what came before the connection closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _seen_by_app(response: bytes) -> dict[str, Any]:
    assert response.startswith(b"HTTP/1.1 200 OK\r\n"), response[:200]
    seen: dict[str, Any] = json.loads(response.partition(b"\r\n\r\n")[2])
    return seen


def _paths_seen(mirror: Server) -> list[str]:
    paths: list[str] = httpx.get(f"{mirror.url}/seen").json()["seen"]
    return paths


def _releases(steered: Steered) -> list[tuple[int, str]]:
    events = steered.proxy.events()
    return [(e.hold, e.action) for e in events if isinstance(e, ev.HoldReleased)]


def test_an_edited_request_is_exactly_what_the_app_receives(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, "~m POST & ~u /original", None))
    with _connect(steered) as sock:
        sock.sendall(b"POST /original?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
        (held,) = steered.held(1)
        assert (held.what, held.body, held.size, held.editable) == ("request", b"body", 4, "")
        head = b"PUT /edited?q=2 HTTP/1.1\nHost: a\nX-Edited: yes\n"
        steered.act(lambda c: c.release(held.hold, "edit", head=head, body=b"a new body"))
        seen = _seen_by_app(_response(sock))
        assert (seen["method"], seen["path"], seen["query"], seen["body"]) == (
            "PUT",
            "/edited",
            "q=2",
            "a new body",
        )
        assert seen["headers"] == [["host", "a"], ["x-edited", "yes"], ["content-length", "10"]]
        # Kept alive: the next request on the connection goes straight through.
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert _seen_by_app(_response(sock))["path"] == "/after"
    assert _releases(steered) == [(held.hold, "edited")]


def test_the_recorded_edit_of_a_request_is_what_the_app_received(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, "~u /recorded", None))
    with _connect(steered) as sock:
        sock.sendall(b"POST /recorded HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
        (held,) = steered.held(1)
        head = b"PATCH /recorded/7?x=1 HTTP/1.1\nHost: a\nContent-Length: 99\nX-Edited: yes\n"
        steered.act(lambda c: c.release(held.hold, "edit", head=head, body=b"as edited"))
        seen = _seen_by_app(_response(sock))
    (exchange,) = steered.proxy.exchanges(1)
    edit = exchange.edit("request")
    assert edit is not None
    assert edit.hold == held.hold
    line, *fields = edit.head.decode().split("\r\n")[:-1]
    method, target, _ = line.split(" ")
    assert (method, target, edit.body.decode()) == (
        seen["method"],
        f"{seen['path']}?{seen['query']}",
        seen["body"],
    )
    assert [[n.lower(), v] for n, v in (f.split(": ", 1) for f in fields)] == seen["headers"]
    # What the client sent stays the exchange's request.
    assert exchange.request is not None
    assert exchange.request.method == "POST"
    assert exchange.request_body.data == b"body"


def test_the_recorded_edit_of_a_response_is_what_the_client_received(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, None, "~u /recorded-answer"))
    with _connect(steered) as sock:
        sock.sendall(b"GET /recorded-answer HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        head = b"HTTP/1.1 203 Edited\nX-Edited: yes\n"
        steered.act(lambda c: c.release(held.hold, "edit", head=head, body=b"changed"))
        received = _response(sock)
    (exchange,) = steered.proxy.exchanges(1)
    edit = exchange.edit("response")
    assert edit is not None
    assert edit.head + b"\r\n" + edit.body == received
    assert exchange.status == 200  # what the app answered


def test_a_malformed_edit_is_refused_and_the_request_can_still_go(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, "~u /refused-edit", None))
    with _connect(steered) as sock:
        sock.sendall(b"GET /refused-edit HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        with pytest.raises(ActionError, match="malformed header field"):
            steered.act(lambda c: c.release(held.hold, "edit", head=b"GET / HTTP/1.1\nNo\n"))
        steered.act(lambda c: c.release(held.hold, "forward"))
        assert _seen_by_app(_response(sock))["path"] == "/refused-edit"


def test_an_edited_response_is_exactly_what_the_client_receives(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, None, "~u /answer & ~b answer"))
    with _connect(steered) as sock:
        sock.sendall(b"GET /answer HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        assert held.what == "response"
        assert held.head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert json.loads(held.body)["path"] == "/answer"
        head = b"HTTP/1.1 299 Edited\r\nX-Edited: yes\r\n\r\n"
        steered.act(lambda c: c.release(held.hold, "edit", head=head, body=b"changed"))
        edited = b"HTTP/1.1 299 Edited\r\nX-Edited: yes\r\nContent-Length: 7\r\n\r\nchanged"
        assert _response(sock) == edited
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        assert _seen_by_app(_response(sock))["path"] == "/next"
    (exchange, _) = steered.proxy.exchanges(2)
    assert exchange.holds == {}


def test_a_dropped_request_never_reaches_the_app(steered: Steered, mirror: Server) -> None:
    steered.act(lambda c: c.intercept(None, "~u /dropped-request", None))
    with _connect(steered) as sock:
        sock.sendall(b"GET /dropped-request HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        steered.act(lambda c: c.release(held.hold, "drop"))
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"the viewer dropped this request" in answer
    assert "/dropped-request" not in _paths_seen(mirror)
    (exchange,) = steered.proxy.exchanges(1)
    assert (exchange.status, exchange.state) == (502, "failed")
    assert _releases(steered) == [(held.hold, "dropped")]


def test_a_dropped_response_closes_the_clients_connection(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, None, "~u /dropped-response"))
    with _connect(steered) as sock:
        sock.sendall(b"GET /dropped-response HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        steered.act(lambda c: c.release(held.hold, "drop"))
        assert sock.recv(65536) == b""  # closed, with nothing of the response
    (exchange,) = steered.proxy.exchanges(1)
    assert exchange.state == "failed"
    assert _releases(steered) == [(held.hold, "dropped")]


def test_a_forgotten_hold_times_out_forwarded(make_steered: Any) -> None:
    steered: Steered = make_steered(hold_timeout=0.2)
    steered.act(lambda c: c.intercept(None, "~u /forgotten", "~u /forgotten"))
    with _connect(steered) as sock:
        sock.sendall(b"GET /forgotten HTTP/1.1\r\nHost: a\r\n\r\n")
        # Held twice (the request, then its response), each forwarded after 0.2 s.
        assert _seen_by_app(_response(sock))["path"] == "/forgotten"
    # Recorded just after the release wrote what the client read: waited for.
    assert [e.action for e in steered.released(2)] == ["timed out", "timed out"]


def _post(sock: socket.socket, path: bytes, body: bytes) -> threading.Thread:
    """Sends a POST on a thread: a body the proxy stops reading would block `sendall`."""
    head = b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (path, len(body))
    thread = threading.Thread(target=sock.sendall, args=(head + body,))
    thread.start()
    return thread


def test_a_body_over_the_limit_is_forwarded_whole_but_never_edited(make_steered: Any) -> None:
    steered: Steered = make_steered(body_limit=1024)
    steered.act(lambda c: c.intercept(None, "~u /long", None))
    body = bytes(range(256)) * 4096  # 1 MiB
    with _connect(steered) as sock:
        sending = _post(sock, b"/long", body)
        (held,) = steered.held(1)
        assert (held.body, held.size) == (body[:1024], len(body))
        assert "longer than the body limit" in held.editable
        with pytest.raises(ActionError, match="not edited"):
            steered.act(lambda c: c.release(held.hold, "edit", head=b"POST /x HTTP/1.1"))
        steered.act(lambda c: c.release(held.hold, "forward"))
        seen = _seen_by_app(_response(sock))
        sending.join(10)
    assert (seen["path"], seen["size"]) == ("/long", len(body))
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_body_over_the_limit_can_be_dropped(make_steered: Any, mirror: Server) -> None:
    steered: Steered = make_steered(body_limit=1024)
    steered.act(lambda c: c.intercept(None, "~u /long-dropped", None))
    with _connect(steered) as sock:
        sending = _post(sock, b"/long-dropped", b"x" * (1 << 20))
        (held,) = steered.held(1)
        steered.act(lambda c: c.release(held.hold, "drop"))
        assert _response(sock).startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
        sending.join(10)
    assert "/long-dropped" not in _paths_seen(mirror)


def test_other_connections_are_unaffected_while_one_is_held(steered: Steered) -> None:
    steered.act(lambda c: c.intercept(None, "~u /wait-here", None))
    with _connect(steered) as held_sock:
        held_sock.sendall(b"GET /wait-here HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
        for n in range(3):
            reply = httpx.get(f"{steered.proxy.url}/free/{n}", timeout=10)
            assert reply.json()["path"] == f"/free/{n}"
        steered.act(lambda c: c.release_all("forward"))
        assert _seen_by_app(_response(held_sock))["path"] == "/wait-here"
    assert _releases(steered) == [(held.hold, "forwarded")]


def test_a_held_request_whose_client_goes_is_lost(steered: Steered, mirror: Server) -> None:
    steered.act(lambda c: c.intercept(None, "~u /abandoned", None))
    with _connect(steered) as sock:
        sock.sendall(b"GET /abandoned HTTP/1.1\r\nHost: a\r\n\r\n")
        (held,) = steered.held(1)
    assert [(e.hold, e.action) for e in steered.released(1)] == [(held.hold, "lost")]
    with pytest.raises(ActionError, match="not held any more"):
        steered.act(lambda c: c.release(held.hold, "forward"))
    assert "/abandoned" not in _paths_seen(mirror)


def test_a_websocket_handshake_may_be_held_and_its_101_never_is(
    make_proxy: MakeProxy, tmp_path: Path
) -> None:
    steered = Steered(make_proxy(hold_timeout=30), tmp_path / "control.sock")  # the ASGI cases
    try:
        steered.act(lambda c: c.intercept(None, "~u /ws/echo", ""))  # every response too
        url = f"ws://127.0.0.1:{steered.proxy.port}/ws/echo"
        opened: list[str] = []

        def talk() -> None:
            with connect(url) as ws:
                ws.send("hello")
                opened.append(str(ws.recv(10)))

        client = threading.Thread(target=talk)
        client.start()
        (held,) = steered.held(1)
        assert (held.what, held.head.split(b"\r\n")[0]) == ("request", b"GET /ws/echo HTTP/1.1")
        steered.act(lambda c: c.release(held.hold, "forward"))
        client.join(10)
        assert opened == ["hello"]
        assert len(steered.held(1)) == 1  # the 101 went through: only the request was held
    finally:
        steered.stop()
