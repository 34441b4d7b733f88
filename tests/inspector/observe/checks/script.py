"""Events of one exchange written step by step, for the checks' tests: `Script("asgi")
.request().start(200, CT).body(b"hi").finish().events`. The defaults are correct traffic."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from inspector import events as ev

CT = ((b"content-type", b"text/plain"),)
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
HANDSHAKE = (
    (b"host", b"test"),
    (b"connection", b"Upgrade"),
    (b"upgrade", b"websocket"),
    (b"sec-websocket-key", KEY),
    (b"sec-websocket-version", b"13"),
)
WSGI_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.version": [1, 0],
    "wsgi.url_scheme": "http",
    "wsgi.input": "<Body>",
    "wsgi.errors": "<TextIOWrapper>",
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


class Script:
    def __init__(self, source: ev.Source = "asgi", kind: str = "http") -> None:
        self.source, self.kind = source, kind
        self.events: list[ev.Event] = []
        self.now = 1_000

    def _at(self) -> int:
        self.now += 1_000
        return self.now

    def add(self, event_type: type[ev.Event], *fields: Any) -> Script:
        self.events.append(event_type("x-1", self._at(), *fields))
        return self

    def request(
        self,
        method: str = "GET",
        headers: ev.Headers | None = None,
        version: str = "1.1",
        snapshot: dict[str, Any] | None = None,
    ) -> Script:
        if headers is None:
            headers = HANDSHAKE if self.kind == "websocket" else ((b"host", b"test"),)
        if snapshot is None:
            snapshot = dict(WSGI_ENVIRON) if self.source == "wsgi" else {"type": self.kind}
        return self.add(
            ev.RequestStarted,
            self.source,
            self.kind,
            method,
            "ws" if self.kind == "websocket" else "http",
            version,
            "/",
            b"/",
            b"",
            headers,
            ("127.0.0.1", 5000),
            ("127.0.0.1", 8000),
            0.0,
            snapshot,
        )

    def start(self, status: int = 200, headers: ev.Headers = CT, trailers: bool = False) -> Script:
        return self.add(ev.ResponseStarted, status, headers, trailers, "OK")

    def body(self, data: bytes = b"", more: bool = False) -> Script:
        return self.add(ev.ResponseBodyChunk, data, len(data), more)

    def respond(self, status: int = 200, data: bytes = b"hi", headers: ev.Headers = CT) -> Script:
        length = ((b"content-length", str(len(data)).encode()),)
        return self.start(status, headers + length).body(data)

    def finish(self, outcome: ev.Outcome = "completed") -> Script:
        return self.add(ev.ExchangeFinished, outcome, 0, 0, 0)

    def accept(self, subprotocol: str | None = None, headers: ev.Headers = ()) -> Script:
        return self.add(ev.WebSocketAccepted, subprotocol, headers)

    def message(self, sender: ev.Sender, text: str = "hi") -> Script:
        return self.add(
            ev.WebSocketMessage, sender, text, None, len(text.encode("utf-8", "surrogatepass"))
        )

    def close(self, sender: ev.Sender, code: int = 1000, reason: str = "") -> Script:
        return self.add(ev.WebSocketClosed, sender, code, reason, True)
