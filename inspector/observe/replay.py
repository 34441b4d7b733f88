"""HTTP replay: send an exchange's request again as captured, and record the answer as events.

The request goes out as the capture recorded it: its request line, then the captured header
fields in their order with their repeats, written on a socket by hand (httpx would add
Accept-Encoding and Connection and re-case names; h11 would move Host first). How close that
is to what the client sent depends on who captured it (`headers_note`): the proxy keeps each
field line as the client wrote it; an ASGI server lower-cases names; a WSGI environ loses
their case and joins repeated fields. Only what the body needs is changed, and said
(`ReplayRequest.notes`): a Content-Length the kept body no longer matches, a chunked body
framed again, a Host that HTTP/1.1 requires. h11 reads the answer.

The replay is a new exchange built from the same vocabulary as captured ones (its snapshot
is `{"replay_of": <original id>}` and its source the original's), fed through the app like
any other events, so it appears in the list, filters and exports unchanged. A dead upstream
becomes an exchange that failed (`AppFailed` with the connection error), never an exception.
Only the captured request body can be sent: `replay_warning` says when that is not all of it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

import h11

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.redact import REDACTED

MAX_KEPT = 1 << 20
"""Response bytes kept for display, like capture's body limit."""
_READ = 64 * 1024
Emit = Callable[[Sequence[ev.Event]], None]


def replay_url(exchange: Exchange, base: str | None) -> str:
    """The original URL, or its path and query on `base` (the configured upstream)."""
    url = exchange.url
    if not base:
        return url
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return base.rstrip("/") + target


def replay_warning(exchange: Exchange) -> str | None:
    """Why the body sent will not be the original one, if it will not: capture kept only a
    prefix, or the app never read the whole body (so nobody saw the rest)."""
    body = exchange.request_body
    kept = len(body.data)
    declared = _content_length(exchange)
    total = max(body.size, declared or 0)
    if kept < total:
        return f"replaying {kept:,} of {total:,} request body bytes: capture kept no more"
    if body.size and not body.complete:
        return f"replaying {kept:,} request body bytes: the app did not read the rest"
    return None


def _content_length(exchange: Exchange) -> int | None:
    request = exchange.request
    for name, value in request.headers if request is not None else ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def headers_note(source: ev.Source, count: int) -> str:
    """How faithful the headers sent are to the client's, by who captured them."""
    fields = f"{count} header field{'s' * (count != 1)}"
    if source == "proxy":
        return f"Sent its {fields} as the proxy captured them: as the client wrote them."
    if source == "asgi":
        return (
            f"Sent its {fields} as the ASGI server gave them to the app: names lower-cased "
            "by the server (the client's case is not known)."
        )
    return (
        f"Sent its {fields} as rebuilt from the WSGI environ: names lower-cased, and repeated "
        "fields joined into one by the server (PEP 3333)."
    )


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What a replay sends, and where."""

    scheme: str
    host: str
    port: int
    method: str
    target: bytes
    http_version: str
    headers: ev.Headers
    body: bytes
    chunked: bool
    """The captured request was chunked: its body (kept without its framing) is sent as one
    chunk."""
    until_close: bool
    """A Transfer-Encoding whose last coding is not chunked: the body ends where we stop
    writing (RFC 9112 6.3, as a request cannot end so, the server may refuse it)."""
    notes: tuple[str, ...]
    """What was changed or is not as the client sent it."""

    def encode(self) -> bytes:
        version = self.http_version.encode("ascii")
        lines = [b"%s %s HTTP/%s\r\n" % (self.method.encode("latin-1"), self.target, version)]
        lines += [name + b": " + value + b"\r\n" for name, value in self.headers]
        lines.append(b"\r\n")
        body = self.body
        if self.chunked:  # RFC 9112 7.1
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        return b"".join(lines) + body


def prepare(exchange: Exchange, base: str | None = None) -> ReplayRequest:
    """The request to send; raises ValueError when there is none to send, or nowhere."""
    request = exchange.request
    if request is None or exchange.is_websocket:
        raise ValueError("only captured HTTP requests can be replayed")
    url = urlsplit(replay_url(exchange, base))
    if not url.hostname:
        raise ValueError(f"no host to send it to in {url.geturl()!r}")
    secure = url.scheme in ("https", "wss")
    port = url.port or (443 if secure else 80)
    notes: list[str] = []
    version = request.http_version
    if version not in ("1.0", "1.1"):
        notes.append(f"Sent as HTTP/1.1: it came as HTTP/{version}.")
        version = "1.1"
    headers = [(name, value) for name, value in request.headers if not name.startswith(b":")]
    if len(headers) < len(request.headers):
        notes.append("Its pseudo-header fields (HTTP/2) were left out.")
    names = [name.lower() for name, _ in headers]
    if version == "1.1" and b"host" not in names:  # RFC 9112 3.2: required in HTTP/1.1
        # RFC 9113 8.3.1: an HTTP/2 request's authority stands in for Host.
        authority = dict(request.headers).get(b":authority")
        host = authority or (exchange.host or url.netloc).encode("latin-1")
        headers.insert(0, (b"host", host))
        names.insert(0, b"host")
        notes.append("Host was added: HTTP/1.1 requires it.")
    body = bytes(exchange.request_body.data)
    chunked, until_close = frame_body(headers, names, len(body), notes)
    masked = sum(value == REDACTED.encode() for _, value in headers)
    if masked:
        notes.append(f"{masked} value{'s' * (masked != 1)} masked at capture sent as {REDACTED}.")
    return ReplayRequest(
        scheme="https" if secure else "http",
        host=url.hostname,
        port=port,
        method=request.method,
        target=_target(request),
        http_version=version,
        headers=tuple(headers),
        body=body,
        chunked=chunked,
        until_close=until_close,
        notes=tuple(notes),
    )


def frame_body(
    headers: list[tuple[bytes, bytes]], names: list[bytes], size: int, notes: list[str]
) -> tuple[bool, bool]:
    """(chunked, until close): chunked if that is its last transfer coding (RFC 9112 §6.1),
    sent as one chunk; another coding last, read until close; none, framed by a
    Content-Length of `size`."""
    codings = [
        coding.strip().lower()
        for name, value in headers
        if name.lower() == b"transfer-encoding"
        for coding in value.split(b",")
        if coding.strip()
    ]
    chunked = codings[-1:] == [b"chunked"]
    if chunked:
        notes.append("Its body was sent as one chunk.")
    elif not codings:
        frame_by_length(headers, names, size, notes)
    return chunked, bool(codings) and not chunked


def frame_by_length(
    headers: list[tuple[bytes, bytes]], names: list[bytes], size: int, notes: list[str]
) -> None:
    """Content-Length says how many body bytes follow: the bytes kept, which a server waits
    for (a declared length the capture did not keep would hang it)."""
    length = str(size).encode()
    where = [i for i, name in enumerate(names) if name == b"content-length"]
    if not where:
        if size:
            headers.append((b"content-length", length))
            notes.append("Content-Length was added for its body.")
        return
    if {headers[i][1].strip() for i in where} != {length}:
        for i in where:
            headers[i] = (headers[i][0], length)
        notes.append(f"Content-Length was set to the {size:,} body bytes kept.")


def _target(request: ev.RequestStarted) -> bytes:
    path = request.raw_path if request.raw_path else quote(request.path).encode("ascii")
    return path + (b"?" + request.query if request.query else b"")


@dataclass(frozen=True, slots=True)
class Replayed:
    """How a replay went: what was sent (None if nothing could be), the answer's status, or
    why it failed."""

    request: ReplayRequest | None
    status: int | None = None
    reason: str = ""
    error: str | None = None


def summary(exchange: Exchange, done: Replayed) -> str:
    """The notification's text: what was sent, what came back, and how faithful it was."""
    sent = done.request
    if sent is None:
        return f"replay failed: {done.error}"
    what = f"{sent.method} {sent.target.decode('latin-1')}"
    if done.error is not None:
        first = f"{what}: replay failed: {done.error}"
    else:
        first = f"{what} answered {done.status} {done.reason}".rstrip() + ": the new ↻ row."
    original = exchange.request
    assert original is not None
    return "\n".join([first, headers_note(original.source, len(original.headers)), *sent.notes])


async def replay(
    exchange: Exchange,
    emit: Emit,
    *,
    xid: str | None = None,
    base: str | None = None,
    timeout: float = 30.0,
) -> Replayed:
    """Send the request again as exchange `xid` (a new id by default), `timeout` seconds
    at most for each step (connect, write, each read)."""
    original = exchange.request
    try:
        request = prepare(exchange, base)
    except ValueError as exc:
        return Replayed(None, error=f"cannot build the request: {exc}")
    assert original is not None
    return await send(
        request, emit, replay_of=exchange.id, source=original.source, xid=xid, timeout=timeout
    )


async def send(
    request: ReplayRequest,
    emit: Emit,
    *,
    replay_of: str,
    source: ev.Source,
    xid: str | None = None,
    timeout: float = 30.0,
) -> Replayed:
    """Send `request` as exchange `xid`, a replay of exchange `replay_of`, recording it as
    events (the request as sent, the answer as read, or the failure)."""
    xid = xid or ev.new_exchange_id()
    started = ev.now_ns()
    path, _, query = request.target.partition(b"?")
    emit(
        [
            ev.RequestStarted(
                xid,
                started,
                source=source,
                kind="http",
                method=request.method,
                scheme=request.scheme,
                http_version=request.http_version,
                path=unquote_to_bytes(path).decode("utf-8", "replace"),
                raw_path=path,
                query=query,
                headers=request.headers,
                client=None,
                server=(request.host, request.port),
                wall_time=time.time(),
                snapshot={"replay_of": replay_of},
            ),
            ev.RequestBodyChunk(xid, ev.now_ns(), request.body, len(request.body), False),
        ]
    )
    return await _send(request, xid, started, emit, timeout)


async def _send(
    request: ReplayRequest, xid: str, started: int, emit: Emit, timeout: float
) -> Replayed:
    first_byte: int | None = None
    status: int | None = None
    reason = ""
    kept = 0
    writer: asyncio.StreamWriter | None = None
    try:
        context = ssl.create_default_context() if request.scheme == "https" else None
        opening = asyncio.open_connection(request.host, request.port, ssl=context)
        reader, opened = await asyncio.wait_for(opening, timeout)
        writer = opened
        opened.write(request.encode())
        if request.until_close and opened.can_write_eof():
            opened.write_eof()
        await asyncio.wait_for(opened.drain(), timeout)
        answer = _answer_reader(request)
        while True:
            event = answer.next_event()
            if event is h11.NEED_DATA:
                answer.receive_data(await asyncio.wait_for(reader.read(_READ), timeout))
            elif isinstance(event, h11.Response):
                first_byte = ev.now_ns() - started
                status, reason = event.status_code, event.reason.decode("latin-1")
                headers = tuple(event.headers.raw_items())
                emit(
                    [ev.ResponseStarted(xid, started + first_byte, status, headers, False, reason)]
                )
            elif isinstance(event, h11.Data):
                data = bytes(event.data)
                piece = data[: max(MAX_KEPT - kept, 0)]
                kept += len(piece)
                emit([ev.ResponseBodyChunk(xid, ev.now_ns(), piece, len(data), True)])
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection without answering")
            # h11.InformationalResponse (100 Continue, 103): the final answer follows
    except (OSError, TimeoutError, h11.ProtocolError) as exc:
        now = ev.now_ns()
        kind = type(exc).__name__
        message = str(exc) or (f"no answer in {timeout:g} s" if kind == "TimeoutError" else kind)
        emit(
            [
                ev.AppFailed(xid, now, kind, message, "", first_byte is not None),
                ev.ExchangeFinished(xid, now, "failed", None, first_byte, now - started),
            ]
        )
        return Replayed(request, status, reason, f"{kind}: {message}")
    finally:
        if writer is not None:
            writer.close()
    now = ev.now_ns()
    emit(
        [
            ev.ResponseBodyChunk(xid, now, b"", 0, False),
            ev.ExchangeFinished(xid, now, "completed", None, first_byte, now - started),
        ]
    )
    return Replayed(request, status, reason)


def _answer_reader(request: ReplayRequest) -> h11.Connection:
    """h11, ready to read the answer. It needs the method (an answer to HEAD has no body), so
    it is given a stand-in request whose bytes are never sent."""
    answer = h11.Connection(h11.CLIENT)
    version = request.http_version
    stand_in = h11.Request(
        method=request.method, target="/", headers=[("Host", "replay")], http_version=version
    )
    answer.send(stand_in)
    answer.send(h11.EndOfMessage())
    return answer
