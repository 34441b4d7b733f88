"""In-process replay: a captured HTTP request sent again through the app object itself
(`inspector listen --app module:attr`), not over the network.

An ASGI app is called directly with a scope built from the capture (ASGI spec, HTTP
connection scope), so its answer is recorded message by message as it streams; a WSGI app
goes through httpx's `WSGITransport`, in a thread, since PEP 3333 apps block. The answer is
recorded as events in the same vocabulary and shape as a network replay (`tui.screens.replay`):
a new exchange whose snapshot is `{"replay_of": <original id>}`, its request, the response
head and body chunks, then `ExchangeFinished`; an exception of the app becomes `AppFailed`,
as a dead upstream does there. No lifespan runs: startup state the app sets there is absent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from inspector import events as ev
from inspector.observe.apps import LoadedApp
from inspector.observe.exchange import Exchange

MAX_KEPT = 1 << 20
"""Response bytes kept for display, as a network replay keeps."""
Emit = Callable[[Sequence[ev.Event]], None]


@dataclass(frozen=True, slots=True)
class InProcessReplayed:
    """How an in-process replay went: what was sent, the answer's status, or why it failed."""

    method: str
    target: bytes
    status: int | None = None
    reason: str = ""
    error: str | None = None
    notes: tuple[str, ...] = ()

    def summary(self, app: str) -> str:
        """The notification's text."""
        what = f"{self.method} {self.target.decode('latin-1')} through {app}"
        if self.error is not None:
            first = f"{what}: replay failed: {self.error}"
        else:
            first = f"{what} answered {self.status} {self.reason}".rstrip() + ": the new ↻ row."
        return "\n".join([first, *self.notes])


async def replay_in_process(
    exchange: Exchange,
    emit: Emit,
    app: LoadedApp,
    *,
    xid: str | None = None,
    timeout: float = 30.0,
) -> InProcessReplayed:
    """Send the exchange's request through `app` as exchange `xid` (a new id by default),
    `timeout` seconds at most for the whole answer. Never raises for the app's failures."""
    request = exchange.request
    if request is None or exchange.is_websocket:
        return InProcessReplayed("", b"", error="only captured HTTP requests can be replayed")
    xid = xid or ev.new_exchange_id()
    raw_path = request.raw_path or quote(request.path).encode("ascii")
    target = raw_path + (b"?" + request.query if request.query else b"")
    body = bytes(exchange.request_body.data)
    headers, notes = _headers(request.headers, len(body))
    if exchange.request_body.truncated:
        notes.append(f"Sent the {len(body):,} request body bytes capture kept.")
    started = ev.now_ns()
    emit(
        [
            ev.RequestStarted(
                xid,
                started,
                source=app.kind,
                kind="http",
                method=request.method,
                scheme=request.scheme,
                http_version=request.http_version,
                path=request.path,
                raw_path=raw_path,
                query=request.query,
                headers=headers,
                client=request.client,
                server=request.server,
                wall_time=time.time(),
                snapshot={"replay_of": exchange.id},
            ),
            ev.RequestBodyChunk(xid, ev.now_ns(), body, len(body), False),
        ]
    )
    recorder = _Recorder(xid, started, emit)
    try:
        if app.kind == "asgi":
            scope = _scope(request, raw_path, headers)
            await asyncio.wait_for(_call_asgi(app.app, scope, body, recorder), timeout)
        else:
            url = f"{request.scheme}://{exchange.host}{target.decode('latin-1')}"
            call = asyncio.to_thread(_call_wsgi, app.app, request.method, url, headers, body)
            recorder.answered(*await asyncio.wait_for(call, timeout))
    except Exception as exc:  # the app's exception, or no answer in time: a failed exchange
        kind = type(exc).__name__
        message = str(exc) or (f"no answer in {timeout:g} s" if kind == "TimeoutError" else kind)
        recorder.failed(kind, message)
        return InProcessReplayed(
            request.method, target, recorder.status, error=f"{kind}: {message}", notes=(*notes,)
        )
    recorder.finished()
    reason = _phrase(recorder.status)
    return InProcessReplayed(request.method, target, recorder.status, reason, notes=(*notes,))


def _headers(headers: ev.Headers, size: int) -> tuple[ev.Headers, list[str]]:
    """The captured fields as an app receives them: names lower-case (ASGI spec), HTTP/2
    pseudo-fields left out, Content-Length matching the body kept."""
    notes: list[str] = []
    kept = [(n.lower(), v) for n, v in headers if not n.startswith(b":")]
    if len(kept) < len(headers):
        notes.append("Its pseudo-header fields (HTTP/2) were left out.")
    length = str(size).encode()
    if any(n == b"content-length" and v.strip() != length for n, v in kept):
        kept = [(n, length if n == b"content-length" else v) for n, v in kept]
        notes.append(f"Content-Length was set to the {size:,} body bytes kept.")
    return tuple(kept), notes


def _scope(request: ev.RequestStarted, raw_path: bytes, headers: ev.Headers) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": request.http_version,
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": raw_path,
        "query_string": request.query,
        "root_path": "",
        "headers": [[n, v] for n, v in headers],
        "client": _address(request.client),
        "server": _address(request.server),
    }


def _address(address: ev.Address | None) -> list[Any] | None:
    """ASGI's [host, port]; a Unix socket's path (no port) as the spec has it, [path, None]."""
    return None if address is None else [address[0], address[1]]


async def _call_asgi(app: Any, scope: dict[str, Any], body: bytes, recorder: _Recorder) -> None:
    complete = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await complete.wait()  # ASGI spec: http.disconnect once the response is over
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = tuple((bytes(n), bytes(v)) for n, v in message.get("headers", ()))
            recorder.head(message["status"], headers)
        elif message["type"] == "http.response.body":
            recorder.chunk(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                complete.set()

    await app(scope, receive, send)
    if recorder.status is None:
        raise RuntimeError("the app returned without starting a response")


def _call_wsgi(
    app: Any, method: str, url: str, headers: ev.Headers, body: bytes
) -> tuple[int, ev.Headers, bytes]:
    """The app's answer through httpx's WSGITransport (which reads the whole iterable)."""
    import httpx  # only here: the observer needs it for nothing else

    transport = httpx.WSGITransport(app=app)
    response = transport.handle_request(
        httpx.Request(method, url, headers=list(headers), content=body)
    )
    return response.status_code, tuple(response.headers.raw), response.read()


def _phrase(status: int | None) -> str:
    try:
        return HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


class _Recorder:
    """The answer as events, as it comes."""

    def __init__(self, xid: str, started: int, emit: Emit) -> None:
        self.xid, self.began, self.emit = xid, started, emit
        self.status: int | None = None
        self.first_byte: int | None = None
        self.kept = 0

    def head(self, status: int, headers: ev.Headers) -> None:
        now = ev.now_ns()
        self.status, self.first_byte = status, now - self.began
        self.emit([ev.ResponseStarted(self.xid, now, status, headers, False, _phrase(status))])

    def chunk(self, data: bytes) -> None:
        piece = data[: max(MAX_KEPT - self.kept, 0)]
        self.kept += len(piece)
        self.emit([ev.ResponseBodyChunk(self.xid, ev.now_ns(), piece, len(data), True)])

    def answered(self, status: int, headers: ev.Headers, body: bytes) -> None:
        self.head(status, headers)
        self.chunk(body)

    def finished(self) -> None:
        now = ev.now_ns()
        self.emit(
            [
                ev.ResponseBodyChunk(self.xid, now, b"", 0, False),
                ev.ExchangeFinished(
                    self.xid, now, "completed", None, self.first_byte, now - self.began
                ),
            ]
        )

    def failed(self, kind: str, message: str) -> None:
        now = ev.now_ns()
        started = self.first_byte is not None
        self.emit(
            [
                ev.AppFailed(self.xid, now, kind, message, "", started),
                ev.ExchangeFinished(
                    self.xid, now, "failed", None, self.first_byte, now - self.began
                ),
            ]
        )
