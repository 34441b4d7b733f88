"""Deterministic scenarios: lists of events with fixed ids and clocks, for tests and screenshots.

`session()` is a small API's traffic from three worker processes (two ASGI workers and the
proxy): JSON, forms, HTML, XML, an image, a gzip body, a 404, an app failure, a stream still
arriving, a request still waiting and a WebSocket chat; `refused()` adds the proxy answering
502 for an upstream that refused it; `live()` adds a WebSocket still open through the proxy,
with a message the viewer injected and two the proxy holds (intercept). `many(count)` yields
batches of simple exchanges for load tests. Same input, same screen: nothing here reads a
clock or draws ids.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from inspector import events as ev
from inspector.events import JSON, Headers

T0 = 7_000_000_000_000
WALL0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
WEB1, WEB2, PROXY = "a1b2c3d4e5f6", "0f1e2d3c4b5a", "9a8b7c6d5e4f"
JSON_TYPE = ((b"content-type", b"application/json"),)
ITEMS = {
    "items": [
        {"id": 1, "name": "kettle", "price": 24.5, "tags": ["kitchen", "steel"]},
        {"id": 2, "name": "teapot", "price": 18.0, "tags": ["kitchen"]},
        {"id": 3, "name": "mug", "price": 6.25, "tags": []},
    ],
    "page": 2,
    "next": "/api/items?page=3",
}


def ms(value: float) -> int:
    return round(value * 1_000_000)


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + ihdr + bytes(range(256)) * 4


@dataclass
class _Exchange:
    """One exchange's events on a fixed clock: `start` ms after T0."""

    xid: str
    start: float
    events: list[ev.Event] = field(default_factory=list)

    def at(self, offset_ms: float) -> int:
        return T0 + ms(self.start + offset_ms)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: bytes = b"",
        source: ev.Source = "asgi",
        kind: str = "http",
        headers: Headers = (),
        body: bytes = b"",
    ) -> _Exchange:
        host = ((b"host", b"shop.example:8000"), (b"user-agent", b"curl/8.5.0"))
        self.events.append(
            ev.RequestStarted(
                self.xid,
                self.at(0),
                source=source,
                kind=kind,  # type: ignore[arg-type]
                method=method,
                scheme="ws" if kind == "websocket" else "http",
                http_version="1.1",
                path=path,
                raw_path=path.encode(),
                query=query,
                headers=(*host, (b"accept", b"*/*"), *headers),
                client=("127.0.0.1", 51000 + len(self.xid)),
                server=("127.0.0.1", 8000),
                wall_time=WALL0 + self.start / 1000,
                snapshot=_snapshot(self.xid, source, kind, method, path, query),
            )
        )
        if kind == "http":
            self.events.append(ev.RequestBodyChunk(self.xid, self.at(0.05), body, len(body), False))
        return self

    def response(
        self, status: int, reason: str, headers: Headers, chunks: list[tuple[float, bytes]]
    ) -> _Exchange:
        first = chunks[0][0] if chunks else 0.0
        if status >= 200 and status != 204:  # RFC 9110 §8.6: none on a 1xx or 204
            length = str(sum(len(c) for _, c in chunks)).encode()
            headers = (*headers, (b"content-length", length))
        chunks = chunks or [(first, b"")]  # ASGI: a response ends with a body message
        self.events.append(
            ev.ResponseStarted(self.xid, self.at(first), status, headers, False, reason)
        )
        for n, (offset, data) in enumerate(chunks):
            more = n < len(chunks) - 1
            self.events.append(
                ev.ResponseBodyChunk(self.xid, self.at(offset), data, len(data), more)
            )
        return self

    def finish(
        self, total: float, request: float = 0.1, first_byte: float | None = None
    ) -> _Exchange:
        response = next((e for e in self.events if isinstance(e, ev.ResponseStarted)), None)
        if first_byte is None and response is not None:
            first_byte = (response.at_ns - self.at(0)) / 1e6
        outcome: ev.Outcome = (
            "failed" if any(isinstance(e, ev.AppFailed) for e in self.events) else "completed"
        )
        self.events.append(
            ev.ExchangeFinished(
                self.xid,
                self.at(total),
                outcome,
                ms(request),
                None if first_byte is None else ms(first_byte),
                ms(total),
            )
        )
        return self


def scripted(xid: str, start: float = 0.0) -> _Exchange:
    """One exchange's events on the fixed clock, `start` ms after T0, built step by step:
    `scripted(xid).request("GET", "/").response(200, "OK", (), [(1.0, b"hi")]).finish(2)`."""
    return _Exchange(xid, start)


def session() -> list[ev.Event]:
    """About twenty exchanges over three seconds from three workers, sorted by time."""
    peers: list[ev.Event] = [
        ev.PeerConnected("", T0, WEB1, "", 4242, "uvicorn"),
        ev.PeerConnected("", T0, WEB2, "", 4243, "uvicorn"),
        ev.PeerConnected("", T0, PROXY, "", 4100, "proxy"),
    ]
    items = json.dumps(ITEMS).encode()
    order = json.dumps({"item": 2, "quantity": 1, "note": "gift wrap"}).encode()
    report = gzip.compress(json.dumps({"rows": [[n, n * n] for n in range(40)]}).encode(), mtime=0)
    html = (
        b"<!doctype html><html><head><title>Search</title></head>"
        b"<body><h1>teapot</h1><p>3 results</p></body></html>"
    )
    xml = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Shop</title></channel></rss>'
    built = [
        scripted(f"{WEB1}-1", 0)
        .request("GET", "/api/items", query=b"page=2")
        .response(200, "OK", JSON_TYPE, [(11.8, items)])
        .finish(12.4),
        scripted(f"{WEB2}-1", 40)
        .request(
            "POST",
            "/api/orders",
            headers=(*JSON_TYPE, (b"authorization", b"Bearer s3cr3t")),
            body=order,
        )
        .response(201, "Created", JSON_TYPE, [(31.0, b'{"order": 7001, "status": "placed"}')])
        .finish(31.5, request=0.4),
        scripted(f"{PROXY}-1", 90)
        .request("GET", "/static/logo.png", source="proxy")
        .response(200, "OK", ((b"content-type", b"image/png"),), [(2.1, png(64, 48))])
        .finish(2.4),
        scripted(f"{WEB1}-2", 150)
        .request(
            "POST",
            "/login",
            headers=((b"content-type", b"application/x-www-form-urlencoded"),),
            body=b"user=ada&password=hunter2&remember=on",
        )
        .response(
            302, "Found", ((b"location", b"/account"), (b"set-cookie", b"sid=9f2c; HttpOnly")), []
        )
        .finish(8.7),
        scripted(f"{WEB2}-2", 260)
        .request("GET", "/search", query=b"q=teapot")
        .response(200, "OK", ((b"content-type", b"text/html; charset=utf-8"),), [(18.0, html)])
        .finish(18.3),
        scripted(f"{WEB1}-3", 330)
        .request("GET", "/api/items/99")
        .response(404, "Not Found", JSON_TYPE, [(3.2, b'{"detail": "no item 99"}')])
        .finish(3.4),
        _report(f"{WEB2}-3", 420, report),
        _failure(f"{WEB1}-4", 610),
        scripted(f"{PROXY}-2", 700)
        .request("GET", "/feed.xml", source="proxy")
        .response(200, "OK", ((b"content-type", b"application/rss+xml"),), [(5.0, xml)])
        .finish(5.2),
        scripted(f"{WEB2}-4", 820)
        .request("PUT", "/api/items/2", headers=JSON_TYPE, body=b'{"price": 17.5}')
        .response(200, "OK", JSON_TYPE, [(9.0, b'{"id": 2, "price": 17.5}')])
        .finish(9.1, request=0.2),
        scripted(f"{WEB1}-5", 900)
        .request("DELETE", "/api/items/3")
        .response(204, "No Content", (), [])
        .finish(4.0),
        scripted(f"{WEB2}-5", 1000)
        .request("GET", "/download/firmware.bin", source="wsgi")
        .response(
            200,
            "OK",
            ((b"content-type", b"application/octet-stream"),),
            [(6.0, bytes(range(256)) + b"\x00\xffINSPECTOR" * 8)],
        )
        .finish(6.6),
        scripted(f"{WEB1}-6", 1200)
        .request("GET", "/slow", query=b"ms=1200")
        .response(200, "OK", JSON_TYPE, [(1203.0, b'{"slept_ms": 1200}')])
        .finish(1203.4),
        _chat(f"{PROXY}-3", 1300),
        _stream(f"{WEB2}-6", 2100),
        scripted(f"{WEB1}-7", 2900).request("GET", "/api/items", query=b"page=3"),
    ]
    events = peers + [event for exchange in built for event in exchange.events]
    return sorted(events, key=lambda event: event.at_ns)


def _report(xid: str, start: float, body: bytes) -> _Exchange:
    headers = (*JSON_TYPE, (b"content-encoding", b"gzip"), (b"vary", b"accept-encoding"))
    half = len(body) // 2
    exchange = scripted(xid, start).request(
        "GET", "/api/report", headers=((b"accept-encoding", b"gzip"),)
    )
    return exchange.response(200, "OK", headers, [(40.0, body[:half]), (62.0, body[half:])]).finish(
        62.5
    )


def _failure(xid: str, start: float) -> _Exchange:
    exchange = scripted(xid, start).request("GET", "/error")
    trace = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 48, in error\n'
        '    raise RuntimeError("the demo app failed on purpose")\n'
        "RuntimeError: the demo app failed on purpose"
    )
    exchange.events.append(
        ev.AppFailed(
            xid, exchange.at(1.5), "RuntimeError", "the demo app failed on purpose", trace, False
        )
    )
    return exchange.response(
        500,
        "Internal Server Error",
        ((b"content-type", b"text/plain"),),
        [(1.7, b"Internal Server Error")],
    ).finish(1.9, first_byte=1.7)


def _stream(xid: str, start: float) -> _Exchange:
    exchange = scripted(xid, start).request("GET", "/events")
    ticks = [(5.0 + 200 * n, f'event: tick\ndata: {{"n": {n}}}\n\n'.encode()) for n in range(4)]
    exchange.response(200, "OK", ((b"content-type", b"text/event-stream"),), ticks)
    exchange.events[-1] = ev.ResponseBodyChunk(
        xid, exchange.at(605.0), ticks[-1][1], len(ticks[-1][1]), True
    )
    return exchange


def _chat(xid: str, start: float) -> _Exchange:
    exchange = scripted(xid, start).request(
        "GET",
        "/ws/chat",
        source="proxy",
        kind="websocket",
        headers=(
            (b"connection", b"Upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-protocol", b"chat.v2"),
        ),
    )
    exchange.events.append(ev.WebSocketHandshakeReceived(xid, exchange.at(0.2)))
    exchange.events.append(ev.WebSocketAccepted(xid, exchange.at(1.1), "chat.v2", ()))
    lines: list[tuple[float, ev.Sender, str | bytes]] = [
        (20.0, "client", '{"type": "join", "room": "kitchen", "user": "ada"}'),
        (
            21.4,
            "server",
            '{"type": "joined", "room": "kitchen", "members": ["ada", "grace"], "history": 2}',
        ),
        (55.0, "client", "hello, is the teapot back in stock?"),
        (57.2, "server", "echo: hello, is the teapot back in stock?"),
        (120.0, "server", '{"type": "typing", "user": "grace"}'),
        (180.5, "server", '{"type": "message", "user": "grace", "text": "yes, since Monday"}'),
        (240.0, "client", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        (242.3, "server", '{"type": "ack", "bytes": 16}'),
        (300.0, "client", "ping"),
        (300.4, "server", "pong"),
        (420.0, "client", '{"type": "leave"}'),
    ]
    for offset, sender, payload in lines:
        text = payload if isinstance(payload, str) else None
        data = payload if isinstance(payload, bytes) else None
        length = len(payload.encode()) if isinstance(payload, str) else len(payload)
        exchange.events.append(
            ev.WebSocketMessage(xid, exchange.at(offset), sender, text, data, length)
        )
    exchange.events.append(ev.WebSocketClosed(xid, exchange.at(421.0), "client", 1000, "bye", True))
    exchange.events.append(
        ev.ExchangeFinished(xid, exchange.at(421.5), "completed", None, ms(1.1), ms(421.5))
    )
    return exchange


def refused(xid: str = f"{PROXY}-4", start: float = 3000) -> list[ev.Event]:
    """The proxy answering 502 itself, as it does when its upstream refuses the connection:
    a failure named `ConnectionRefusedError`, longer than most column widths."""
    exchange = scripted(xid, start).request("GET", "/api/stock", query=b"item=2", source="proxy")
    message = "upstream 127.0.0.1:8000 refused the connection"
    exchange.events.append(
        ev.AppFailed(xid, exchange.at(0.4), "ConnectionRefusedError", message, "", False)
    )
    headers = ((b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"))
    body = f"502 Bad Gateway: {message}\n".encode()
    return exchange.response(502, "Bad Gateway", headers, [(0.4, body)]).finish(0.5).events


LIVE = f"{PROXY}-5"
HOLDING = "~from client & ~b order"
"""The intercept filter under which `live()`'s messages were held."""


def live(xid: str = LIVE, start: float = 3100) -> list[ev.Event]:
    """A shop's live order feed through the proxy, open: the client's orders are held by
    intercept (`HOLDING`), one message was injected towards the client from the viewer."""
    feed = scripted(xid, start).request(
        "GET", "/ws/orders", source="proxy", kind="websocket", headers=((b"upgrade", b"websocket"),)
    )
    feed.events.append(ev.WebSocketHandshakeReceived(xid, feed.at(0.2)))
    feed.events.append(ev.WebSocketAccepted(xid, feed.at(0.9), None, ()))
    said: list[tuple[float, ev.Sender, str, bool]] = [
        (10.0, "client", '{"type": "subscribe", "shop": "kitchen"}', False),
        (11.2, "server", '{"type": "subscribed", "open_orders": 2}', False),
        (40.0, "server", '{"type": "stock", "item": 2, "left": 4}', False),
        (95.0, "server", '{"type": "notice", "text": "sale ends at noon"}', True),
    ]
    for offset, sender, text, injected in said:
        size = len(text.encode())
        feed.events.append(
            ev.WebSocketMessage(xid, feed.at(offset), sender, text, None, size, injected)
        )
    orders = (
        (120.0, 1, b'{"type": "order", "item": 2, "quantity": 3, "note": "gift wrap"}'),
        (180.5, 2, b'{"type": "order", "item": 7, "quantity": 1}'),
    )
    for offset, hold, body in orders:
        feed.events.append(
            ev.TrafficHeld(
                xid, feed.at(offset), hold, "message", "client", 1, b"", body, len(body), ""
            )
        )
    return feed.events


def mistakes(xid: str = f"{WEB2}-7", start: float = 3100) -> list[ev.Event]:
    """A legacy WSGI report making four mistakes the spec checks flag: a status without its
    reason, a hop-by-hop header, no Content-Type, and fewer bytes than Content-Length says."""
    exchange = scripted(xid, start).request("GET", "/legacy/report", source="wsgi")
    headers = ((b"Connection", b"close"), (b"Content-Length", b"120"))
    body = b"id,total\n" + b"".join(b"%d,%d\n" % (n, n * 7) for n in range(12))
    exchange.events.append(ev.ResponseStarted(xid, exchange.at(4.0), 200, headers, False, ""))
    exchange.events.append(ev.ResponseBodyChunk(xid, exchange.at(4.2), body, len(body), True))
    exchange.events.append(ev.IterableClosed(xid, exchange.at(4.3)))
    return exchange.finish(4.4).events


def paired(start: float = 3200) -> list[ev.Event]:
    """One POST seen twice: by the proxy behind nginx (X-Forwarded-*, a chunked answer) and by
    the ASGI app on the proxy's upstream connection (the second request there), which took
    2.2 ms of its 3.1 ms, 41 us of them capture's own."""
    proxy, app = scripted(f"{PROXY}-5", start), scripted(f"{WEB1}-9", start + 0.42)
    body = b'{"item": 2, "quantity": 3}'
    sent = (
        (b"Host", b"shop.example"),
        (b"X-Real-IP", b"203.0.113.9"),
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"X-Forwarded-Proto", b"https"),
        (b"Connection", b"close"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Content-Type", b"application/json"),
        (b"Accept", b"*/*"),
    )
    received = tuple((n.lower(), v) for n, v in sent if n != b"Connection")
    answer = b'{"order": 7002, "status": "placed"}'
    link = ("127.0.0.1", 40312)

    def started(x: _Exchange, source: ev.Source, headers: Headers, client: ev.Address) -> None:
        snapshot = _snapshot(x.xid, source, "http", "POST", "/api/orders", b"")
        x.events.append(
            ev.RequestStarted(
                x.xid, x.at(0), source, "http", "POST", "http", "1.1", "/api/orders",
                b"/api/orders", b"", headers, client, ("127.0.0.1", 8000),
                WALL0 + x.start / 1000, snapshot,
            )
        )  # fmt: skip
        x.events.append(ev.RequestBodyChunk(x.xid, x.at(0.02), body, len(body), False))

    started(proxy, "proxy", sent, ("127.0.0.1", 51880))
    proxy.events.append(
        ev.RequestForwarded(proxy.xid, proxy.at(0.31), link, ("127.0.0.1", 8000), 2)
    )
    started(app, "asgi", received, link)
    app_headers = ((b"content-type", b"application/json"), (b"x-request-id", b"r-7002"))
    app.events += [
        ev.ResponseStarted(app.xid, app.at(2.0), 201, app_headers, False),
        ev.ResponseBodyChunk(app.xid, app.at(2.1), answer, len(answer), False),
        ev.ExchangeFinished(app.xid, app.at(2.2), "completed", ms(0.05), ms(2.0), ms(2.2), 41_000),
    ]
    proxy_headers = (
        (b"date", b"Tue, 14 Nov 2023 22:13:23 GMT"),
        (b"server", b"uvicorn"),
        *app_headers,
        (b"transfer-encoding", b"chunked"),
    )
    proxy.events += [
        ev.ResponseStarted(proxy.xid, proxy.at(2.5), 201, proxy_headers, False, "Created"),
        ev.ResponseBodyChunk(proxy.xid, proxy.at(2.6), answer, len(answer), True),
        ev.ResponseBodyChunk(proxy.xid, proxy.at(2.9), b"", 0, False),
        ev.ExchangeFinished(proxy.xid, proxy.at(3.1), "completed", ms(0.02), ms(2.5), ms(3.1)),
    ]
    return proxy.events + app.events


def many(count: int, batch: int = 1000, prefix: str = "load") -> Iterator[list[ev.Event]]:
    """`count` small GET exchanges (four events each) in batches of `batch` exchanges."""
    headers = ((b"host", b"load.example"),)
    for first in range(0, count, batch):
        events: list[ev.Event] = []
        for n in range(first, min(first + batch, count)):
            xid = f"{prefix}-{n}"
            at = T0 + n * 1000
            events += (
                ev.RequestStarted(
                    xid,
                    at,
                    "asgi",
                    "http",
                    "GET",
                    "http",
                    "1.1",
                    f"/items/{n}",
                    None,
                    b"",
                    headers,
                    None,
                    None,
                    WALL0 + n / 1000,
                    {},
                ),
                ev.ResponseStarted(xid, at + 300, 200 if n % 7 else 404, JSON_TYPE, False),
                ev.ResponseBodyChunk(xid, at + 400, b"{}", 2, False),
                ev.ExchangeFinished(xid, at + 500, "completed", 100, 300, 500),
            )
        yield events


SCENARIOS = {"session": session}


def _snapshot(
    xid: str, source: str, kind: str, method: str, path: str, query: bytes
) -> dict[str, JSON]:
    """What capture keeps of a scope or environ (headers live on the event; an object is
    recorded as its type's name; the ASGI scope is the server's, before our key was added)."""
    if source == "wsgi":
        return {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": [1, 0],
            "wsgi.url_scheme": "http",
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input": "<Body>",
            "wsgi.errors": "<WSGIErrorsWrapper>",
            "inspector.exchange_id": xid,
        }
    if source == "proxy":
        return {"upstream": "127.0.0.1:8000", "connection": 1}
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ["127.0.0.1", 8000],
        "client": ["127.0.0.1", 51014],
        "scheme": "ws" if kind == "websocket" else "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path,
        "query_string": query.decode("latin-1"),
        "state": {"db_pool": "<Pool>"},
    }


CHAT_REPLAY = f"{PROXY}-9"


def chat_replay(xid: str = CHAT_REPLAY) -> list[ev.Event]:
    """A replay of the scenario's WebSocket chat (`{PROXY}-3`) 5 s later, whose server now
    answers one message differently and adds one."""
    original = [e for e in session() if e.exchange_id == f"{PROXY}-3"]
    later = 5_000_000_000
    events: list[ev.Event] = []
    for event in original:
        changes: dict[str, object] = {"exchange_id": xid, "at_ns": event.at_ns + later}
        if isinstance(event, ev.RequestStarted):
            changes["snapshot"] = {"replay_of": event.exchange_id}
        if isinstance(event, ev.WebSocketMessage) and event.text == "pong":
            changes.update(text="PONG", size=4)
        events.append(msgspec.structs.replace(event, **changes))
        if isinstance(event, ev.WebSocketMessage) and event.text == "pong":
            events.append(
                ev.WebSocketMessage(xid, event.at_ns + later + 1, "server", "pong again", None, 10)
            )
    return events
