"""WebSocket tests from traffic: the client's messages sent again, the server's asserted.

A captured conversation becomes a test that opens the WebSocket with the captured headers
and subprotocols, then walks the messages in their captured order: the client's are sent,
each of the server's is received and compared (JSON text as data), and a close by the server
is asserted with its code. In process (an ASGI app) it goes through Starlette's
`TestClient`, since httpx's transports have no WebSocket; otherwise through the `websockets`
client to BASE_URL, each receive bounded by a timeout so a silent server fails the test
rather than hanging it.
"""

from __future__ import annotations

import json
from typing import Any

from inspector import events as ev
from inspector.observe import pysource
from inspector.observe.exchange import Exchange, header
from inspector.observe.pytest_parts import Module, request_headers

RECEIVE_TIMEOUT = 10
"""Seconds a test waits for each server message over the network."""


def websocket_test(x: Exchange, module: Module, secrets: frozenset[str]) -> list[str]:
    request = x.request
    assert request is not None
    module.helpers.add("connect")
    in_process = module.kind is not None
    headers, comments = request_headers(request.headers, secrets, websocket=True)
    lines = [f"    # {c}" for c in comments]
    arguments: list[tuple[str, object]] = [("", module.target(x))]
    if headers:
        arguments.append(("headers" if in_process else "additional_headers", headers))
    protocols = header(request.headers, b"sec-websocket-protocol")
    if protocols:
        arguments.append(("subprotocols", [p.strip() for p in protocols.split(",") if p.strip()]))
    opening = pysource.call("with connect", arguments)
    if len(opening) == 1:
        lines.append(opening[0] + " as websocket:")
    else:
        lines += pysource.call("opened = connect", arguments)
        lines.append("    with opened as websocket:")
    steps = [_step(m, module, in_process) for m in x.messages if not _injected(m)]
    lines += [line for step in steps for line in step]
    if x.closed is not None and x.closed.sender == "server":
        lines += _closed_by_server(x.closed.code, module, in_process)
    elif x.closed is not None and x.closed.code != 1000:
        lines.append(f"        websocket.close({x.closed.code})")
    if not steps and len(lines) and lines[-1].endswith(":"):
        lines.append("        pass  # the conversation had no messages")
    return lines


def _injected(message: ev.WebSocketMessage) -> bool:
    """A message the viewer injected (the relay records them): no peer sent it."""
    return bool(getattr(message, "injected", False))


def _step(message: ev.WebSocketMessage, module: Module, in_process: bool) -> list[str]:
    value: str | bytes = message.text if message.text is not None else message.data or b""
    if message.sender == "client":
        if in_process:
            method = "send_text" if isinstance(value, str) else "send_bytes"
            return _call(f"websocket.{method}", value)
        return _call("websocket.send", value)
    data = _json(value)
    if in_process:
        if data is not None:
            return pysource.statement("assert websocket.receive_json() == {}", data, indent=2)
        method = "receive_text" if isinstance(value, str) else "receive_bytes"
        return pysource.statement(f"assert websocket.{method}() == {{}}", value, indent=2)
    received = f"websocket.recv(timeout={RECEIVE_TIMEOUT})"
    if data is not None:
        module.imports.add("import json")
        return pysource.statement(f"assert json.loads({received}) == {{}}", data, indent=2)
    return pysource.statement(f"assert {received} == {{}}", value, indent=2)


def _call(head: str, value: str | bytes) -> list[str]:
    """A send: on one line, or its message bound to a name first when it is long."""
    lines = pysource.statement(head + "({})", value, indent=2, name="message")
    return lines


def _json(value: str | bytes) -> Any:
    """The message as data if it is JSON text holding an object or an array, else None."""
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _closed_by_server(code: int, module: Module, in_process: bool) -> list[str]:
    module.imports.add("import pytest")
    if in_process:
        module.imports.add("from starlette.websockets import WebSocketDisconnect")
        return [
            "        with pytest.raises(WebSocketDisconnect) as closed:",
            "            websocket.receive_text()",
            f"        assert closed.value.code == {code}",
        ]
    module.imports.add("from websockets.exceptions import ConnectionClosed")
    return [
        "        with pytest.raises(ConnectionClosed) as closed:",
        f"            websocket.recv(timeout={RECEIVE_TIMEOUT})",
        "        assert closed.value.rcvd is not None",
        f"        assert closed.value.rcvd.code == {code}",
    ]
