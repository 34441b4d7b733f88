"""One replayed WebSocket connection on the wire: the handshake written by hand, then frames
through the `websockets` package's sans-IO `Protocol`, and every step recorded as events.

What to send is decided beforehand (`WebSocketReplayRequest`, see `inspector.observe.replay_ws`);
this module only speaks it: the handshake's bytes as given with a fresh key, the answer checked
as RFC 6455 4.2.2 and RFC 7692 say a client must, the client's messages sent while a reader
records the server's, then the closing handshake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from websockets.exceptions import ProtocolError
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.headers import parse_extension
from websockets.protocol import CLIENT, Protocol, State

from inspector import events as ev
from inspector.observe.replay import MAX_KEPT, Emit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
_READ = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One client message to send, `offset` seconds after the handshake in the original."""

    text: str | None
    data: bytes | None
    offset: float


@dataclass(frozen=True, slots=True)
class WebSocketReplayRequest:
    """The handshake to write, where, and the messages to send after it."""

    scheme: str
    host: str
    port: int
    target: bytes
    headers: ev.Headers
    messages: tuple[Outgoing, ...]
    expected: int
    """How many messages the server sent in the original."""
    server_closes: bool
    """The server closed the original: the replay waits for its close too."""
    notes: tuple[str, ...]

    def encode(self, key: bytes) -> bytes:
        lines = [b"GET %s HTTP/1.1\r\n" % self.target]
        lines += [
            name + b": " + (key if name.lower() == b"sec-websocket-key" else value) + b"\r\n"
            for name, value in self.headers
        ]
        return b"".join(lines) + b"\r\n"


@dataclass(slots=True)
class WebSocketReplayed:
    """How a WebSocket replay went."""

    request: WebSocketReplayRequest | None
    status: int | None = None
    sent: int = 0
    received: int = 0
    closed: str = ""
    """Who closed and how, for the summary."""
    error: str | None = None
    notes: list[str] = field(default_factory=list)


class HandshakeRefused(Exception):
    """The server did not accept the handshake as RFC 6455 4.2.2 says it must."""


class ReplayConnection:
    """One replayed connection: the handshake, then a reader and the sender side by side."""

    def __init__(
        self,
        request: WebSocketReplayRequest,
        done: WebSocketReplayed,
        xid: str,
        emit: Emit,
        started: int,
    ) -> None:
        self.request, self.done, self.xid, self.emit = request, done, xid, emit
        self.started = started
        self.first_byte: int | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.protocol = Protocol(CLIENT, max_size=None)
        self.changed = asyncio.Event()
        """Set whenever a server message or the server's close arrives."""
        self.server_closed = False

    async def run(self, key: bytes, *, paced: bool, quiet: float, timeout: float) -> None:
        request = self.request
        context = ssl.create_default_context() if request.scheme == "wss" else None
        opening = asyncio.open_connection(request.host, request.port, ssl=context)
        reader, writer = await asyncio.wait_for(opening, timeout)
        self.writer = writer
        writer.write(request.encode(key))
        await asyncio.wait_for(writer.drain(), timeout)
        accepted = await asyncio.wait_for(self._handshake(reader, key), timeout)
        if not accepted:  # denied: recorded, nothing more to do
            return
        receiving = asyncio.ensure_future(self._receive(reader))
        try:
            await self._send_all(paced)
            await self._await_answers(receiving, quiet)
            await self._close(receiving, timeout)
        finally:
            receiving.cancel()

    async def _handshake(self, reader: asyncio.StreamReader, key: bytes) -> bool:
        """Read the answer's head: True when the server accepted, False when it denied."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise HandshakeRefused("the server closed the connection without answering") from exc
        except asyncio.LimitOverrunError as exc:
            raise HandshakeRefused("the server's answer has no end to its head") from exc
        self.first_byte = ev.now_ns() - self.started
        at = self.started + self.first_byte
        status_line, *lines = head[:-4].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise HandshakeRefused(f"not an HTTP answer: {status_line[:80]!r}")
        status = self.done.status = int(parts[1])
        headers = tuple(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines)
        )
        if status != 101:
            self.emit([ev.WebSocketDenied(self.xid, at, status, headers)])
            length = next((v for n, v in headers if n.lower() == b"content-length"), b"0")
            size = int(length) if length.isdigit() else 0
            body = await reader.readexactly(min(size, MAX_KEPT)) if size else b""
            self.emit([ev.ResponseBodyChunk(self.xid, ev.now_ns(), body, size, False)])
            self.done.closed = f"denied with {status}"
            return False
        values = {name.lower(): value for name, value in headers}
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if values.get(b"sec-websocket-accept") != accept:
            raise HandshakeRefused("the server's Sec-WebSocket-Accept does not answer the key sent")
        self.protocol.extensions = _extensions(self.request, headers)
        protocol = values.get(b"sec-websocket-protocol")
        subprotocol = protocol.decode("latin-1") if protocol is not None else None
        self.emit([ev.WebSocketAccepted(self.xid, at, subprotocol, headers)])
        return True

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        protocol = self.protocol
        parts: list[bytes] = []
        opcode: Opcode = Opcode.TEXT
        while True:
            try:
                data = await reader.read(_READ)
            except OSError as exc:  # a reset: what came so far is the answer
                self.done.notes.append(f"The connection was lost: {exc}.")
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for frame in protocol.events_received():
                if not isinstance(frame, Frame):  # a client's protocol past its handshake
                    continue
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    opcode, parts = frame.opcode, [bytes(frame.data)]
                elif frame.opcode == Opcode.CONT:
                    parts.append(bytes(frame.data))
                elif frame.opcode == Opcode.CLOSE:
                    self._closed("server", _close_of(bytes(frame.data)))
                    continue
                else:
                    continue  # ping and pong: the protocol answers pings itself
                if frame.fin:
                    self._message(opcode, b"".join(parts))
            self._flush()
            if not data or protocol.state is State.CLOSED:
                self.server_closed = True
                self.changed.set()
                return

    def _message(self, opcode: int, payload: bytes) -> None:
        self.done.received += 1
        kept = payload[:MAX_KEPT]
        text = kept.decode("utf-8", "replace") if opcode == Opcode.TEXT else None
        data = None if opcode == Opcode.TEXT else kept
        self.emit([ev.WebSocketMessage(self.xid, ev.now_ns(), "server", text, data, len(payload))])
        self.changed.set()

    def _closed(self, sender: ev.Sender, close: Close | None) -> None:
        code, reason = (close.code, close.reason) if close is not None else (1005, "")
        self.emit([ev.WebSocketClosed(self.xid, ev.now_ns(), sender, code, reason, True)])
        if sender == "server":
            self.server_closed = True
            if not self.done.closed:
                self.done.closed = f"the server closed with {code}"
                # The protocol answers a close with the same code (RFC 6455 5.5.1).
                self.emit([ev.WebSocketClosed(self.xid, ev.now_ns(), "client", code, reason, True)])
            self.changed.set()

    def _flush(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            for data in self.protocol.data_to_send():
                if data:
                    self.writer.write(data)

    async def _send_all(self, paced: bool) -> None:
        begun = time.monotonic()
        for message in self.request.messages:
            if self.server_closed:
                break
            if paced:
                await asyncio.sleep(max(message.offset - (time.monotonic() - begun), 0))
            if message.text is not None:
                payload = message.text.encode()
                self.protocol.send_text(payload)
            else:
                payload = message.data or b""
                self.protocol.send_binary(payload)
            self.emit(
                [
                    ev.WebSocketMessage(
                        self.xid,
                        ev.now_ns(),
                        "client",
                        message.text,
                        None if message.text is not None else payload,
                        len(payload),
                    )
                ]
            )
            self.done.sent += 1
            self._flush()
            assert self.writer is not None
            await self.writer.drain()

    async def _await_answers(self, receiving: asyncio.Future[None], quiet: float) -> None:
        request = self.request
        while not self.server_closed and (
            self.done.received < request.expected or request.server_closes
        ):
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), quiet)
            except TimeoutError:
                self.done.notes.append(
                    f"Stopped waiting after {quiet:g} s without a message: the server sent "
                    f"{self.done.received} of the original's {request.expected}"
                    + (", and did not close as it did." if request.server_closes else ".")
                )
                return

    async def _close(self, receiving: asyncio.Future[None], timeout: float) -> None:
        if not self.server_closed:
            self.protocol.send_close(1000)
            self.emit([ev.WebSocketClosed(self.xid, ev.now_ns(), "client", 1000, "", True)])
            self.done.closed = "closed by the replay with 1000"
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(receiving), timeout)
        except TimeoutError:
            self.done.notes.append(
                f"The server did not finish the closing handshake in {timeout:g} s."
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _close_of(data: bytes) -> Close | None:
    try:
        return Close.parse(data) if data else None
    except (ProtocolError, UnicodeDecodeError):
        return None


def _extensions(request: WebSocketReplayRequest, answer: ev.Headers) -> list[Extension]:
    """The extensions the server accepted, as RFC 7692 says the client must check them; any
    other extension cannot be spoken here."""
    offered = [
        value.decode("latin-1")
        for name, value in request.headers
        if name.lower() == b"sec-websocket-extensions"
    ]
    accepted: list[Extension] = []
    for name, value in answer:
        if name.lower() != b"sec-websocket-extensions":
            continue
        for extension, params in parse_extension(value.decode("latin-1")):
            if extension != "permessage-deflate" or not offered:
                raise HandshakeRefused(
                    f"the server accepted the extension {extension!r}, not offered"
                )
            accepted.append(_deflate(offered).process_response_params(params, accepted))
    return accepted


def _deflate(offered: Sequence[str]) -> ClientPerMessageDeflateFactory:
    """A factory holding what our (the original's) first permessage-deflate offer said."""
    options: dict[str, bool | int | None] = {}
    for header in offered:
        for name, params in parse_extension(header):
            if name != "permessage-deflate":
                continue
            for key, value in params:
                if key.endswith("no_context_takeover"):
                    options[key] = True
                elif key == "client_max_window_bits":
                    options[key] = int(value) if value else True
                elif key == "server_max_window_bits" and value:
                    options[key] = int(value)
            return ClientPerMessageDeflateFactory(**options)  # type: ignore[arg-type]
    return ClientPerMessageDeflateFactory()
