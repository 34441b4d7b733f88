"""The wire between app processes and a viewer: bus addresses and the stream protocol.

An address is `unix:PATH` or `tcp://HOST:PORT`. The default is a per-user Unix socket, so a
wrapped app and `inspector listen` find each other with no configuration; `INSPECTOR_BUS`
overrides it (`off` turns the sink off).

The sending process (a sink) opens with a JSON hello line naming the protocol version,
itself, its wall-clock offset and, when the collector asks for one, a token; the collector
answers with a JSON welcome line, or an error line and hangs up (so a peer speaking another
version is told why in words it can read). After the welcome both directions carry frames: a
4-byte big-endian length, then a msgpack payload. The sink's frames are batches of records
(a msgpack array, see `inspector.records`); the collector's are small maps: `{"ack": N}`
after each batch (N records received on this connection so far, so a sink knows exactly
what was lost if the connection breaks), `{"control": ...}` (the viewer asking the hot
process to act, such as `"stop"`) and `{"error": WHY}`, the last frame before the collector
hangs up on a peer.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

PROTOCOL = "inspector-events"
VERSION = 2
MAX_FRAME = 32 << 20
"""The longest frame either side accepts: twice the largest a sink makes (a batch is under
1 MiB of records plus at most one more, and a record is at most 16 MiB)."""
MAX_HELLO = 64 << 10
"""The longest hello: a peer not yet welcomed gets no room to make the collector buffer."""
ENV = "INSPECTOR_BUS"


class WireError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Address:
    kind: Literal["unix", "tcp"]
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp://{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.kind == "unix":
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def default_address() -> Address:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Address("unix", path=os.path.join(runtime, "inspector.sock"))
    return Address(
        "unix", path=os.path.join(tempfile.gettempdir(), f"inspector-{os.getuid()}.sock")
    )


def parse_address(text: str) -> Address:
    """`unix:PATH`, `tcp://HOST:PORT` (also `HOST:PORT` and `:PORT`, meaning loopback)."""
    text = text.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise WireError("a unix address needs a path: unix:/run/user/1000/inspector.sock")
        return Address("unix", path=os.path.expanduser(path))
    rest = text.removeprefix("tcp://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise WireError(f"not a bus address: {text!r} (use unix:PATH or tcp://HOST:PORT)")
    return Address("tcp", host=host.strip("[]") or "127.0.0.1", port=int(port))


def address_from_env() -> Address | None:
    """The address capture should send to, or None when `INSPECTOR_BUS=off`."""
    text = os.environ.get(ENV, "").strip()
    if text.lower() in {"off", "none", "0", "false"}:
        return None
    return parse_address(text) if text else default_address()


def connect(address: Address, timeout: float) -> socket.socket:
    if address.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = address.path
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in address.host else socket.AF_INET)
        target = (address.host, address.port)
    try:
        sock.settimeout(timeout)
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    return sock


def hello(
    prefix: str, host: str, pid: int, name: str, token: str | None, wall_offset_ns: int
) -> bytes:
    message = {"protocol": PROTOCOL, "v": VERSION, "prefix": prefix, "host": host, "pid": pid}
    message.update(name=name, token=token, wall_offset_ns=wall_offset_ns)
    return json.dumps(message).encode() + b"\n"


def check_hello(line: bytes, token: str | None) -> dict[str, Any]:
    """The hello's fields, or WireError saying why the peer is refused."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        raise WireError(f"expected a hello line, got {line[:60]!r}") from None
    if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
        raise WireError(f"expected a {PROTOCOL} hello, got {line[:60]!r}")
    if message.get("v") != VERSION:
        raise WireError(f"protocol version {message.get('v')!r} not supported (this is {VERSION})")
    given = message.get("token")
    if token and not (
        isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())
    ):
        raise WireError("wrong or missing token")
    prefix, pid = message.get("prefix"), message.get("pid")
    if not isinstance(prefix, str) or not prefix or type(pid) is not int:
        raise WireError("the hello must name the sender's prefix and pid")
    if type(message.get("wall_offset_ns")) is not int:
        raise WireError("the hello must give the sender's wall-clock offset")
    return message


def reply(error: str | None = None) -> bytes:
    message = {"protocol": PROTOCOL, "v": VERSION}
    message.update({"error": error} if error else {"welcome": True})
    return json.dumps(message).encode() + b"\n"


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


class FrameReader:
    """Splits a byte stream into frames (sans-IO: `feed` bytes, get whole payloads)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`; WireError for a frame over the limit."""
        buffer = self._buffer
        buffer += data
        payloads = []
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start : start + 4], "big")
            if size > self.max_frame:
                raise WireError(f"a frame of {size} bytes is over the {self.max_frame} limit")
            end = start + 4 + size
            if len(buffer) < end:
                break
            with memoryview(buffer) as view:  # one copy of the payload, not two
                payloads.append(bytes(view[start + 4 : end]))
            start = end
        if start:
            del buffer[:start]
        return payloads

    def clear(self) -> None:
        """Forget a frame begun, and free its bytes."""
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of a frame begun but not finished."""
        return len(self._buffer)
