"""WebSocket rules (RFC 6455): the opening handshake, close codes and reasons, text payloads,
data after a close and reserved opcodes, over what the ASGI middleware or the proxy saw.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

from inspector import events as ev
from inspector.observe.checks.core import Facts, rule, show, values

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def _valid_close_code(code: int) -> bool:
    # §7.4.1 defines 1000-1003 and 1007-1011 (IANA adds 1012-1014); §7.4.2: 3000-4999 are for
    # libraries and apps; 1004, 1005, 1006 and 1015 must never be sent in a close frame.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _sent_closes(facts: Facts) -> Iterator[ev.WebSocketClosed]:
    """Closes that stand for a close frame someone sent: at the proxy, both sides' (1005 there
    means a frame without a code, 1006 no frame at all); in ASGI, the app's."""
    for close in facts.closes:
        at_proxy = facts.source == "proxy" and close.code not in (1005, 1006)
        if at_proxy or (facts.source == "asgi" and close.sender == "server"):
            yield close


@rule(
    "ws.close-code-invalid",
    "A close code must be 1000-1003, 1007-1014 or 3000-4999; 1005, 1006 and 1015 are never sent.",
    "RFC 6455 §7.4",
)
def close_code_invalid(facts: Facts) -> Iterator[str]:
    for close in _sent_closes(facts):
        if not _valid_close_code(close.code):
            yield f"the {close.sender} closed with code {close.code}"


@rule(
    "ws.close-reason-too-long",
    "A close reason fits a control frame: at most 123 bytes of UTF-8.",
    "RFC 6455 §5.5",
)
def close_reason_too_long(facts: Facts) -> Iterator[str]:
    for close in _sent_closes(facts):
        size = len(close.reason.encode("utf-8", "surrogatepass"))
        if size > 123:
            yield f"the {close.sender}'s close reason is {size} bytes"


@rule(
    "ws.text-invalid-utf8",
    "A text message must be valid UTF-8 (no lone surrogates).",
    "RFC 6455 §5.6, §8.1",
)
def text_invalid_utf8(facts: Facts) -> Iterator[str]:
    for message in facts.messages:
        if message.text is not None:
            try:
                message.text.encode("utf-8")
            except UnicodeEncodeError as exc:
                yield f"the {message.sender}'s text: {exc.reason} at character {exc.start}"
                return


@rule(
    "ws.message-after-close",
    "An endpoint that sent a close frame must send no more data.",
    "RFC 6455 §5.5.1",
)
def message_after_close(facts: Facts) -> Iterator[str]:
    closed: set[str] = set()
    for event in facts.events:
        if isinstance(event, ev.WebSocketClosed):
            closed.add(event.sender)
        elif isinstance(event, ev.WebSocketMessage) and event.sender in closed:
            yield f"the {event.sender} sent a message after its close"
            return


@rule(
    "ws.subprotocol-not-offered",
    "The server chose a subprotocol the client did not offer; the client must fail.",
    "RFC 6455 §4.1, §4.2.2",
)
def subprotocol_not_offered(facts: Facts) -> Iterator[str]:
    if facts.request is None:
        return
    offered = {
        part.strip().decode("latin-1")
        for value in values(facts.request.headers, b"sec-websocket-protocol")
        for part in value.split(b",")
    }
    for accept in facts.accepts:
        if accept.subprotocol and accept.subprotocol not in offered:
            listed = ", ".join(sorted(offered)) or "none"
            yield f"{show(accept.subprotocol)} chosen, offered: {listed}"


@rule(
    "ws.handshake-invalid",
    "An opening handshake is a GET with Upgrade: websocket, a Sec-WebSocket-Key and version 13.",
    "RFC 6455 §4.2.1",
)
def handshake_invalid(facts: Facts) -> Iterator[str]:
    request = facts.request
    if request is None or not facts.websocket or request.http_version != "1.1":
        return  # HTTP/2 and 3 bootstrap WebSockets differently (RFC 8441)
    headers = request.headers
    if request.method.upper() != "GET":
        yield f"method {request.method}"
    if b"websocket" not in b",".join(values(headers, b"upgrade")).lower():
        yield "no Upgrade: websocket"
    keys = values(headers, b"sec-websocket-key")
    if len(keys) != 1 or len(base64.b64decode(keys[0] + b"==", validate=False)) != 16:
        yield "no valid Sec-WebSocket-Key"
    if values(headers, b"sec-websocket-version") != [b"13"]:
        yield "Sec-WebSocket-Version is not 13"


@rule(
    "ws.accept-key-mismatch",
    "Sec-WebSocket-Accept must be the SHA-1 of the client's key and the RFC's GUID.",
    "RFC 6455 §4.2.2",
)
def accept_key_mismatch(facts: Facts) -> Iterator[str]:
    if facts.request is None:
        return
    keys = values(facts.request.headers, b"sec-websocket-key")
    for accept in facts.accepts:
        answers = values(accept.headers, b"sec-websocket-accept")
        if len(keys) != 1 or not answers:
            continue  # an ASGI app does not send it: the server computes it
        expected = base64.b64encode(hashlib.sha1(keys[0].strip() + _GUID).digest())
        if answers[0].strip() != expected:
            yield f"Sec-WebSocket-Accept {show(answers[0])}, expected {show(expected)}"


@rule(
    "ws.reserved-opcode",
    "Opcodes 3-7 and 11-15 are reserved; a frame using one must fail the connection.",
    "RFC 6455 §5.2",
)
def reserved_opcode(facts: Facts) -> Iterator[str]:
    for relayed in facts.relayed:
        if relayed.type.startswith("websocket.opcode-"):
            number = relayed.type.removeprefix("websocket.opcode-")
            side = "client" if relayed.direction == "receive" else "server"
            yield f"the {side} sent a frame with opcode {number}"
